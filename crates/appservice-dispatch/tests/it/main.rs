//! Integration tests of `appservice-dispatch`: data-driven over `fixtures/dispatch/`, concurrency,
//! properties and (with `fs-store`) crash recovery. Plain `#[test]`s with a futures executor: the
//! dispatcher needs no runtime.

#![allow(clippy::unwrap_used)] // Test code: a panic is the failure report.

mod concurrency;
mod fixtures;
#[cfg(feature = "fs-store")]
mod fs_store;
mod properties;

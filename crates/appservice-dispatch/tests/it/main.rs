//! Integration tests of `appservice-dispatch`: data-driven over `fixtures/dispatch/`, concurrency
//! and properties (the file store's crash tests are in `appservice-fs-store`). Plain `#[test]`s
//! with a futures executor: the dispatcher needs no runtime.

#![allow(clippy::unwrap_used)] // Test code: a panic is the failure report.

mod concurrency;
mod fixtures;
mod hook;
mod properties;
mod router;
mod unit;

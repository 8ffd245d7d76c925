//! Integration tests of `appservice-tower`: the real server on loopback, driven over HTTP.

#![allow(clippy::unwrap_used)] // Test code: a panic is the failure report.

mod compose;
mod fixtures_http;
mod flood;
mod idle;
mod limits;
mod memory;
mod shutdown;
mod support;

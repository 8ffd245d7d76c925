//! Integration tests of `appservice-client` against a loopback mock homeserver (a real HTTP
//! server on 127.0.0.1; no other network).

#![allow(clippy::unwrap_used)] // Test code: a panic is the failure report.

mod config;
mod double_puppet;
mod errors;
mod fixtures;
mod invalidation;
mod membership;
mod mock;
mod ping;
mod registration;
mod retries;
mod transport;

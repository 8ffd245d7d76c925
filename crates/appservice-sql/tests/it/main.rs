//! Integration tests of `appservice-sql` against real databases: SQLite files and a PostgreSQL
//! server started by the test itself (`appservice-test-pg`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is the failure report.

mod crash;
mod full;
mod replicas;
mod state;
mod store;
mod support;

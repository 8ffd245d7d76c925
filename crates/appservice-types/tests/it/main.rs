//! Integration tests of `appservice-types`: data-driven over `fixtures/`, plus properties.
//!
//! Set `UPDATE_EXPECT=1` to rewrite the expectations of the fixtures from what the code does
//! now (then review the diff: a fixture is a claim about the spec, not a snapshot to wave by).

#![allow(clippy::unwrap_used)] // Test code: a panic is the failure report.

mod fixtures;
mod proptests;
mod registration_fixtures;
mod transaction_fixtures;

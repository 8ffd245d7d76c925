//! Conformance vectors for Matrix application services, shared by the tests of every crate (and
//! later by `cargo xtask conformance`): loading `fixtures/dispatch/`, building the requests,
//! checking the responses, [`handler::Recorder`], a scriptable handler that records its calls,
//! and [`tiny_appservice`], a small appservice in Python with known bugs for the black-box suite.
//!
//! Not published: it is test support.
//!
//! ```
//! use appservice_conformance::cases;
//!
//! for case in cases::dispatch_cases() {
//!     let (dispatcher, recorder) = case.dispatcher();
//!     for (request, expect) in case.steps() {
//!         let response = futures::executor::block_on(dispatcher.dispatch(cases::build_request(request)));
//!         let calls = recorder.take_calls();
//!         cases::check_response(expect, response.status().as_u16(), response.headers(), response.body(), &calls)
//!             .unwrap_or_else(|e| panic!("{}: {e}", case.name));
//!     }
//! }
//! ```

// Test support: a malformed fixture or a failed call must fail the test that uses it, loudly.
#![allow(clippy::unwrap_used)]

pub mod cases;
pub mod handler;
pub mod tiny_appservice;

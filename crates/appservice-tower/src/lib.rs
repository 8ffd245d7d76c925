//! A thin `tower::Service` over `appservice-dispatch`, and a ready server on hyper-util,
//! composable into axum or any tower-based server.
//!
//! **Status:** empty; it is built in the tower adapter issue. It will use only the public API
//! of `appservice-dispatch`.

//! The transport- and runtime-agnostic dispatcher for requests from a homeserver to an
//! application service: `http::Request` in, `http::Response` out, with routing, `hs_token` auth,
//! and idempotent, ordered, at-least-once transaction handling.
//!
//! **Status:** empty; it is built in the dispatcher issue. It will take an
//! [`appservice_types::ValidatedRegistration`]-based configuration and use only runtime-agnostic
//! dependencies (no tokio, hyper, tower or sockets; checked by `cargo xtask deps`).

//! The Client-Server API extensions an application service uses (identity assertion, `ts`,
//! `m.login.application_service` registration and login, the appservice ping, the room
//! directory), over any tower transport, with a hyper-util default.
//!
//! **Status:** empty; it is built in the client issue. It will take its tokens and namespaces
//! from `appservice-types`.

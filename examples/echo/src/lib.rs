//! `echo-appservice`: the reference Matrix application service of appservice-rs.
//!
//! A small, real bridge-style appservice that exercises the whole stack against a homeserver:
//! `appservice-types` (registration), `appservice-dispatch` (the transaction protocol with the
//! persistent [`FileStore`](appservice_fs_store::FileStore)), `appservice-tower`
//! (the HTTP server, health endpoints, graceful shutdown) and `appservice-client` (registration
//! of virtual users, identity assertion, `ts`, idempotent sends, the ping).
//!
//! ```text
//! echo-appservice --registration FILE --homeserver URL [--store DIR] [--server-name NAME]
//! ```
//!
//! What it does is described on [`EchoHandler`]; how it starts on [`run`]. The names it
//! derives are in [`escape_localpart`] (virtual users), [`echo_txn_id`] (send transaction IDs)
//! and [`default_database_path`].
//!
//! A matching registration:
//!
//! ```text
//! cargo xtask registration generate --id echo --url http://127.0.0.1:8009 \
//!     --localpart _echo_bot --users '@_echo_.*' --aliases '#_echo_.*' --output echo.yaml
//! ```

mod args;
mod handler;
mod mapping;
mod run;

pub use appservice::{default_database_path, load_registration};
pub use args::Args;
pub use handler::EchoHandler;
pub use mapping::{PREFIX, echo_txn_id, escape_localpart, virtual_localpart};
pub use run::{FAIL_TRANSACTIONS_ENV, appservice, dispatcher_config, run, service_config};

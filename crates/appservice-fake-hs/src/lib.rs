//! Test support: a fake homeserver on loopback, for the tests of everything that talks to a
//! homeserver's Client-Server API (the client's fixture tests, the echo appservice's tests, the
//! conformance runner's black-box mode). Not published.
//!
//! [`FakeHomeserver`] is a real HTTP/1.1 server on 127.0.0.1 that records every request as a
//! [`Recorded`] (path as sent and decoded, decoded query, headers, body, arrival time) and
//! answers with what the caller's [`Respond`] says: a script, a small stateful homeserver,
//! whatever the test needs. [`ping_back`] and [`ping_reply`] play the homeserver's side of the
//! CS ping (`POST /_matrix/client/v1/appservice/{id}/ping`): it pings the appservice first, as
//! Synapse does, and answers with how that went.
//!
//! Homeservers differ toward appservices; a [`Profile`] (Synapse, or the Conduit family) says how
//! (authentication, transaction IDs, the body's sections, the bot user, retries),
//! and [`Delivery`] plays a homeserver's sending side with one: queued events go to the
//! appservice as transactions, retried as that homeserver retries them.
//!
//! # Example
//!
//! ```
//! use appservice_fake_hs::{FakeHomeserver, Recorded, Reply, Respond};
//! use futures_util::future::BoxFuture;
//!
//! struct Whoami;
//!
//! impl Respond for Whoami {
//!     fn respond<'a>(&'a self, request: &'a Recorded) -> BoxFuture<'a, Reply> {
//!         let reply = if request.decoded_path == "/_matrix/client/v3/account/whoami" {
//!             Reply::json(200, serde_json::json!({"user_id": "@bot:example.org"}))
//!         } else {
//!             Reply::error(404, "M_UNRECOGNIZED", "Unrecognized request")
//!         };
//!         Box::pin(async move { reply })
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let hs = FakeHomeserver::start(Whoami).await?;
//! // … point the code under test at `hs.url()` …
//! assert!(hs.recorded().is_empty());
//! # Ok::<(), std::io::Error>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod call;
mod delivery;
mod ping;
pub mod profile;
mod recorded;
mod server;
mod small;

pub use call::call;
pub use delivery::{Delivery, Sent};
pub use ping::{ping_back, ping_reply};
pub use profile::Profile;
pub use recorded::{Recorded, Reply};
pub use server::{FakeHomeserver, Respond};
pub use small::{SentMessage, SmallHomeserver};

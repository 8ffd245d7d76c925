//! A small homeserver: registers users, answers `whoami` for the bot, and pings the appservice
//! back when asked to (as Synapse does).

use std::{sync::Arc, time::Instant};

use appservice_fake_hs::{FakeHomeserver, Recorded, Reply, Respond, ping_back, ping_reply};
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use serde_json::json;

use crate::HS_TOKEN;

/// Where the homeserver reaches the appservice, once known.
#[derive(Clone, Default)]
pub(crate) struct Small {
    appservice: Arc<Mutex<Option<String>>>,
    whoami_fails: bool,
}

impl Small {
    /// Starts one whose `whoami` answers the bot (or 401, with `whoami_fails`).
    pub(crate) async fn start(whoami_fails: bool) -> (FakeHomeserver, Self) {
        let small = Self { whoami_fails, ..Self::default() };
        let server = FakeHomeserver::start(small.clone()).await.unwrap();
        (server, small)
    }

    /// Pings go back to `url`.
    pub(crate) fn appservice_at(&self, url: String) {
        *self.appservice.lock() = Some(url);
    }
}

impl Respond for Small {
    fn respond<'a>(&'a self, request: &'a Recorded) -> BoxFuture<'a, Reply> {
        Box::pin(async move {
            let path = request.decoded_path.as_str();
            if path == "/_matrix/client/v3/register" {
                return Reply::json(200, json!({"user_id": "@_facade_bot:example.org"}));
            }
            if path == "/_matrix/client/v3/account/whoami" {
                return if self.whoami_fails {
                    Reply::error(401, "M_UNKNOWN_TOKEN", "Unrecognised access token")
                } else {
                    Reply::json(200, json!({"user_id": "@_facade_bot:example.org"}))
                };
            }
            if path.starts_with("/_matrix/client/v1/appservice/") && path.ends_with("/ping") {
                let target = self.appservice.lock().clone();
                let Some(target) = target else {
                    return Reply::error(502, "M_URL_NOT_SET", "no url");
                };
                let started = Instant::now();
                return ping_reply(
                    ping_back(&target, HS_TOKEN, request.body.clone()).await,
                    started,
                );
            }
            Reply::error(404, "M_UNRECOGNIZED", "not here")
        })
    }
}

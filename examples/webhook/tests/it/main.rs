//! The webhook bridge end to end against the fake homeserver's small homeserver, under every
//! homeserver profile, over real sockets: webhook posts in, Matrix messages out, exactly once.

#![allow(clippy::unwrap_used)] // Test code: a panic is the failure report.

mod bridge;

use appservice::{Builder, types::Secret};
use appservice_fake_hs::{Profile, SmallHomeserver};
use serde_json::Value;
use tokio::{sync::oneshot, task::JoinHandle};
use webhook_bridge::Webhooks;

pub(crate) const HS_TOKEN: &str = "hs_token_of_the_webhook_tests";
pub(crate) const WEBHOOK_TOKEN: &str = "webhook_token_of_the_tests";
pub(crate) const BOT: &str = "@_webhook_bot:example.org";

/// A running bridge and its homeserver.
pub(crate) struct Running {
    pub(crate) homeserver: SmallHomeserver,
    pub(crate) url: String,
    database: appservice::sql::SqlStore,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), appservice::Error>>,
    _dir: tempfile::TempDir,
}

impl Running {
    /// Starts the bridge (SQLite in a temporary directory) against a small homeserver of
    /// `profile`.
    pub(crate) async fn start(profile: Profile) -> Self {
        let homeserver = SmallHomeserver::start(profile, BOT, HS_TOKEN).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!(
            "id: webhook\nurl: null\nas_token: as_token_of_the_webhook_tests\nhs_token: {HS_TOKEN}\n\
             sender_localpart: _webhook_bot\nnamespaces:\n  users:\n    - exclusive: true\n      \
             regex: '^@_webhook_.*:example\\.org$'\n  aliases:\n    - exclusive: true\n      \
             regex: '(?i)^#_webhook_.*:example\\.org$'\n"
        );
        let registration = appservice::types::ValidatedRegistration::parse(&yaml).unwrap();
        let database = format!("sqlite://{}", dir.path().join("webhook.db").display());
        let bridge = Builder::new(registration, homeserver.url())
            .server_name("example.org".try_into().unwrap())
            .database(database)
            .listen("127.0.0.1:0".parse().unwrap())
            .start()
            .await
            .unwrap();
        let url = format!("http://{}", bridge.local_addr().unwrap());
        let database = bridge.database().unwrap().clone();
        homeserver.appservice(url.clone());
        let webhooks = Webhooks::new(&bridge, Secret::new(WEBHOOK_TOKEN.to_owned())).await.unwrap();
        let routes = webhooks.router();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(bridge.run_with(webhooks, routes, async move {
            let _ = stopped.await;
        }));
        Self { homeserver, url, database, stop, task, _dir: dir }
    }

    /// Forgets the channel → room mapping, as a lost database would.
    pub(crate) async fn forget_channel(&self, channel: &str) {
        assert!(self.database.state().remove("webhook.channel", channel).await.unwrap());
    }

    /// Stops it gracefully.
    pub(crate) async fn stop(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }

    /// `method` `path` with the bearer `token`; the status and JSON body.
    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let (status, body) = appservice_fake_hs::call(method, &url, token, body).await.unwrap();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }
}

/// Runs `test` once per homeserver profile.
pub(crate) async fn for_each_profile<F, Fut>(test: F)
where
    F: Fn(Profile) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for profile in [Profile::Synapse, Profile::ConduitFamily] {
        test(profile).await;
    }
}

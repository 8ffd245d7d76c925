//! Row "failed transaction retry": the echo's service on a loopback socket, fed by
//! `appservice_fake_hs::Delivery` as each homeserver family delivers, with its first event
//! failing once.

use std::time::Duration;

use appservice_fake_hs::{Delivery, Profile};
use appservice_tower::{ServeConfig, serve_with};

use crate::{Echo, HS_TOKEN, echo::ROOM, for_each_profile, message, mock::Homeserver};

/// The bodies of the echoes the mock received, in order.
fn echoed(homeserver: &Homeserver) -> Vec<String> {
    homeserver
        .requests_to("/send/")
        .iter()
        .map(|s| s.json()["body"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_transaction_is_retried_as_each_family_retries() {
    for_each_profile(|profile| async move {
        let homeserver = Homeserver::start(profile).await;
        let echo = Echo::start_with(&homeserver, tempfile::tempdir().unwrap(), 1).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_with(
            listener,
            echo.app.clone(),
            async {
                let _ = stopped.await;
            },
            ServeConfig::new(),
        ));
        // One unit is a millisecond: Synapse retries after 2 ms, Conduit may after 30 ms.
        let delivery = Delivery::start(profile, &url, HS_TOKEN, Duration::from_millis(1));
        let wait = Duration::from_secs(20);
        delivery.queue(message("$m1", ROOM, "@alice:example.org", "!echo first", 1));
        assert!(delivery.wait_for(wait, |sent| !sent.is_empty()).await);
        let first_id = delivery.sent()[0].txn_id.clone();
        assert_eq!(delivery.sent()[0].status, Some(500));
        match profile {
            Profile::Synapse => {
                // The timer retries it, no new event needed.
                assert!(delivery.wait_idle(wait).await, "{:?}", delivery.sent());
                assert_eq!(echoed(&homeserver), ["first"]);
            }
            Profile::ConduitFamily => {
                // Long past the backoff, nothing is retried until the next event arrives.
                tokio::time::sleep(Duration::from_millis(200)).await;
                assert_eq!(delivery.sent().len(), 1, "{:?}", delivery.sent());
                assert!(echoed(&homeserver).is_empty());
            }
        }
        delivery.queue(message("$m2", ROOM, "@alice:example.org", "!echo second", 2));
        assert!(delivery.wait_idle(wait).await, "{:?}", delivery.sent());
        let attempts: Vec<_> = delivery
            .sent()
            .into_iter()
            .map(|s| (s.txn_id, s.attempt, s.event_ids, s.status))
            .collect();
        let second_id = profile.txn_id(2, &["$m2"]);
        assert_eq!(
            attempts,
            [
                (first_id.clone(), 1, vec!["$m1".to_owned()], Some(500)),
                (first_id, 2, vec!["$m1".to_owned()], Some(200)),
                (second_id, 1, vec!["$m2".to_owned()], Some(200)),
            ]
        );
        // Both echoed exactly once, in order.
        assert_eq!(echoed(&homeserver), ["first", "second"]);
        // Every attempt carried the profile's authentication.
        let uri = &delivery.sent()[0].uri;
        assert_eq!(uri.contains("access_token="), profile.token_in_query(), "{uri}");
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    })
    .await;
}

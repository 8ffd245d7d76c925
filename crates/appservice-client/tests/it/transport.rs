//! The default transport: builds a TLS connector for `https://` without any network, and really
//! speaks TLS to `https://` URLs.

use appservice_client::{Client, ClientError, HyperTransport, RetryPolicy, Secret};
use ruma_common::{owned_server_name, owned_user_id};

use crate::mock::MockHomeserver;

#[test]
fn https_client_builds_without_network() {
    HyperTransport::new().unwrap();
    let client = Client::with_hyper(
        "https://matrix.example.org",
        Secret::from("t"),
        owned_server_name!("example.org"),
    )
    .unwrap();
    assert_eq!(client.homeserver(), "https://matrix.example.org");
}

#[tokio::test]
async fn https_really_uses_tls() {
    // The mock speaks plain HTTP: a TLS client must fail the handshake, not send a request.
    let server = MockHomeserver::start(vec![]).await;
    let client = Client::with_hyper(
        &format!("https://{}", server.addr()),
        Secret::from("t"),
        owned_server_name!("example.org"),
    )
    .unwrap()
    .with_auto_register(false)
    .with_retry_policy(RetryPolicy::none());
    let err = client.intent(owned_user_id!("@_irc_a:example.org")).whoami().await.unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
    assert!(server.recorded().is_empty());
}

#[tokio::test]
async fn tower_middleware_wraps_the_transport() {
    // A homeserver that answers too slowly for a 50 ms timeout layer.
    let server = MockHomeserver::start(vec![]).await;
    server.delay(std::time::Duration::from_millis(500));
    let transport = tower::ServiceBuilder::new()
        .timeout(std::time::Duration::from_millis(50))
        .service(HyperTransport::new().unwrap());
    let client =
        Client::new(&server.url(), Secret::from("t"), owned_server_name!("example.org"), transport)
            .unwrap()
            .with_auto_register(false)
            .with_retry_policy(RetryPolicy::none());
    let err = client.intent(owned_user_id!("@_irc_a:example.org")).whoami().await.unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
}

#[tokio::test]
async fn the_default_transport_times_out() {
    let server = MockHomeserver::start(vec![]).await;
    server.delay(std::time::Duration::from_millis(500));
    let transport = HyperTransport::new()
        .unwrap()
        .with_request_timeout(Some(std::time::Duration::from_millis(50)));
    let client =
        Client::new(&server.url(), Secret::from("t"), owned_server_name!("example.org"), transport)
            .unwrap()
            .with_auto_register(false)
            .with_retry_policy(RetryPolicy::none());
    let err = client.intent(owned_user_id!("@_irc_a:example.org")).whoami().await.unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
    assert!(err.to_string().contains("timed out after 50ms"), "{err}");
}

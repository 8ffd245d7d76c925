//! Building a client from a validated registration.

use appservice_client::{Client, ValidatedRegistration};
use ruma_common::{owned_server_name, owned_user_id};
use serde_json::json;

use crate::mock::{MockHomeserver, Scripted};

#[tokio::test]
async fn from_registration_takes_token_id_and_bot() {
    let registration = ValidatedRegistration::parse(&format!(
        r#"
id: irc
url: "http://127.0.0.1:9000"
as_token: "{}"
hs_token: "Pq2bV9nM4xC7zL1kJ6hG3fD8sA5wE0rT2yU9iO4pQ7mN1bV"
sender_localpart: _irc_bot
rate_limited: false
namespaces:
  users: [{{ exclusive: true, regex: '^@_irc_.*:example\.org$' }}]
"#,
        crate::mock::AS_TOKEN
    ))
    .unwrap();
    let server = MockHomeserver::start(vec![Scripted::json(200, json!({"duration_ms": 1}))]).await;
    let transport = appservice_client::HyperTransport::new().unwrap();
    let client = Client::from_registration(
        &registration,
        &server.url(),
        owned_server_name!("example.org"),
        transport,
    )
    .unwrap();
    assert_eq!(client.bot_user_id(), Some(owned_user_id!("@_irc_bot:example.org").as_ref()));
    assert!(client.is_registered(&owned_user_id!("@_irc_bot:example.org")).await);
    client.ping(None).await.unwrap();
    let r = &server.recorded()[0];
    assert_eq!(r.path, "/_matrix/client/v1/appservice/irc/ping");
    assert_eq!(r.headers["authorization"], format!("Bearer {}", crate::mock::AS_TOKEN));
}

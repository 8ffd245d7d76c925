//! Errors are typed (errcode, error, status, retry hint) and never contain the token (checklist
//! [CS-ID-2](https://spec.matrix.org/v1.19/application-service-api/#identity-assertion); `Secret`'s invariant carried through the client).

use appservice_client::{Client, ClientError, ErrorCode, Secret};
use ruma_common::{owned_server_name, owned_user_id};
use serde_json::json;

use crate::mock::{AS_TOKEN, MockHomeserver, Scripted, Sleeps};

fn assert_no_token(text: &str) {
    assert!(!text.contains(AS_TOKEN), "token leaked: {text}");
}

#[tokio::test]
async fn token_never_in_errors_or_debug() {
    let server = MockHomeserver::start(vec![
        Scripted::json(401, json!({"errcode": "M_UNKNOWN_TOKEN", "error": "Invalid access token passed.", "soft_logout": false})),
        Scripted::new(500, "oops"),
        Scripted::json(200, json!({"unexpected": true})),
    ])
    .await;
    let sleeps = Sleeps::default();
    let client = server.client(&sleeps);
    assert_no_token(&format!("{client:?} {client:#?}"));
    let alice = client.intent(owned_user_id!("@_irc_alice:example.org"));
    assert_no_token(&format!("{alice:?}"));

    let err = alice.whoami().await.unwrap_err();
    assert!(err.is(&ErrorCode::UNKNOWN_TOKEN));
    assert_eq!(err.status().unwrap().as_u16(), 401);
    let ClientError::Matrix { error, extra, .. } = &err else { panic!("{err:?}") };
    assert_eq!(error, "Invalid access token passed.");
    assert_eq!(extra["soft_logout"], json!(false));
    assert_no_token(&format!("{err} {err:?}"));

    let err = alice.whoami().await.unwrap_err();
    assert!(matches!(&err, ClientError::Http { status, .. } if status.as_u16() == 500), "{err:?}");
    assert_no_token(&format!("{err} {err:?}"));

    let err = alice.whoami().await.unwrap_err();
    assert!(matches!(err, ClientError::Deserialize(_)), "{err:?}");
    assert_no_token(&format!("{err} {err:?}"));
}

#[tokio::test]
async fn transport_errors_do_not_show_the_token() {
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let client = Client::with_hyper(
        &format!("http://{addr}"),
        Secret::from(AS_TOKEN),
        owned_server_name!("example.org"),
    )
    .unwrap()
    .with_auto_register(false)
    .with_retry_policy(appservice_client::RetryPolicy::none());
    let err = client.intent(owned_user_id!("@_irc_alice:example.org")).whoami().await.unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)));
    assert_no_token(&format!("{err} {err:?} {:?}", std::error::Error::source(&err)));
    // The message names the cause, not only hyper's "client error (Connect)".
    let message = err.to_string().to_lowercase();
    assert!(message.contains("connection refused"), "{message}");
    assert!(err.is_transient(), "a refused connection is worth retrying later");
}

/// Which failures are worth retrying later (the homeserver or the network may recover) and
/// which will fail the same way again (a transaction failed on them would block forever).
#[test]
fn transient_and_permanent_errors() {
    use appservice_client::ErrorCode;
    use http::StatusCode;
    let matrix = |status: u16, errcode: ErrorCode| ClientError::Matrix {
        status: StatusCode::from_u16(status).unwrap(),
        errcode,
        error: String::new(),
        retry_after: None,
        extra: Box::default(),
    };
    let http = |status: u16| ClientError::Http {
        status: StatusCode::from_u16(status).unwrap(),
        body: "<html>".to_owned(),
    };
    for transient in [
        matrix(429, ErrorCode::LIMIT_EXCEEDED),
        matrix(500, ErrorCode::UNKNOWN),
        matrix(503, ErrorCode::UNKNOWN),
        http(502),
        http(504),
        http(429),
        http(408),
        // Fixed by the operator, and every event fails alike meanwhile: keep them.
        matrix(401, ErrorCode::UNKNOWN_TOKEN),
    ] {
        assert!(transient.is_transient(), "{transient}");
    }
    for permanent in [
        matrix(403, ErrorCode::FORBIDDEN),
        matrix(400, ErrorCode::ROOM_IN_USE),
        matrix(400, ErrorCode::EXCLUSIVE),
        matrix(404, ErrorCode::NOT_FOUND),
        matrix(400, ErrorCode::APPSERVICE_LOGIN_UNSUPPORTED),
        http(404),
        http(501),
    ] {
        assert!(!permanent.is_transient(), "{permanent}");
    }
}

#[test]
fn both_spellings_of_appservice_login_unsupported() {
    use appservice_client::ErrorCode;
    for code in
        [ErrorCode::APPSERVICE_LOGIN_UNSUPPORTED, ErrorCode::MSC4190_APPSERVICE_LOGIN_UNSUPPORTED]
    {
        assert!(code.is_appservice_login_unsupported(), "{}", code.as_str());
    }
    assert_eq!(
        ErrorCode::MSC4190_APPSERVICE_LOGIN_UNSUPPORTED.as_str(),
        "IO.ELEMENT.MSC4190.M_APPSERVICE_LOGIN_UNSUPPORTED"
    );
    assert_eq!(ErrorCode::ROOM_IN_USE.as_str(), "M_ROOM_IN_USE");
    assert!(!ErrorCode::FORBIDDEN.is_appservice_login_unsupported());
}

#[test]
fn bad_homeserver_urls_are_refused() {
    for url in ["ftp://hs", "not a url", "http://hs/?x=1", "unix:/tmp/sock"] {
        let r = Client::new(url, Secret::from("t"), owned_server_name!("example.org"), ());
        assert!(
            matches!(&r, Err(ClientError::InvalidArgument(a))
                if a.kind() == appservice_client::InvalidArgumentKind::HomeserverUrl),
            "{url}"
        );
    }
    let c = Client::new(
        "https://hs.example/base/",
        Secret::from("t"),
        owned_server_name!("example.org"),
        (),
    )
    .unwrap();
    assert_eq!(c.homeserver(), "https://hs.example/base");
}

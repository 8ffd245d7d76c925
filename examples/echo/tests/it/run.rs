//! `run`: start-up checks, and a whole run over a real loopback socket.

use std::time::Duration;

use appservice_client::HyperTransport;
use bytes::Bytes;
use echo_appservice::{Args, run};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use appservice_fake_hs::Profile;

use crate::{
    BOT, HS_TOKEN, for_each_profile, invite, message, mock::Homeserver, registration_yaml,
};

fn write_registration(dir: &std::path::Path, contents: &str) -> std::path::PathBuf {
    let path = dir.join("echo.yaml");
    std::fs::write(&path, contents).unwrap();
    path
}

#[tokio::test]
async fn run_refuses_a_registration_with_errors() {
    let homeserver = Homeserver::start(Profile::Synapse).await;
    let dir = tempfile::tempdir().unwrap();
    let valid = registration_yaml("http://127.0.0.1:8009");
    let yaml = valid.replace(r"'^@_echo_.*:example\.org$'", "'^@_echo_('");
    assert_ne!(yaml, valid, "the users regex is broken on purpose");
    let path = write_registration(dir.path(), &yaml);
    let args = Args::new(&path, homeserver.url()).server_name("example.org");
    // Bounded: were the registration accepted, `run` would serve until stopped.
    let error = tokio::time::timeout(Duration::from_secs(30), run(args, std::future::pending()))
        .await
        .expect("run refuses at once")
        .unwrap_err();
    let message = format!("{error:#}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("invalid registration"), "{message}");
    assert!(message.contains("namespaces.users[0].regex"), "{message}");
    assert!(homeserver.recorded().is_empty());

    let missing = dir.path().join("missing.yaml");
    let error =
        run(Args::new(&missing, homeserver.url()), std::future::pending()).await.unwrap_err();
    assert!(format!("{error:#}").contains("cannot read the registration"), "{error:#}");
}

#[tokio::test]
async fn run_without_a_server_name_says_how_to_fix_it() {
    let homeserver = Homeserver::start(Profile::Synapse).await;
    homeserver
        .whoami(401, json!({"errcode": "M_UNKNOWN_TOKEN", "error": "Unrecognised access token"}));
    let dir = tempfile::tempdir().unwrap();
    let path = write_registration(dir.path(), &registration_yaml("http://127.0.0.1:8009"));
    let error = run(Args::new(&path, homeserver.url()), std::future::pending()).await.unwrap_err();
    let message = format!("{error:#}");
    assert!(message.contains("cannot find the server name"), "{message}");
    assert!(message.contains("--server-name"), "{message}");
    assert!(message.contains("M_UNKNOWN_TOKEN"), "{message}");
    assert!(!message.contains(crate::AS_TOKEN), "no token in errors");
}

/// Sends `request` over the socket; the status and JSON body.
async fn call(request: http::Request<Bytes>) -> (u16, Value) {
    let response = HyperTransport::new().unwrap().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// The `n`-th transaction of `events` to the appservice at `url`, as `profile` sends it.
fn transaction(profile: Profile, url: &str, n: u64, events: &[Value]) -> http::Request<Bytes> {
    let ids: Vec<&str> = events.iter().map(|e| e["event_id"].as_str().unwrap()).collect();
    let uri = format!("{url}/_matrix/app/v1/transactions/{}", profile.txn_id(n, &ids));
    profile
        .authorize(http::Request::builder().method("PUT"), &uri, HS_TOKEN)
        .body(Bytes::from(json!({"events": events}).to_string()))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_pings_serves_and_shuts_down() {
    for_each_profile(run_pings_serves_and_shuts_down_under).await;
}

async fn run_pings_serves_and_shuts_down_under(profile: Profile) {
    let homeserver = Homeserver::start(profile).await;
    // A free port for the appservice.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    homeserver.appservice(url.clone());
    let dir = tempfile::tempdir().unwrap();
    let path = write_registration(dir.path(), &registration_yaml(&url));

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(run(Args::new(&path, homeserver.url()), async {
        let _ = stopped.await;
    }));

    // The start-up ping: the homeserver pinged us back and we answered 200.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while homeserver.pinged_back().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no ping: {:?}", homeserver.recorded());
        assert!(!running.is_finished(), "run ended early");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(homeserver.pinged_back(), [200]);
    // The server name came from whoami; the SQLite database is next to the registration.
    assert_eq!(homeserver.requests_to("/account/whoami").len(), 1);
    assert!(dir.path().join("echo.db").is_file());
    // The bot was registered at start-up (the Conduit family does not create it), as an
    // appservice user, without a login.
    let registrations = homeserver.requests_to("/register");
    let bot: Vec<_> =
        registrations.iter().map(|r| r.json()).filter(|b| b["username"] == "_echo_bot").collect();
    assert_eq!(bot.len(), 1, "{registrations:?}");
    assert_eq!(bot[0]["type"], "m.login.application_service");
    assert_eq!(bot[0]["inhibit_login"], true);

    let live = http::Request::get(format!("{url}/_matrix/mau/live")).body(Bytes::new()).unwrap();
    assert_eq!(call(live).await.0, 200);

    // Invited, the bot joins: on the Conduit family only because it was registered first.
    let invited = [invite("$invite", "!room", "@alice:example.org", BOT)];
    assert_eq!(call(transaction(profile, &url, 1, &invited)).await, (200, json!({})));
    let recorded = homeserver.recorded();
    let seen: Vec<String> = recorded.iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert!(homeserver.joined("!room", BOT), "the bot's join failed; requests: {seen:#?}");
    let first_registration = recorded
        .iter()
        .position(|r| r.path.ends_with("/register") && r.json()["username"] == "_echo_bot");
    let first_act =
        recorded.iter().position(|r| r.path.ends_with("/join") || r.path.ends_with("/createRoom"));
    assert!(first_registration < first_act, "the bot acted before its registration: {seen:#?}");

    let event = message("$live", "!room", "@alice:example.org", "!echo over the wire", 5);
    let request = transaction(profile, &url, 2, &[event]);
    assert_eq!(
        request.uri().query().is_some_and(|q| q.contains("access_token=")),
        profile.token_in_query()
    );
    assert_eq!(call(request).await, (200, json!({})));
    let sends = homeserver.requests_to("/send/");
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].json(), json!({"msgtype": "m.notice", "body": "over the wire"}));

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running).await.unwrap().unwrap().unwrap();
}

/// The test registration is what `registration generate --prefix` writes: no warning on any
/// homeserver profile.
#[test]
fn the_test_registration_is_clean_on_every_homeserver_profile() {
    let registration =
        appservice_types::ValidatedRegistration::parse(&crate::registration_yaml("http://h:1"))
            .unwrap();
    assert_eq!(registration.warnings(), &[] as &[appservice_types::Diagnostic]);
}

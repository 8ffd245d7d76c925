//! Start-up errors name what failed and how to fix it, and never show a token.

use appservice::{ErrorKind, prelude::*};

use crate::{AS_TOKEN, HS_TOKEN, registration_yaml};

fn registration(url: &str) -> ValidatedRegistration {
    ValidatedRegistration::parse(&registration_yaml(url)).unwrap()
}

fn assert_no_token(message: &str) {
    assert!(!message.contains(AS_TOKEN) && !message.contains(HS_TOKEN), "{message}");
}

#[tokio::test]
async fn no_url_and_no_listen_address_is_a_listen_error() {
    let homeserver = crate::homeserver(false).await;
    let error = Builder::new(registration("null"), homeserver.url())
        .server_name("example.org".try_into().unwrap())
        .memory_store()
        .start()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Listen);
    assert!(error.to_string().contains("url: null"), "{error}");
}

#[tokio::test]
async fn no_store_without_a_registration_file_is_a_store_error() {
    let homeserver = crate::homeserver(false).await;
    let error = Builder::new(registration("http://127.0.0.1:1"), homeserver.url())
        .server_name("example.org".try_into().unwrap())
        .start()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Store);
    assert!(error.to_string().contains("memory_store"), "{error}");
}

#[tokio::test]
async fn a_bad_database_url_is_a_store_error_without_the_password() {
    let homeserver = crate::homeserver(false).await;
    let error = Builder::new(registration("http://127.0.0.1:1"), homeserver.url())
        .server_name("example.org".try_into().unwrap())
        .database("mysql://user:hunter2@localhost/db")
        .start()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Store);
    assert!(error.to_string().contains("unsupported scheme"), "{error}");
    assert!(!error.to_string().contains("hunter2"), "{error}");
}

#[tokio::test]
async fn a_failed_whoami_is_a_server_name_error_that_says_what_to_do() {
    let homeserver = crate::homeserver(true).await;
    let error = Builder::new(registration("http://127.0.0.1:1"), homeserver.url())
        .memory_store()
        .start()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ServerName);
    let message = error.to_string();
    assert!(message.contains("give the server name explicitly"), "{message}");
    assert!(message.contains("M_UNKNOWN_TOKEN"), "{message}");
    assert_no_token(&message);
}

#[tokio::test]
async fn an_invalid_registration_file_is_a_registration_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reg.yaml");
    let broken = registration_yaml("null").replace("_facade_.*", "_facade_(");
    std::fs::write(&path, broken).unwrap();
    let error = Builder::from_file(&path, "http://127.0.0.1:1").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Registration);
    let message = error.to_string();
    assert!(message.contains("namespaces.users[0].regex"), "{message}");
    assert_no_token(&message);
}

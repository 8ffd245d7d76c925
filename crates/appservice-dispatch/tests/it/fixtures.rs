//! `fixtures/dispatch/*.json`: sequences of requests with the expected responses and handler
//! calls, against the test registration (`support::registration`). Adding a case needs no Rust.
//!
//! A step's request: `method`, `path`, optional `query`, `headers` (default: the Bearer token),
//! and `body` (JSON) or `body_text`; `{hs_token}` anywhere is replaced by the token. Its `expect`:
//! `status`, optional `errcode` (the body must then be a spec error), `body` (exact), `headers`
//! (subset) and `calls` (exactly the handler calls this step made).

use std::path::{Path, PathBuf};

use appservice_dispatch::{Config, Dispatcher, MemoryStore, RoomConcurrency};
use serde_json::{Value, json};

use crate::support::{HS_TOKEN, Recorder, Script, registration};

fn list() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/dispatch");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    out.sort();
    assert!(out.len() >= 20, "only {} dispatch fixtures", out.len());
    out
}

fn subst(s: &str) -> String {
    s.replace("{hs_token}", HS_TOKEN)
}

fn build_request(r: &Value) -> http::Request<bytes::Bytes> {
    let path = subst(r["path"].as_str().unwrap());
    let uri = match r["query"].as_str() {
        Some(q) => format!("{path}?{}", subst(q)),
        None => path,
    };
    let mut builder = http::Request::builder().method(r["method"].as_str().unwrap()).uri(uri);
    match r["headers"].as_object() {
        Some(headers) => {
            for (k, v) in headers {
                builder = builder.header(k.as_str(), subst(v.as_str().unwrap()));
            }
        }
        None => builder = builder.header("authorization", format!("Bearer {HS_TOKEN}")),
    }
    let body = match (&r["body"], &r["body_text"]) {
        (Value::Null, Value::String(t)) => t.clone().into_bytes(),
        (Value::Null, Value::Null) => Vec::new(),
        (b, Value::Null) => serde_json::to_vec(b).unwrap(),
        _ => panic!("both body and body_text"),
    };
    builder.body(bytes::Bytes::from(body)).unwrap()
}

#[test]
fn dispatch_fixtures() {
    for path in list() {
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let fixture: Value = serde_json::from_str(&text).unwrap();
        let mut canonical = serde_json::to_string_pretty(&fixture).unwrap();
        canonical.push('\n');
        assert_eq!(text, canonical, "{name}: not canonical JSON (sorted keys, 2-space indent)");
        for key in ["id", "spec", "description"] {
            assert!(fixture[key].is_string(), "{name}: missing {key}");
        }
        assert!(
            name.starts_with(fixture["id"].as_str().unwrap()),
            "{name}: id must be the file stem"
        );
        assert!(
            fixture["checklist"].as_array().is_some_and(|a| !a.is_empty()),
            "{name}: checklist"
        );

        let c = &fixture["config"];
        let mut config = Config::new();
        if let Some(b) = c["legacy_routes"].as_bool() {
            config = config.legacy_routes(b);
        }
        if let Some(n) = c["max_body_bytes"].as_u64() {
            config = config.max_body_bytes(usize::try_from(n).unwrap());
        }
        if c["room_concurrency"] == "per_room" {
            config = config.room_concurrency(RoomConcurrency::PerRoom);
        }
        let url = c["registration_url"].as_str().unwrap_or("http://127.0.0.1:9000");
        let handler = Recorder::new(Script::from_json(&fixture["handler"]));
        let dispatcher =
            Dispatcher::with_store(registration(url), handler.clone(), MemoryStore::new(), config);

        for (i, step) in fixture["steps"].as_array().unwrap().iter().enumerate() {
            let at = format!("{name} step {i}");
            let response =
                futures::executor::block_on(dispatcher.dispatch(build_request(&step["request"])));
            let expect = &step["expect"];
            assert_eq!(
                u64::from(response.status().as_u16()),
                expect["status"].as_u64().unwrap(),
                "{at}: status"
            );
            assert_eq!(
                response.headers().get("content-type").map(|v| v.to_str().unwrap()),
                Some("application/json"),
                "{at}: every response is JSON"
            );
            let body: Value = serde_json::from_slice(response.body())
                .unwrap_or_else(|e| panic!("{at}: body is not JSON ({e}): {:?}", response.body()));
            if response.status().is_client_error() || response.status().is_server_error() {
                assert!(
                    body["errcode"].is_string() && body["error"].is_string(),
                    "{at}: spec error body: {body}"
                );
            }
            if let Some(errcode) = expect["errcode"].as_str() {
                assert_eq!(body["errcode"], errcode, "{at}: errcode ({body})");
            }
            if !expect["body"].is_null() {
                assert_eq!(body, expect["body"], "{at}: body");
            }
            if let Some(headers) = expect["headers"].as_object() {
                for (k, v) in headers {
                    assert_eq!(
                        response.headers().get(k.as_str()).map(|h| h.to_str().unwrap()),
                        v.as_str(),
                        "{at}: header {k}"
                    );
                }
            }
            let calls = handler.take_calls();
            if let Some(expected) = expect["calls"].as_array() {
                assert_eq!(json!(calls), json!(expected), "{at}: handler calls");
            }
        }
    }
}

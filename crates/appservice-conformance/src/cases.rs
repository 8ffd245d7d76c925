//! `fixtures/dispatch/*.json`: sequences of requests with the expected responses and handler
//! calls. See `docs/testing.md` for the format.
//!
//! A step's request: `method`, `path`, optional `query`, `headers` (default: the Bearer token),
//! and `body` (JSON) or `body_text`; `{hs_token}` anywhere is replaced by the token. Its
//! `expect`: `status`, optional `errcode` (the body must then be a spec error), `body` (exact),
//! `headers` (subset) and `calls` (exactly the handler calls the step made).

use std::path::{Path, PathBuf};

use appservice_dispatch::{DispatchConfig, Dispatcher, MemoryStore, RoomConcurrency};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::handler::{HS_TOKEN, Recorder, Script, registration};

/// The workspace's `fixtures/` directory.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// One fixture file of `fixtures/dispatch/`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Case {
    /// The file name.
    pub name: String,
    /// The whole fixture.
    pub fixture: Value,
}

impl Case {
    /// The dispatcher configuration the case asks for.
    pub fn config(&self) -> DispatchConfig {
        let c = &self.fixture["config"];
        let mut config = DispatchConfig::new();
        if let Some(b) = c["legacy_routes"].as_bool() {
            config = config.legacy_routes(b);
        }
        if let Some(n) = c["max_body_bytes"].as_u64().and_then(|n| usize::try_from(n).ok()) {
            config = config.max_body_bytes(n);
        }
        if let Some(n) = c["max_events"].as_u64().and_then(|n| usize::try_from(n).ok()) {
            config = config.max_events(n);
        }
        if c["room_concurrency"] == "per_room" {
            config = config.room_concurrency(RoomConcurrency::PerRoom);
        }
        config
    }

    /// The registration `url` the case asks for.
    pub fn registration_url(&self) -> &str {
        self.fixture["config"]["registration_url"].as_str().unwrap_or("http://127.0.0.1:9000")
    }

    /// The handler script.
    pub fn script(&self) -> Script {
        Script::from_json(&self.fixture["handler"])
    }

    /// A fresh dispatcher for the case (its registration, script and configuration, a
    /// `MemoryStore`), and the recorder that is its handler.
    pub fn dispatcher(&self) -> (Dispatcher<Recorder, MemoryStore>, Recorder) {
        let recorder = Recorder::new(self.script());
        let dispatcher = Dispatcher::with_store(
            registration(self.registration_url()),
            recorder.clone(),
            MemoryStore::new(),
            self.config(),
        );
        (dispatcher, recorder)
    }

    /// The steps: `(request, expect)`.
    pub fn steps(&self) -> Vec<(&Value, &Value)> {
        self.fixture["steps"]
            .as_array()
            .map(|steps| steps.iter().map(|s| (&s["request"], &s["expect"])).collect())
            .unwrap_or_default()
    }
}

/// Loads every case, checking its metadata and canonical form.
///
/// # Panics
///
/// On a missing directory or a malformed fixture: the tests should fail loudly.
pub fn dispatch_cases() -> Vec<Case> {
    let dir = fixtures_dir().join("dispatch");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 20, "only {} dispatch fixtures", paths.len());
    paths
        .into_iter()
        .map(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            let fixture: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut canonical = serde_json::to_string_pretty(&fixture).unwrap_or_default();
            canonical.push('\n');
            assert_eq!(text, canonical, "{name}: not canonical JSON (sorted keys, 2-space indent)");
            for key in ["id", "spec", "description"] {
                assert!(fixture[key].is_string(), "{name}: missing {key}");
            }
            assert!(
                name.starts_with(fixture["id"].as_str().unwrap_or("?")),
                "{name}: id must be the file stem"
            );
            assert!(
                fixture["checklist"].as_array().is_some_and(|a| !a.is_empty()),
                "{name}: checklist"
            );
            Case { name, fixture }
        })
        .collect()
}

fn subst(s: &str) -> String {
    s.replace("{hs_token}", HS_TOKEN)
}

/// Builds a step's request (path and query as given, so the transport sees the raw encoding).
///
/// # Panics
///
/// On a malformed request description.
pub fn build_request(r: &Value) -> http::Request<Bytes> {
    let path = subst(r["path"].as_str().unwrap_or("/"));
    let uri = match r["query"].as_str() {
        Some(q) => format!("{path}?{}", subst(q)),
        None => path,
    };
    let mut builder =
        http::Request::builder().method(r["method"].as_str().unwrap_or("GET")).uri(uri);
    match r["headers"].as_object() {
        Some(headers) => {
            for (k, v) in headers {
                builder = builder.header(k.as_str(), subst(v.as_str().unwrap_or_default()));
            }
        }
        None => builder = builder.header("authorization", format!("Bearer {HS_TOKEN}")),
    }
    let body = match (&r["body"], &r["body_text"]) {
        (Value::Null, Value::String(t)) => t.clone().into_bytes(),
        (Value::Null, Value::Null) => Vec::new(),
        (b, Value::Null) => serde_json::to_vec(b).unwrap_or_default(),
        _ => panic!("a request has both body and body_text"),
    };
    builder.body(Bytes::from(body)).unwrap_or_else(|e| panic!("bad request in fixture: {e}"))
}

/// Checks one response against a step's `expect`; `Err` says what differs.
pub fn check_response(
    expect: &Value,
    status: u16,
    headers: &http::HeaderMap,
    body: &[u8],
    calls: &[Value],
) -> Result<(), String> {
    if Some(u64::from(status)) != expect["status"].as_u64() {
        return Err(format!("status {status}, expected {}", expect["status"]));
    }
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/json") {
        return Err("Content-Type is not application/json".to_owned());
    }
    let json: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON ({e})"))?;
    if status >= 400 && !(json["errcode"].is_string() && json["error"].is_string()) {
        return Err(format!("not a spec error body: {json}"));
    }
    if let Some(errcode) = expect["errcode"].as_str()
        && json["errcode"] != errcode
    {
        return Err(format!("errcode {}, expected {errcode}", json["errcode"]));
    }
    if !expect["body"].is_null() && json != expect["body"] {
        return Err(format!("body {json}, expected {}", expect["body"]));
    }
    if let Some(expected) = expect["headers"].as_object() {
        for (k, v) in expected {
            let got = headers.get(k.as_str()).and_then(|h| h.to_str().ok());
            if got != v.as_str() {
                return Err(format!("header {k}: {got:?}, expected {v}"));
            }
        }
    }
    if let Some(expected) = expect["calls"].as_array()
        && json!(calls) != json!(expected)
    {
        return Err(format!("handler calls {}, expected {}", json!(calls), json!(expected)));
    }
    Ok(())
}

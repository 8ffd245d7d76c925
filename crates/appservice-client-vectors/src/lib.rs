//! The client vectors: every `fixtures/client/*.json` is one call of `appservice-client` against
//! a scripted fake homeserver ([`mock::MockHomeserver`]), with the scripted `responses`, the
//! `expect_requests` the client must make (method, path as sent, decoded query — and, where
//! given, the `raw_query` — a subset of the headers, the body), the `expect_outcome` of the call
//! and, for retry scripts, the `expect_sleeps_ms` it waited.
//!
//! Every request of every vector is also checked for the invariants: `Authorization: Bearer
//! <as_token>`, and no `access_token` in the query (checklist [CS-ID-2](https://spec.matrix.org/v1.19/application-service-api/#identity-assertion), IN-6).
//!
//! One implementation for two users: the client's tests (`tests/it/fixtures.rs`) and the
//! conformance runner's report (`cargo xtask conformance`).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let vectors = appservice_client_vectors::load(&appservice_client_vectors::fixtures_dir())?;
//! let typing = vectors.iter().find(|v| v.id == "ok-typing").ok_or("no ok-typing")?;
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! runtime.block_on(appservice_client_vectors::run(typing))?;
//! # Ok(())
//! # }
//! ```

mod calls;
mod check;
pub mod mock;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::mock::{MockHomeserver, Sleeps};

/// One client vector: a file of `fixtures/client/`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Vector {
    /// The file stem, `ok-…` or `err-…`.
    pub id: String,
    /// The checklist items it covers.
    pub checklist: Vec<String>,
    /// What it checks.
    pub description: String,
    /// The whole file.
    pub value: Value,
}

/// The repository's `fixtures/client/`.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/client")
}

/// Reads every `*.json` of `dir`, sorted by name, each checked for canonical JSON (sorted keys,
/// two spaces, final newline) and its metadata (`id` = file stem, `ok-`/`err-` matching the
/// outcome, checklist IDs, `spec`, `description`).
pub fn load(dir: &Path) -> Result<Vec<Vector>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if path.extension().is_some_and(|e| e == "json") {
            paths.push(path);
        }
    }
    paths.sort();
    if paths.is_empty() {
        return Err(format!("no {}/*.json: nothing would be tested", dir.display()));
    }
    paths.iter().map(|p| read_vector(p)).collect()
}

fn read_vector(path: &Path) -> Result<Vector, String> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_owned();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| format!("{name}: {e}"))?;
    let mut canonical = serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?;
    canonical.push('\n');
    if text != canonical {
        return Err(format!("{name}: not canonical JSON (sorted keys, 2 spaces, final newline)"));
    }
    check::metadata(&name, &value)?;
    let strings = |key: &str| -> Vec<String> {
        value[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    };
    Ok(Vector {
        id: value["id"].as_str().unwrap_or_default().to_owned(),
        checklist: strings("checklist"),
        description: value["description"].as_str().unwrap_or_default().to_owned(),
        value,
    })
}

/// Runs `vector` against a fresh scripted homeserver: `Ok` if the client made exactly the
/// expected requests, ended with the expected outcome and waited as expected; else what
/// differed.
pub async fn run(vector: &Vector) -> Result<(), String> {
    let fixture = &vector.value;
    let name = &vector.id;
    let script = fixture["responses"]
        .as_array()
        .ok_or_else(|| format!("{name}: `responses` is missing"))?
        .iter()
        .map(mock::scripted_from_fixture)
        .collect::<Result<Vec<_>, String>>()
        .map_err(|e| format!("{name}: {e}"))?;
    let server = MockHomeserver::try_start(script)
        .await
        .map_err(|e| format!("{name}: cannot start the mock homeserver: {e}"))?;
    let sleeps = Sleeps::default();
    let auto_register = fixture["client"]["auto_register"].as_bool().unwrap_or(false);
    let client = server.client(&sleeps).with_auto_register(auto_register);

    let outcome =
        calls::call(&client, &fixture["call"]).await.map_err(|e| format!("{name}: {e}"))?;
    check::equal(&format!("{name}: outcome"), &outcome, &fixture["expect_outcome"])?;

    let recorded = server.recorded();
    let expected = fixture["expect_requests"]
        .as_array()
        .ok_or_else(|| format!("{name}: `expect_requests` is missing"))?;
    if recorded.len() != expected.len() {
        let got: Vec<String> =
            recorded.iter().map(|r| format!("{} {}", r.method, r.path)).collect();
        return Err(format!(
            "{name}: {} requests expected, {} made: {got:?}",
            expected.len(),
            recorded.len()
        ));
    }
    for (i, (got, want)) in recorded.iter().zip(expected).enumerate() {
        check::request(&format!("{name} request {i}"), got, want)?;
    }

    let sleeps_ms: Vec<Value> = sleeps
        .millis()
        .into_iter()
        .map(|ms| json!(u64::try_from(ms).unwrap_or(u64::MAX)))
        .collect();
    let want_sleeps = fixture.get("expect_sleeps_ms").cloned().unwrap_or_else(|| json!([]));
    check::equal(&format!("{name}: waits before retries"), &Value::from(sleeps_ms), &want_sleeps)
}

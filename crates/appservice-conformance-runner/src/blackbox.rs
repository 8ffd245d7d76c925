//! Black-box cases (`fixtures/conformance/*.json`) against any appservice URL.
//!
//! Every case runs once per homeserver profile (`--homeserver-profile`, default both): the
//! default authentication, the transaction IDs and the fake homeserver are that profile's
//! (`appservice_fake_hs::Profile`). Under the Conduit family the default authentication sends
//! `?access_token=` as well as the header (added to the case's own `query` unless that already
//! has an `access_token`), `{txn}` and `{txn2}` are 43-character URL-safe base64 IDs, and the
//! fake homeserver does not create the bot.
//!
//! A case: `id`, `checklist`, `spec`, `description`, `level` (`must` fails the run, `should`
//! warns), optional `needs` (placeholders it cannot run without), optional `profiles` (the
//! profile names it holds for, e.g. `["synapse"]` for a case about Synapse-only behaviour; it
//! is reported as skipped under the others, with that reason; default: every profile), and
//! `steps`. A step's `request`: `method`, `path`, optional `query`, `headers` (default: the
//! profile's authentication, see above),
//! and `body` (JSON), `body_text`, or `body_filler_bytes` (a transaction padded to that size);
//! `repeat` (sequential copies) or `concurrent` (copies sent at once). Its `expect`: `status` or
//! `status_in`, `errcode` or `errcode_in`, `body` (exact), `body_subset`, `body_type`, and
//! `if_status` → `{ "<status>": { "cs_before_response": [matcher…] } }`: requests the fake
//! homeserver must have received from the appservice before that answer (checklist O items).
//! Placeholders in strings: `{hs_token}`, `{as_token}`, `{server_name}`, `{user_in_ns}`,
//! `{user_outside_ns}`, `{alias_in_ns}`, `{alias_outside_ns}`, `{txn}`, `{txn2}` (unique per run
//! and case), `{round}` (the repetition number of a `repeat` step). `cs_before_response_any`
//! passes when one of its matchers was seen. A matcher: `method`, `path_contains`,
//! `query_contains`, `authorization`, `body_subset`.

use std::{collections::BTreeMap, time::Instant};

use appservice_fake_hs::Profile;
use bytes::Bytes;
use http::Request;
use serde_json::Value;

use crate::{fake_hs::FakeHomeserver, report::Outcome};

mod placeholders;

pub(crate) use self::placeholders::sample_ids;
use self::placeholders::txn_ids;

/// What the cases run against.
pub(crate) struct Target {
    pub(crate) url: String,
    pub(crate) placeholders: BTreeMap<&'static str, String>,
    pub(crate) fake_hs: Option<FakeHomeserver>,
    /// The homeserver family the suite plays.
    pub(crate) profile: Profile,
}

/// Loads the cases of `fixtures/conformance/` from `(file name, contents)` pairs (not
/// `uncovered.json`), sorted, checking the metadata.
pub(crate) fn load<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> anyhow::Result<Vec<(String, Value)>> {
    let mut out = Vec::new();
    for (name, text) in files {
        let name = name.to_owned();
        if !name.ends_with(".json") || name == "uncovered.json" {
            continue;
        }
        let case: Value = serde_json::from_str(text).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let canonical = serde_json::to_string_pretty(&case)? + "\n";
        anyhow::ensure!(
            text == canonical,
            "{name}: not canonical JSON (sorted keys, 2-space indent)"
        );
        for key in ["id", "spec", "description", "level"] {
            anyhow::ensure!(case[key].is_string(), "{name}: missing `{key}`");
        }
        anyhow::ensure!(
            matches!(case["level"].as_str(), Some("must" | "should")),
            "{name}: level is must or should"
        );
        anyhow::ensure!(
            case["checklist"].as_array().is_some_and(|a| !a.is_empty()),
            "{name}: missing `checklist`"
        );
        anyhow::ensure!(
            name.starts_with(case["id"].as_str().unwrap_or("?")),
            "{name}: id must be the file stem"
        );
        if let Some(profiles) = case.get("profiles") {
            let names = profiles.as_array().filter(|a| !a.is_empty());
            anyhow::ensure!(
                names.is_some_and(|a| a
                    .iter()
                    .all(|p| p.as_str().is_some_and(|p| p.parse::<Profile>().is_ok()))),
                "{name}: `profiles` is a non-empty list of profile names (synapse, conduit)"
            );
        }
        out.push((name, case));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn substitute(value: &Value, target: &Target) -> Value {
    match value {
        Value::String(s) => {
            let mut s = s.clone();
            for (k, v) in &target.placeholders {
                s = s.replace(&format!("{{{k}}}"), v);
            }
            Value::String(s)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| substitute(v, target)).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), substitute(v, target))).collect())
        }
        other => other.clone(),
    }
}

fn build(request: &Value, target: &Target, round: u64) -> anyhow::Result<Request<Bytes>> {
    let r = substitute(request, target);
    let r = substitute_round(&r, round);
    let path = r["path"].as_str().unwrap_or("/");
    let uri = match r["query"].as_str() {
        Some(q) => format!("{}{path}?{q}", target.url),
        None => format!("{}{path}", target.url),
    };
    let mut builder = Request::builder().method(r["method"].as_str().unwrap_or("GET"));
    match r["headers"].as_object() {
        Some(headers) => {
            builder = builder.uri(uri);
            for (k, v) in headers {
                builder = builder.header(k.as_str(), v.as_str().unwrap_or_default());
            }
        }
        None => {
            let token = target.placeholders.get("hs_token").map(String::as_str).unwrap_or_default();
            // A case's own query token stays the only one (it tests what that token does).
            let has_query_token = r["query"]
                .as_str()
                .is_some_and(|q| q.split('&').any(|pair| pair.starts_with("access_token=")));
            builder = if has_query_token {
                builder.uri(uri).header("authorization", format!("Bearer {token}"))
            } else {
                target.profile.authorize(builder, &uri, token)
            };
        }
    }
    let body = if let Some(n) = r["body_filler_bytes"].as_u64() {
        let n = usize::try_from(n)?;
        let mut b = br#"{"events":[],"filler":""#.to_vec();
        b.resize(n.saturating_sub(2), b'x');
        b.extend(br#""}"#);
        b
    } else {
        match (&r["body"], &r["body_text"]) {
            (Value::Null, Value::String(t)) => t.clone().into_bytes(),
            (Value::Null, Value::Null) => Vec::new(),
            (b, Value::Null) => serde_json::to_vec(b)?,
            _ => anyhow::bail!("a request has both body and body_text"),
        }
    };
    if !body.is_empty() {
        builder = builder.header("content-type", "application/json");
    }
    Ok(builder.body(Bytes::from(body))?)
}

/// `Err(message)` fails the step; `Ok(Some(note))` passes with a note that makes it a warning.
fn check(
    expect: &Value,
    status: u16,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<Option<String>, String> {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let shown = || String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
    let status_ok = match (expect["status"].as_u64(), expect["status_in"].as_array()) {
        (Some(s), _) => u64::from(status) == s,
        (None, Some(list)) => list.iter().any(|s| s.as_u64() == Some(u64::from(status))),
        (None, None) => true,
    };
    if !status_ok {
        let want = if expect["status"].is_null() {
            expect["status_in"].to_string()
        } else {
            expect["status"].to_string()
        };
        return Err(format!("got {status} {}, expected status {want}", shown()));
    }
    let mut note = None;
    if status >= 400 {
        // AS-GEN-1: every error is a standard error response.
        let Some(errcode) = json.as_ref().and_then(|j| j["errcode"].as_str()) else {
            return Err(format!("a {status} without a JSON `errcode`: {}", shown()));
        };
        let wanted: Vec<&str> = match (expect["errcode"].as_str(), expect["errcode_in"].as_array())
        {
            (Some(e), _) => vec![e],
            (None, Some(list)) => list.iter().filter_map(Value::as_str).collect(),
            (None, None) => vec![],
        };
        if !wanted.is_empty() && !wanted.contains(&errcode) {
            return Err(format!("errcode {errcode}, expected {}", wanted.join(" or ")));
        }
        if !errcode.starts_with("M_") && !errcode.contains('.') {
            note = Some(format!(
                "custom errcode `{errcode}` has no vendor namespace like `COM.EXAMPLE.` (AS-GEN-2)"
            ));
        }
        if !json.as_ref().is_some_and(|j| j["error"].is_string()) {
            note = Some(format!("the {status} error has no `error` message (AS-GEN-1)"));
        }
    }
    let needs_json = status >= 400
        || !expect["body"].is_null()
        || !expect["body_subset"].is_null()
        || !expect["body_type"].is_null();
    if needs_json
        && headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_none_or(|ct| !ct.starts_with("application/json"))
    {
        note = Some("the response is not Content-Type: application/json (AS-GEN-3)".to_owned());
    }
    if !expect["body"].is_null() && json.as_ref() != Some(&expect["body"]) {
        return Err(format!("body {}, expected {}", shown(), expect["body"]));
    }
    if let Some(subset) = expect["body_subset"].as_object() {
        for (k, v) in subset {
            if json.as_ref().map(|j| &j[k]) != Some(v) {
                return Err(format!("body {}, expected {k} = {v}", shown()));
            }
        }
    }
    if let Some(kind) = expect["body_type"].as_str() {
        let ok = match kind {
            "object" => json.as_ref().is_some_and(Value::is_object),
            "array" => json.as_ref().is_some_and(Value::is_array),
            _ => false,
        };
        if !ok {
            return Err(format!("body {}, expected a JSON {kind}", shown()));
        }
    }
    Ok(note)
}

fn substitute_round(value: &Value, round: u64) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace("{round}", &round.to_string())),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| substitute_round(v, round)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter().map(|(k, v)| (k.clone(), substitute_round(v, round))).collect(),
        ),
        other => other.clone(),
    }
}

fn matches_recorded(m: &Value, r: &crate::fake_hs::Recorded, target: &Target) -> bool {
    let m = substitute(m, target);
    m["method"].as_str().is_none_or(|x| x == r.method)
        && m["path_contains"].as_str().is_none_or(|x| r.path.contains(x))
        && m["query_contains"]
            .as_str()
            .is_none_or(|x| r.raw_query.as_deref().unwrap_or("").contains(x))
        && m["authorization"].as_str().is_none_or(|x| r.authorization() == Some(x))
        && m["body_subset"].as_object().is_none_or(|subset| {
            let body = r.json();
            subset.iter().all(|(k, v)| &body[k] == v)
        })
}

type SendFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = anyhow::Result<(u16, http::HeaderMap, Bytes)>> + Send>,
>;

/// Runs one case.
pub(crate) async fn run_case(case: &Value, target: &Target) -> Outcome {
    if let Some(profiles) = case["profiles"].as_array()
        && !profiles.iter().any(|p| p.as_str() == Some(target.profile.name()))
    {
        return Outcome::Skip(format!(
            "holds only for the homeserver profiles {profiles:?}, not {}",
            target.profile
        ));
    }
    for need in case["needs"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        let available = if need == "cs" {
            target.fake_hs.is_some()
        } else {
            target.placeholders.contains_key(need)
        };
        if !available {
            return Outcome::Skip(match need {
                "cs" => {
                    "needs the fake homeserver (--cs-listen, with the appservice pointed at it)"
                        .to_owned()
                }
                other => format!("needs `{{{other}}}` (pass --registration, or --user/--alias)"),
            });
        }
    }
    let should = case["level"] == "should";
    let fail = |m: String| if should { Outcome::Warn(m) } else { Outcome::Fail(m) };
    let mut notes = Vec::new();
    for (i, step) in case["steps"].as_array().into_iter().flatten().enumerate() {
        let copies = step["concurrent"].as_u64().unwrap_or(1).max(1);
        let repeat = step["repeat"].as_u64().unwrap_or(1).max(1);
        for round in 0..repeat {
            let started = Instant::now();
            let requests: Vec<_> =
                (0..copies).map(|_| build(&step["request"], target, round)).collect();
            let streaming = !step["request"]["body_filler_bytes"].is_null();
            let mut sends = Vec::new();
            for r in requests {
                match r {
                    Ok(r) if streaming => {
                        sends.push(Box::pin(crate::http::request_streaming(r)) as SendFuture)
                    }
                    Ok(r) => sends.push(Box::pin(crate::http::request(r)) as SendFuture),
                    Err(e) => return Outcome::Fail(format!("step {i}: bad case: {e}")),
                }
            }
            let answers = futures_join_all(sends).await;
            let answered = Instant::now();
            for answer in answers {
                let (status, headers, body) = match answer {
                    Ok(a) => a,
                    Err(e) => return fail(format!("step {i} (round {round}): {e:#}")),
                };
                match check(&step["expect"], status, &headers, &body) {
                    Ok(Some(note)) => notes.push(format!("step {i}: {note}")),
                    Ok(None) => {}
                    Err(m) => return fail(format!("step {i} (round {round}): {m}")),
                }
                let conditions = &step["expect"]["if_status"][status.to_string()];
                if let Some(hs) = &target.fake_hs {
                    let seen: Vec<_> = hs
                        .recorded()
                        .into_iter()
                        .filter(|r| r.at >= started && r.at <= answered)
                        .collect();
                    let got = || {
                        seen.iter().map(|r| format!("{} {}", r.method, r.path)).collect::<Vec<_>>()
                    };
                    for m in conditions["cs_before_response"].as_array().into_iter().flatten() {
                        if !seen.iter().any(|r| matches_recorded(m, r, target)) {
                            return fail(format!(
                                "step {i}: answered {status} without first calling the homeserver with {}; it called: {:?}",
                                substitute(m, target),
                                got()
                            ));
                        }
                    }
                    if let Some(any) = conditions["cs_before_response_any"].as_array()
                        && !any.iter().any(|m| seen.iter().any(|r| matches_recorded(m, r, target)))
                    {
                        return fail(format!(
                            "step {i}: answered {status} without first calling the homeserver with any of {}; it called: {:?}",
                            substitute(&Value::Array(any.clone()), target),
                            got()
                        ));
                    }
                }
            }
        }
    }
    if notes.is_empty() { Outcome::Pass } else { Outcome::Warn(notes.join("; ")) }
}

async fn futures_join_all<F>(futures: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        match h.await {
            Ok(v) => out.push(v),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    out
}

/// The results of a black-box run as `(case name, outcome)`.
pub(crate) async fn run_all(
    cases: &[(String, Value)],
    target: &Target,
    filter: Option<&str>,
) -> Vec<(String, Value, Outcome)> {
    let mut out = Vec::new();
    for (i, (name, case)) in cases.iter().enumerate() {
        if filter.is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let mut target_for_case = Target {
            url: target.url.clone(),
            placeholders: target.placeholders.clone(),
            fake_hs: target.fake_hs.clone(),
            profile: target.profile,
        };
        let run = target.placeholders.get("run").cloned().unwrap_or_default();
        let (txn, txn2) = txn_ids(target.profile, &run, i);
        target_for_case.placeholders.insert("txn", txn);
        target_for_case.placeholders.insert("txn2", txn2);
        let outcome = run_case(case, &target_for_case).await;
        out.push((name.clone(), case.clone(), outcome));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn target(profile: Profile) -> Target {
        let placeholders = BTreeMap::from([("hs_token", "tok".to_owned())]);
        Target { url: "http://as".to_owned(), placeholders, fake_hs: None, profile }
    }

    #[test]
    fn default_authentication_follows_the_profile() {
        let case =
            json!({"method": "PUT", "path": "/_matrix/app/v1/transactions/1", "query": "a=1"});
        let synapse = build(&case, &target(Profile::Synapse), 0).unwrap();
        assert_eq!(synapse.uri().query(), Some("a=1"));
        assert_eq!(synapse.headers()["authorization"], "Bearer tok");
        let conduit = build(&case, &target(Profile::ConduitFamily), 0).unwrap();
        assert_eq!(conduit.uri().query(), Some("a=1&access_token=tok"));
        assert_eq!(conduit.headers()["authorization"], "Bearer tok");
        // A case's own query token is kept alone; explicit headers are the case's business.
        let own = json!({"method": "GET", "path": "/x", "query": "access_token=other"});
        let built = build(&own, &target(Profile::ConduitFamily), 0).unwrap();
        assert_eq!(built.uri().query(), Some("access_token=other"));
        let explicit = json!({"method": "GET", "path": "/x", "headers": {}});
        let built = build(&explicit, &target(Profile::ConduitFamily), 0).unwrap();
        assert_eq!((built.uri().query(), built.headers().len()), (None, 0));
    }

    #[tokio::test]
    async fn a_case_for_some_profiles_is_skipped_with_its_reason_under_the_others() {
        let case = json!({"level": "must", "profiles": ["synapse"], "steps": []});
        assert_eq!(run_case(&case, &target(Profile::Synapse)).await, Outcome::Pass);
        let Outcome::Skip(reason) = run_case(&case, &target(Profile::ConduitFamily)).await else {
            panic!("not skipped");
        };
        assert!(reason.contains("synapse") && reason.contains("conduit"), "{reason}");
    }

    #[test]
    fn checks() {
        let h = http::HeaderMap::new();
        let mut json_ct = http::HeaderMap::new();
        json_ct.insert("content-type", http::HeaderValue::from_static("application/json"));
        assert!(check(&json!({"status": 200, "body": {}}), 200, &json_ct, b"{}").is_ok());
        assert!(check(&json!({"status": 200, "body": {}}), 200, &json_ct, b"").is_err());
        assert!(
            check(
                &json!({"status_in": [401, 403]}),
                403,
                &json_ct,
                br#"{"errcode":"M_FORBIDDEN","error":"x"}"#
            )
            .is_ok()
        );
        assert!(
            check(&json!({"status": 404}), 404, &json_ct, b"<html>").is_err(),
            "errors need an errcode"
        );
        let warned = check(&json!({"status": 404}), 404, &h, br#"{"errcode":"M_X"}"#).unwrap();
        assert!(warned.is_some(), "no error message and no JSON content type");
    }
}

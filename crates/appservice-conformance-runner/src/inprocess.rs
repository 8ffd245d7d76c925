//! The cases of `fixtures/dispatch/` against our own stack over HTTP, with a recording handler,
//! so the handler calls (which events, how many times) are checked too.

use appservice_conformance::cases::{self, Case};
use appservice_tower::{Appservice, ServeConfig, serve_with};
use http::Request;
use serde_json::Value;

use crate::report::Outcome;

/// Runs one case on a fresh server; returns the outcome and the calls seen per step (for bless).
pub(crate) async fn run_case(case: &Case) -> anyhow::Result<(Outcome, Vec<Vec<Value>>)> {
    let (dispatcher, recorder) = case.dispatcher();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_with(
        listener,
        Appservice::new(dispatcher),
        async {
            stopped.await.ok();
        },
        ServeConfig::new(),
    ));
    let should = case.fixture["level"] == "should";
    let mut outcome = Outcome::Pass;
    let mut observed = Vec::new();
    for (i, (request, expect)) in case.steps().into_iter().enumerate() {
        let (mut parts, body) = cases::build_request(request).into_parts();
        let pq = parts.uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
        parts.uri = format!("http://{addr}{pq}").parse()?;
        let (status, headers, body) =
            match crate::http::request(Request::from_parts(parts, body)).await {
                Ok(answer) => answer,
                Err(e) => {
                    outcome = Outcome::Fail(format!("step {i}: {e:#}"));
                    break;
                }
            };
        let calls = recorder.take_calls();
        if let Err(m) = cases::check_response(expect, status, &headers, &body, &calls)
            && outcome == Outcome::Pass
        {
            let m = format!("step {i}: {m}");
            outcome = if should { Outcome::Warn(m) } else { Outcome::Fail(m) };
        }
        observed.push(calls);
    }
    stop.send(()).ok();
    server.await??;
    Ok((outcome, observed))
}

/// Rewrites the `calls` expectations of a case from what was observed.
pub(crate) fn bless(case: &Case, observed: &[Vec<Value>]) -> anyhow::Result<bool> {
    let mut fixture = case.fixture.clone();
    let Some(steps) = fixture["steps"].as_array_mut() else { return Ok(false) };
    let mut changed = false;
    for (step, calls) in steps.iter_mut().zip(observed) {
        let calls = Value::Array(calls.clone());
        if step["expect"]["calls"] != calls {
            step["expect"]["calls"] = calls;
            changed = true;
        }
    }
    if changed {
        let path = cases::fixtures_dir().join("dispatch").join(&case.name);
        std::fs::write(path, serde_json::to_string_pretty(&fixture)? + "\n")?;
    }
    Ok(changed)
}

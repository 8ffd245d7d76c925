//! The client vectors (`fixtures/client/`) in the report: `appservice-client` against a scripted
//! fake homeserver, one result per vector (the same runner as the client's tests,
//! `appservice-client-vectors`). They test our client, not the target appservice, so they run
//! only against our stack.

use appservice_client_vectors::{load, run};
use serde_json::Value;

use crate::report::Outcome;

/// Runs every vector whose id contains `filter` (all without one): each file with its outcome.
pub(crate) async fn run_all(filter: Option<&str>) -> anyhow::Result<Vec<(Value, Outcome)>> {
    let dir = appservice_conformance::cases::fixtures_dir().join("client");
    let vectors = load(&dir).map_err(anyhow::Error::msg)?;
    let mut results = Vec::new();
    for vector in vectors {
        if filter.is_some_and(|f| !vector.id.contains(f)) {
            continue;
        }
        let outcome = match run(&vector).await {
            Ok(()) => Outcome::Pass,
            Err(e) => Outcome::Fail(e),
        };
        results.push((vector.value, outcome));
    }
    Ok(results)
}

//! Results: one line per case, a coverage table, JSON output, and the closing line.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// How a case ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Pass,
    /// A `must` case failed: the run fails.
    Fail(String),
    /// A `should` case failed: reported, the run does not fail.
    Warn(String),
    Skip(String),
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Fail(_) => "FAIL",
            Self::Warn(_) => "WARN",
            Self::Skip(_) => "SKIP",
        }
    }
}

/// One case's result.
#[derive(Clone, Debug)]
pub(crate) struct CaseResult {
    pub(crate) suite: &'static str,
    /// The homeserver profile the case ran under (`synapse`, `conduit`), or `any` for the
    /// in-process cases, which do not depend on it.
    pub(crate) profile: &'static str,
    pub(crate) id: String,
    pub(crate) checklist: Vec<String>,
    pub(crate) description: String,
    pub(crate) outcome: Outcome,
}

impl CaseResult {
    pub(crate) fn print(&self) {
        let ids = self.checklist.join(",");
        println!(
            "{:<5} {:<9} {:<7} {:<44} {:<28} {}",
            self.outcome.label(),
            self.suite,
            self.profile,
            self.id,
            ids,
            self.description
        );
        match &self.outcome {
            Outcome::Fail(m) | Outcome::Warn(m) => println!("      -> {m}"),
            Outcome::Skip(m) => println!("      (skipped: {m})"),
            Outcome::Pass => {}
        }
    }

    fn to_json(&self) -> Value {
        let (status, detail) = match &self.outcome {
            Outcome::Pass => ("pass", None),
            Outcome::Fail(m) => ("fail", Some(m)),
            Outcome::Warn(m) => ("warn", Some(m)),
            Outcome::Skip(m) => ("skip", Some(m)),
        };
        json!({"suite": self.suite, "profile": self.profile, "id": self.id, "checklist": self.checklist, "description": self.description,
               "status": status, "detail": detail})
    }
}

/// The checklist section of an item: [`AS-AUTH-2`](https://spec.matrix.org/v1.19/application-service-api/#authorisation) → `AS-AUTH`.
pub(crate) fn section(id: &str) -> &str {
    id.rfind('-').map_or(id, |i| &id[..i])
}

/// Counts by outcome.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Totals {
    pub(crate) passed: usize,
    pub(crate) warned: usize,
    pub(crate) failed: usize,
    pub(crate) skipped: usize,
}

pub(crate) fn totals(results: &[CaseResult]) -> Totals {
    let mut t = Totals::default();
    for r in results {
        match r.outcome {
            Outcome::Pass => t.passed += 1,
            Outcome::Warn(_) => t.warned += 1,
            Outcome::Fail(_) => t.failed += 1,
            Outcome::Skip(_) => t.skipped += 1,
        }
    }
    t
}

/// Prints coverage by checklist section: testable items, items with a fixture anywhere (some run
/// in the crates' tests, e.g. the client's), items checked in this run, and those all passing.
pub(crate) fn print_coverage(
    results: &[CaseResult],
    testable: &[(String, String)],
    cited: &BTreeMap<String, Vec<String>>,
) {
    let mut by_section: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
    for (id, _) in testable {
        let entry = by_section.entry(section(id)).or_default();
        entry[0] += 1;
        if cited.contains_key(id) {
            entry[1] += 1;
        }
        let cases: Vec<&CaseResult> =
            results.iter().filter(|r| r.checklist.iter().any(|c| c == id)).collect();
        if !cases.is_empty() {
            entry[2] += 1;
            if cases.iter().all(|r| matches!(r.outcome, Outcome::Pass)) {
                entry[3] += 1;
            }
        }
    }
    println!();
    println!("Coverage by checklist section (items testable over HTTP: T, O, P):");
    println!(
        "  {:<10} {:>6} {:>10} {:>10} {:>12}",
        "section", "items", "fixtures", "this run", "all passing"
    );
    for (section, [items, with_fixture, run, passing]) in by_section {
        println!("  {section:<10} {items:>6} {with_fixture:>10} {run:>10} {passing:>12}");
    }
    println!(
        "  (fixtures: cases in fixtures/, including those the crates' tests run; this run: cases run now)"
    );
}

pub(crate) fn write_json(path: &std::path::Path, results: &[CaseResult]) -> anyhow::Result<()> {
    let t = totals(results);
    let doc = json!({
        "passed": t.passed, "warned": t.warned, "failed": t.failed, "skipped": t.skipped,
        "cases": results.iter().map(CaseResult::to_json).collect::<Vec<_>>(),
    });
    std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")?;
    Ok(())
}

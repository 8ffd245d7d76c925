//! The conformance suite for Matrix application services: a homeserver simulator that runs the
//! fixtures of this repository against our stack or against any appservice URL.
//!
//! The `appservice-conformance` binary of this crate is run by `cargo xtask conformance` (our
//! stack, and the coverage check); [`run_external`] is also the `appservice conformance`
//! command of `appservice-cli`. The fixtures the run reads are embedded at compile time, so a
//! run against a URL needs no checkout of the repository (see `docs/conformance.md`).
//!
//! * [`run_our_stack`]: the `fixtures/dispatch/` cases against our server with a recording
//!   handler (so handler calls are checked too), and the black-box cases of
//!   `fixtures/conformance/` against `echo-appservice`, started on loopback with a generated
//!   registration and this crate's fake homeserver.
//! * [`run_external`]: the black-box cases against any appservice ([`ExternalTarget`]). With
//!   its registration (and server name), cases that need an ID in its namespaces run too; with
//!   `cs_listen`, a fake homeserver records what the appservice calls back.
//! * [`SuiteOptions::profiles`]: the black-box cases run once per homeserver profile
//!   (`appservice_fake_hs::Profile`: its authentication, transaction IDs and fake homeserver),
//!   each result naming its profile; the in-process cases do not depend on the homeserver and
//!   run once (profile `any`).
//! * [`coverage`]: the checklist coverage (`fixtures/checklist.json`, the citations, the table
//!   in `docs/conformance.md`).
//!
//! ```no_run
//! use appservice_conformance_runner::{ExternalTarget, SuiteOptions};
//! use clap::Parser;
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     target: ExternalTarget,
//!     #[command(flatten)]
//!     options: SuiteOptions,
//! }
//!
//! # async fn run() -> anyhow::Result<()> {
//! let cli = Cli::parse_from(["suite", "--url", "http://127.0.0.1:9000", "--hs-token", "secret"]);
//! // Prints one line per case and the totals; fails (exit code 1) on a must-level failure.
//! let code = appservice_conformance_runner::run_external(&cli.target, &cli.options).await?;
//! # Ok(()) }
//! ```

// A test suite's report is its output: printing is its job.
#![allow(clippy::print_stdout)]

mod args;
mod blackbox;
mod client_vectors;
mod coverage;
mod embedded;
mod fake_hs;
mod http;
mod inprocess;
mod our_stack;
mod report;

use std::{collections::BTreeMap, path::Path, process::ExitCode};

use anyhow::{Context as _, bail};
use appservice_fake_hs::Profile;
use report::{CaseResult, Outcome};

pub use self::args::{ExternalTarget, Profiles, SuiteOptions};
use self::our_stack::OurStack;

/// The black-box cases against the appservice at `target.url`; exit code 1 when a must-level
/// case failed.
pub async fn run_external(
    target: &ExternalTarget,
    options: &SuiteOptions,
) -> anyhow::Result<ExitCode> {
    let run_id = random_hex(4)?;
    let cases = black_box_cases()?;
    println!("appservice conformance suite (Matrix spec v1.19)");
    println!("target: {} (black-box)\n", target.url);
    let mut results = Vec::new();
    let (mut black_box, switch) = external_target(target, options, &run_id).await?;
    for &profile in &options.profiles.0 {
        black_box.profile = profile;
        if let Some(switch) = &switch {
            switch.set(profile);
        }
        for (_, case, outcome) in
            blackbox::run_all(&cases, &black_box, options.filter.as_deref()).await
        {
            push(&mut results, "black-box", profile.name(), &case, outcome);
        }
    }
    finish(&results, options)
}

/// Our stack: the in-process cases (with `bless`, a failing case's handler calls are rewritten
/// from what was observed), then the black-box cases against `echo-appservice` at `echo_bin`,
/// once per profile; exit code 1 when a must-level case failed.
pub async fn run_our_stack(
    echo_bin: &Path,
    bless: bool,
    options: &SuiteOptions,
) -> anyhow::Result<ExitCode> {
    let run_id = random_hex(4)?;
    let cases = black_box_cases()?;
    println!("appservice conformance suite (Matrix spec v1.19)");
    println!(
        "target: our stack (in-process cases with a recording handler; black-box cases against echo-appservice)\n"
    );
    let mut results = Vec::new();
    for case in appservice_conformance::cases::dispatch_cases() {
        if options.filter.as_deref().is_some_and(|f| !case.name.contains(f)) {
            continue;
        }
        let (outcome, observed) = inprocess::run_case(&case).await?;
        if bless
            && matches!(outcome, Outcome::Fail(_) | Outcome::Warn(_))
            && inprocess::bless(&case, &observed)?
        {
            println!("blessed {}: handler calls rewritten from what was observed", case.name);
        }
        push(&mut results, "in-proc", "any", &case.fixture, outcome);
    }
    for (case, outcome) in client_vectors::run_all(options.filter.as_deref()).await? {
        push(&mut results, "client", "any", &case, outcome);
    }
    for &profile in &options.profiles.0 {
        // A fresh echo per profile: its start-up (the bot's registration) is part of it.
        let ours = OurStack::start(echo_bin, &run_id, profile).await?;
        for (_, case, outcome) in
            blackbox::run_all(&cases, &ours.target, options.filter.as_deref()).await
        {
            push(&mut results, "black-box", profile.name(), &case, outcome);
        }
        ours.stop().await;
    }
    finish(&results, options)
}

/// Prints the name of every case: in-process (from the repository) and black-box.
pub fn list() -> anyhow::Result<()> {
    for case in appservice_conformance::cases::dispatch_cases() {
        println!("in-process  {}", case.name);
    }
    for (name, _) in &black_box_cases()? {
        println!("black-box   {name}");
    }
    Ok(())
}

/// The checklist coverage of the repository's fixtures: with `update`, rewrites
/// `fixtures/checklist.json` (from `checklist`, default `docs/spec/CHECKLIST.md`) and the table
/// in `docs/conformance.md`; without, fails if either is stale. Both fail when a T/O item lacks
/// a case and a written reason.
pub fn coverage(update: bool, checklist: Option<&Path>) -> anyhow::Result<()> {
    if update {
        let default = coverage::root().join("docs/spec/CHECKLIST.md");
        let checklist = checklist.unwrap_or(&default);
        let n = coverage::update_checklist(checklist)?;
        println!("fixtures/checklist.json: {n} items from {}", checklist.display());
    }
    let items = coverage::load()?;
    let cited = coverage::citations()?;
    let reasons = coverage::uncovered_reasons()?;
    let problems = coverage::problems(&items, &cited, &reasons);
    coverage::sync_doc(&coverage::table(&items, &cited, &reasons), !update)?;
    let testable = items.iter().filter(|i| matches!(i.kind(), Some('T' | 'O'))).count();
    let covered = items
        .iter()
        .filter(|i| matches!(i.kind(), Some('T' | 'O')) && cited.contains_key(&i.id))
        .count();
    println!(
        "checklist: {} items, {testable} testable (T/O), {covered} with a case, {} with a written reason",
        items.len(),
        testable - covered
    );
    for p in &problems {
        println!("problem: {p}");
    }
    if !problems.is_empty() {
        bail!("{} coverage problem(s)", problems.len());
    }
    Ok(())
}

/// The embedded black-box cases.
fn black_box_cases() -> anyhow::Result<Vec<(String, serde_json::Value)>> {
    blackbox::load(embedded::area("conformance"))
}

/// The coverage report (from the embedded checklist and citations), the JSON file, the totals.
fn finish(results: &[CaseResult], options: &SuiteOptions) -> anyhow::Result<ExitCode> {
    let items = coverage::parse_checklist(embedded::file("checklist.json")?)?;
    let testable: Vec<(String, String)> = items
        .iter()
        .filter(|i| i.kind().is_some())
        .map(|i| (i.id.clone(), i.testable.clone()))
        .collect();
    report::print_coverage(results, &testable, &coverage::citations_in(embedded::files()));
    if let Some(path) = &options.json {
        report::write_json(path, results)?;
    }
    let t = report::totals(results);
    println!();
    println!(
        "{} cases: {} passed, {} warned (should-level), {} failed (must-level), {} skipped",
        results.len(),
        t.passed,
        t.warned,
        t.failed,
        t.skipped
    );
    println!("{} passed, {} failed, {} skipped", t.passed + t.warned, t.failed, t.skipped);
    Ok(if t.failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn push(
    results: &mut Vec<CaseResult>,
    suite: &'static str,
    profile: &'static str,
    case: &serde_json::Value,
    outcome: Outcome,
) {
    let result = CaseResult {
        suite,
        profile,
        id: case["id"].as_str().unwrap_or("?").to_owned(),
        checklist: case["checklist"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        description: case["description"].as_str().unwrap_or_default().to_owned(),
        outcome,
    };
    result.print();
    results.push(result);
}

fn random_hex(bytes: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// The black-box target of `target`, and the switch of its fake homeserver's profile (with
/// `cs_listen`).
async fn external_target(
    target: &ExternalTarget,
    options: &SuiteOptions,
    run_id: &str,
) -> anyhow::Result<(blackbox::Target, Option<fake_hs::ProfileSwitch>)> {
    let url = &target.url;
    let hs_token = target.hs_token.expose();
    let profile = options.profiles.0.first().copied().unwrap_or(Profile::Synapse);
    let mut placeholders: BTreeMap<&'static str, String> = BTreeMap::new();
    placeholders.insert("hs_token", hs_token.to_owned());
    placeholders.insert("run", run_id.to_owned());
    let mut identity = None;
    if let Some(path) = &target.registration {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
        let registration = appservice_types::ValidatedRegistration::parse(&text)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        placeholders.insert("as_token", registration.as_token().expose().to_owned());
        if let Some(server) = &target.server_name {
            placeholders.insert("server_name", server.clone());
            placeholders.extend(blackbox::sample_ids(&registration, server));
            identity = Some(fake_hs::Identity {
                server_name: server.clone(),
                bot: format!("@{}:{server}", registration.sender_localpart()),
                appservice: Some((url.clone(), hs_token.to_owned())),
            });
        }
    }
    if let Some(u) = &target.user {
        placeholders.insert("user_in_ns", u.clone());
    }
    if let Some(a) = &target.alias {
        placeholders.insert("alias_in_ns", a.clone());
    }
    let (fake_hs, switch) = match &target.cs_listen {
        Some(listen) => {
            let identity =
                identity.context("--cs-listen needs --registration and --server-name")?;
            let (hs, switch) = fake_hs::start(listen, identity, profile).await?;
            println!("fake homeserver listening on {}", hs.url());
            (Some(hs), Some(switch))
        }
        None => (None, None),
    };
    Ok((blackbox::Target { url: url.clone(), placeholders, fake_hs, profile }, switch))
}

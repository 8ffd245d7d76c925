//! `appservice-conformance`: the conformance suite for Matrix application services.
//!
//! Run it through `cargo xtask conformance`, which builds this and `echo-appservice` first.
//!
//! * No `--url`: our stack. The `fixtures/dispatch/` cases run against our server with a
//!   recording handler (so handler calls are checked too), and the black-box cases of
//!   `fixtures/conformance/` run against `echo-appservice` (from `--echo-bin`), started on
//!   loopback with a generated registration and this program's fake homeserver.
//! * `--url URL --hs-token TOKEN`: the black-box cases against any appservice. With
//!   `--registration FILE` (and `--server-name`), cases that need an ID in its namespaces run
//!   too; with `--cs-listen ADDR`, a fake homeserver records what the appservice calls back
//!   (point the appservice's homeserver URL at it).
//! * `--homeserver-profile synapse|conduit|all` (default `all`): the black-box cases run once
//!   per homeserver profile (`appservice_fake_hs::Profile`: its authentication, transaction IDs
//!   and fake homeserver), each result naming its profile; the in-process cases do not depend
//!   on the homeserver and run once (profile `any`).
//! * `coverage [--update]`: the checklist coverage (see `docs/conformance.md`); without
//!   `--update` it only checks (`--check` says so explicitly).

// A command-line program: printing is its job.
#![allow(clippy::print_stdout)]

mod blackbox;
mod client_vectors;
mod coverage;
mod fake_hs;
mod http;
mod inprocess;
mod report;

use std::{collections::BTreeMap, path::PathBuf, process::ExitCode, time::Duration};

use anyhow::{Context as _, bail};
use appservice_fake_hs::Profile;
use report::{CaseResult, Outcome};

const USAGE: &str = "\
Usage:
  appservice-conformance [--echo-bin PATH] [--filter PATTERN] [--json FILE] [--bless] [--list]
                         [--homeserver-profile synapse|conduit|all]
      Our stack: in-process cases, then black-box cases against echo-appservice.
  appservice-conformance --url URL --hs-token TOKEN [--registration FILE] [--server-name NAME]
                         [--user USER_ID] [--alias ALIAS] [--cs-listen ADDR] [--filter PATTERN] [--json FILE]
                         [--homeserver-profile synapse|conduit|all]
      The black-box cases against any appservice.
  --homeserver-profile: which homeserver family the black-box cases play (authentication,
      transaction IDs, the fake homeserver's bot); `all` (the default) runs them once per profile.
  appservice-conformance coverage [--update [--checklist PATH]] [--check]
      Checklist coverage: --update rewrites fixtures/checklist.json (from the checklist) and the
      table in docs/conformance.md; without --update (or with --check) it fails if either is
      stale; both fail when a T/O item lacks a case and a reason.
";

#[derive(Debug, Default)]
struct Args {
    url: Option<String>,
    hs_token: Option<String>,
    registration: Option<PathBuf>,
    server_name: Option<String>,
    user: Option<String>,
    alias: Option<String>,
    cs_listen: Option<String>,
    echo_bin: Option<PathBuf>,
    filter: Option<String>,
    json: Option<String>,
    bless: bool,
    list: bool,
    /// The homeserver profiles to run the black-box cases under, in order.
    profiles: Vec<Profile>,
}

fn parse(args: &[String]) -> anyhow::Result<Args> {
    let mut a = Args::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => a.url = Some(value()?.trim_end_matches('/').to_owned()),
            "--hs-token" => a.hs_token = Some(value()?),
            "--registration" => a.registration = Some(value()?.into()),
            "--server-name" => a.server_name = Some(value()?),
            "--user" => a.user = Some(value()?),
            "--alias" => a.alias = Some(value()?),
            "--cs-listen" => a.cs_listen = Some(value()?),
            "--echo-bin" => a.echo_bin = Some(value()?.into()),
            "--filter" => a.filter = Some(value()?),
            "--json" => a.json = Some(value()?),
            "--bless" => a.bless = true,
            "--list" => a.list = true,
            "--homeserver-profile" => {
                let value = value()?;
                a.profiles = if value == "all" {
                    Profile::ALL.to_vec()
                } else {
                    vec![value.parse::<Profile>().map_err(|_| {
                        anyhow::anyhow!("--homeserver-profile {value:?}: synapse, conduit or all")
                    })?]
                };
            }
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument `{other}`\n\n{USAGE}"),
        }
    }
    if a.url.is_some() != a.hs_token.is_some() {
        bail!("--url and --hs-token go together\n\n{USAGE}");
    }
    if a.profiles.is_empty() {
        a.profiles = Profile::ALL.to_vec();
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = if args.first().map(String::as_str) == Some("coverage") {
        run_coverage(&args[1..])
    } else {
        parse(&args).and_then(|a| runtime.block_on(run(a)))
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_coverage(args: &[String]) -> anyhow::Result<ExitCode> {
    let update = args.iter().any(|a| a == "--update");
    if update {
        let checklist = args
            .iter()
            .position(|a| a == "--checklist")
            .and_then(|i| args.get(i + 1))
            .map_or_else(|| coverage::root().join("docs/spec/CHECKLIST.md"), PathBuf::from);
        let n = coverage::update_checklist(&checklist)?;
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
    Ok(ExitCode::SUCCESS)
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let run_id = random_hex(4)?;
    let mut results: Vec<CaseResult> = Vec::new();
    let black_box_cases =
        blackbox::load(&appservice_conformance::cases::fixtures_dir().join("conformance"))?;
    if args.list {
        for case in appservice_conformance::cases::dispatch_cases() {
            println!("in-process  {}", case.name);
        }
        for (name, _) in &black_box_cases {
            println!("black-box   {name}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    println!("appservice conformance suite (Matrix spec v1.19)");
    match &args.url {
        None => {
            println!(
                "target: our stack (in-process cases with a recording handler; black-box cases against echo-appservice)\n"
            );
            for case in appservice_conformance::cases::dispatch_cases() {
                if args.filter.as_deref().is_some_and(|f| !case.name.contains(f)) {
                    continue;
                }
                let (outcome, observed) = inprocess::run_case(&case).await?;
                if args.bless
                    && matches!(outcome, Outcome::Fail(_) | Outcome::Warn(_))
                    && inprocess::bless(&case, &observed)?
                {
                    println!(
                        "blessed {}: handler calls rewritten from what was observed",
                        case.name
                    );
                }
                push(&mut results, "in-proc", "any", &case.fixture, outcome);
            }
            for (case, outcome) in client_vectors::run_all(args.filter.as_deref()).await? {
                push(&mut results, "client", "any", &case, outcome);
            }
            let Some(echo) = &args.echo_bin else {
                bail!(
                    "no --echo-bin: run the suite with `cargo xtask conformance`, which builds echo-appservice"
                );
            };
            for &profile in &args.profiles {
                // A fresh echo per profile: its start-up (the bot's registration) is part of it.
                let ours = OurStack::start(echo, &run_id, profile).await?;
                for (_, case, outcome) in
                    blackbox::run_all(&black_box_cases, &ours.target, args.filter.as_deref()).await
                {
                    push(&mut results, "black-box", profile.name(), &case, outcome);
                }
                ours.stop().await;
            }
        }
        Some(url) => {
            println!("target: {url} (black-box)\n");
            let (mut target, switch) = external_target(&args, url, &run_id).await?;
            for &profile in &args.profiles {
                target.profile = profile;
                if let Some(switch) = &switch {
                    switch.set(profile);
                }
                for (_, case, outcome) in
                    blackbox::run_all(&black_box_cases, &target, args.filter.as_deref()).await
                {
                    push(&mut results, "black-box", profile.name(), &case, outcome);
                }
            }
        }
    }
    let items = coverage::load()?;
    let testable: Vec<(String, String)> = items
        .iter()
        .filter(|i| i.kind().is_some())
        .map(|i| (i.id.clone(), i.testable.clone()))
        .collect();
    report::print_coverage(&results, &testable, &coverage::citations()?);
    if let Some(path) = &args.json {
        report::write_json(path, &results)?;
    }
    let t = report::totals(&results);
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

/// The target of `--url`, and the switch of its fake homeserver's profile (with `--cs-listen`).
async fn external_target(
    args: &Args,
    url: &str,
    run_id: &str,
) -> anyhow::Result<(blackbox::Target, Option<fake_hs::ProfileSwitch>)> {
    let profile = args.profiles.first().copied().unwrap_or(Profile::Synapse);
    let mut placeholders: BTreeMap<&'static str, String> = BTreeMap::new();
    placeholders.insert("hs_token", args.hs_token.clone().unwrap_or_default());
    placeholders.insert("run", run_id.to_owned());
    let mut identity = None;
    if let Some(path) = &args.registration {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
        let registration = appservice_types::ValidatedRegistration::parse(&text)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        placeholders.insert("as_token", registration.as_token().expose().to_owned());
        if let Some(server) = &args.server_name {
            placeholders.insert("server_name", server.clone());
            placeholders.extend(blackbox::sample_ids(&registration, server));
            identity = Some(fake_hs::Identity {
                server_name: server.clone(),
                bot: format!("@{}:{server}", registration.sender_localpart()),
                appservice: Some((url.to_owned(), args.hs_token.clone().unwrap_or_default())),
            });
        }
    }
    if let Some(u) = &args.user {
        placeholders.insert("user_in_ns", u.clone());
    }
    if let Some(a) = &args.alias {
        placeholders.insert("alias_in_ns", a.clone());
    }
    let (fake_hs, switch) = match &args.cs_listen {
        Some(listen) => {
            let identity =
                identity.context("--cs-listen needs --registration and --server-name")?;
            let (hs, switch) = fake_hs::start(listen, identity, profile).await?;
            println!("fake homeserver listening on {}", hs.url());
            (Some(hs), Some(switch))
        }
        None => (None, None),
    };
    Ok((blackbox::Target { url: url.to_owned(), placeholders, fake_hs, profile }, switch))
}

/// `echo-appservice` on loopback with a generated registration and our fake homeserver
/// answering as one profile.
struct OurStack {
    child: tokio::process::Child,
    dir: PathBuf,
    target: blackbox::Target,
}

impl OurStack {
    async fn start(echo: &std::path::Path, run_id: &str, profile: Profile) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir()
            .join(format!("appservice-conformance-{}-{run_id}-{profile}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            l.local_addr()?.port()
        };
        let url = format!("http://127.0.0.1:{port}");
        let (as_token, hs_token) = (random_hex(32)?, random_hex(32)?);
        let server = "localhost";
        let yaml = format!(
            "id: echo-conformance\nurl: \"{url}\"\nas_token: \"{as_token}\"\nhs_token: \"{hs_token}\"\n\
             sender_localpart: _echo_bot\nrate_limited: false\nreceive_ephemeral: true\nnamespaces:\n  \
             users: [{{exclusive: true, regex: '^@_echo_.*:localhost$'}}]\n  \
             aliases: [{{exclusive: true, regex: '^#_echo_.*:localhost$'}}]\n"
        );
        let registration_path = dir.join("registration.yaml");
        std::fs::write(&registration_path, &yaml)?;
        let registration = appservice_types::ValidatedRegistration::parse(&yaml)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let identity = fake_hs::Identity {
            server_name: server.to_owned(),
            bot: format!("@_echo_bot:{server}"),
            appservice: Some((url.clone(), hs_token.clone())),
        };
        let (hs, _) = fake_hs::start("127.0.0.1:0", identity, profile).await?;
        let log = std::fs::File::create(dir.join("echo.log"))?;
        let child = tokio::process::Command::new(echo)
            .arg("--registration")
            .arg(&registration_path)
            .arg("--homeserver")
            .arg(hs.url())
            .arg("--store")
            .arg(dir.join("store"))
            .arg("--server-name")
            .arg(server)
            .env("RUST_LOG", "info")
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", echo.display()))?;
        let mut placeholders: BTreeMap<&'static str, String> = BTreeMap::new();
        placeholders.insert("hs_token", hs_token.clone());
        placeholders.insert("as_token", as_token);
        placeholders.insert("server_name", server.to_owned());
        placeholders.insert("run", run_id.to_owned());
        placeholders.extend(blackbox::sample_ids(&registration, server));
        let mut stack = Self {
            child,
            dir,
            target: blackbox::Target { url: url.clone(), placeholders, fake_hs: Some(hs), profile },
        };
        stack.wait_ready(&url, &hs_token).await?;
        Ok(stack)
    }

    async fn wait_ready(&mut self, url: &str, hs_token: &str) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!(
                    "echo-appservice exited ({status}) during start-up; its log:\n{}",
                    self.log_tail()
                );
            }
            let ping = http::send(
                &format!("{url}/_matrix/app/v1/ping"),
                "POST",
                Some(hs_token),
                b"{}".to_vec(),
            )
            .await;
            if matches!(ping, Ok((200, _, _))) {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("echo-appservice did not answer within 30 s; its log:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("echo.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

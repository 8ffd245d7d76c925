//! `cargo xtask ci [JOB]...`: the CI jobs, runnable locally with the same commands.
//!
//! With no arguments every job runs, in the order of [`Job::ALL`], stopping at the first failure.
//! Each external command is announced with a `==> job: command` banner so that a failure can be
//! reproduced by copying that line.
//!
//! The MSRV (`workspace.package.rust-version`, currently 1.89) is not checked here yet; keep this
//! note in sync with the workspace `Cargo.toml` and the README when an `msrv` job is added.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, anyhow, bail};

use crate::{cargo, deps, project_root};

/// One CI job; `cargo xtask ci <name>` runs it alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Job {
    /// `cargo fmt --all -- --check`.
    Fmt,
    /// `cargo clippy` over all targets and features, warnings denied.
    Clippy,
    /// The dependency guards of [`crate::deps`].
    Deps,
    /// `cargo check` of the sans-IO crates for `wasm32-unknown-unknown` (no OS, no sockets).
    Wasm,
    /// Unit, integration and doc tests (nextest when available).
    Test,
    /// The conformance suite against our stack (`cargo xtask conformance`), under every
    /// homeserver profile.
    Conformance,
    /// `cargo doc` with rustdoc warnings denied.
    Doc,
    /// `cargo deny check bans licenses sources`.
    Deny,
}

impl Job {
    /// Every job, in the order a bare `cargo xtask ci` runs them: cheap checks first.
    pub(crate) const ALL: [Job; 8] = [
        Job::Fmt,
        Job::Clippy,
        Job::Deps,
        Job::Wasm,
        Job::Test,
        Job::Conformance,
        Job::Doc,
        Job::Deny,
    ];

    /// The name used on the command line.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Job::Fmt => "fmt",
            Job::Clippy => "clippy",
            Job::Deps => "deps",
            Job::Wasm => "wasm",
            Job::Test => "test",
            Job::Conformance => "conformance",
            Job::Doc => "doc",
            Job::Deny => "deny",
        }
    }
}

/// The jobs to run: none given means all; each runs once, in the order given.
pub(crate) fn select_jobs(given: &[Job]) -> Vec<Job> {
    if given.is_empty() {
        return Job::ALL.to_vec();
    }
    let mut jobs = Vec::new();
    for &job in given {
        if !jobs.contains(&job) {
            jobs.push(job);
        }
    }
    jobs
}

/// Entry point of `cargo xtask ci`.
pub(crate) fn run(given: &[Job]) -> Result<()> {
    let jobs = select_jobs(given);
    let mut results: Vec<(Job, Duration, bool)> = Vec::new();
    for &job in &jobs {
        let start = Instant::now();
        let outcome = run_job(job);
        let elapsed = start.elapsed();
        results.push((job, elapsed, outcome.is_ok()));
        match outcome {
            Ok(()) => println!("<== {}: ok in {:.1}s\n", job.name(), elapsed.as_secs_f64()),
            Err(err) => {
                println!("<== {}: FAILED in {:.1}s\n", job.name(), elapsed.as_secs_f64());
                print_summary(&jobs, &results);
                return Err(err.context(format!("CI job `{}` failed", job.name())));
            }
        }
    }
    print_summary(&jobs, &results);
    Ok(())
}

fn print_summary(jobs: &[Job], results: &[(Job, Duration, bool)]) {
    println!("CI summary:");
    for job in jobs {
        match results.iter().find(|(done, _, _)| done == job) {
            Some((_, elapsed, true)) => {
                println!("  {:<11} ok      {:>7.1}s", job.name(), elapsed.as_secs_f64());
            }
            Some((_, elapsed, false)) => {
                println!("  {:<11} FAILED  {:>7.1}s", job.name(), elapsed.as_secs_f64());
            }
            None => println!("  {:<11} skipped", job.name()),
        }
    }
    let total: Duration = results.iter().map(|(_, elapsed, _)| *elapsed).sum();
    println!("  total               {:>7.1}s", total.as_secs_f64());
}

fn run_job(job: Job) -> Result<()> {
    match job {
        Job::Fmt => CargoCommand::new(job, &["fmt", "--all", "--", "--check"]).run(),
        Job::Clippy => CargoCommand::new(
            job,
            &["clippy", "--workspace", "--all-targets", "--all-features", "--", "-D", "warnings"],
        )
        .run(),
        Job::Deps => {
            println!("==> deps: cargo xtask deps");
            deps::run().map_err(|err| anyhow!("{err:#}\nreproduce with: cargo xtask deps"))
        }
        Job::Wasm => {
            if !wasm_target_installed() {
                println!("==> wasm: rustup target add {WASM_TARGET}");
                let added = Command::new("rustup")
                    .args(["target", "add", WASM_TARGET])
                    .status()
                    .is_ok_and(|status| status.success());
                if !added {
                    println!("{}", "!".repeat(78));
                    println!(
                        "!!! wasm: SKIPPED: the {WASM_TARGET} target could not be installed here."
                    );
                    println!(
                        "!!! The check that appservice-types and appservice-dispatch build without an"
                    );
                    println!("!!! OS (no IO, no sockets, no runtime) did NOT run on this machine.");
                    println!("{}", "!".repeat(78));
                    return Ok(());
                }
            }
            CargoCommand::new(
                job,
                &[
                    "check",
                    "-p",
                    "appservice-types",
                    "-p",
                    "appservice-dispatch",
                    "--target",
                    WASM_TARGET,
                ],
            )
            .run()
        }
        Job::Test => {
            if cargo_subcommand_works("nextest") {
                CargoCommand::new(
                    job,
                    &[
                        "nextest",
                        "run",
                        "--workspace",
                        "--all-features",
                        "--no-fail-fast",
                        "--no-tests=pass",
                    ],
                )
                .run()?;
                // nextest does not run doctests.
                CargoCommand::new(job, &["test", "--workspace", "--all-features", "--doc"]).run()
            } else {
                println!("note: cargo-nextest not found; using `cargo test`");
                CargoCommand::new(job, &["test", "--workspace", "--all-features"]).run()
            }
        }
        Job::Conformance => {
            println!("==> conformance: cargo xtask conformance");
            let code = crate::conformance::run(&[])?;
            anyhow::ensure!(
                code == 0,
                "the conformance suite failed (exit {code})\nreproduce with: cargo xtask conformance"
            );
            Ok(())
        }
        Job::Doc => CargoCommand::new(job, &["doc", "--workspace", "--no-deps", "--all-features"])
            .env("RUSTDOCFLAGS", "-D warnings")
            .run(),
        Job::Deny => {
            if !cargo_subcommand_works("deny") {
                println!("note: cargo-deny not found; installing it first");
                CargoCommand::new(job, &["install", "--locked", "cargo-deny"]).run()?;
            }
            // The `advisories` check needs the advisory database from the network; it is not
            // run here.
            CargoCommand::new(
                job,
                &["deny", "check", "--hide-inclusion-graph", "bans", "licenses", "sources"],
            )
            .run()
        }
    }
}

const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Whether rustup reports the wasm target as installed.
fn wasm_target_installed() -> bool {
    Command::new("rustup").args(["target", "list", "--installed"]).output().is_ok_and(|out| {
        String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == WASM_TARGET)
    })
}

/// Whether `cargo <subcommand> --version` succeeds, i.e. the plugin is installed.
fn cargo_subcommand_works(subcommand: &str) -> bool {
    Command::new(cargo())
        .args([subcommand, "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A cargo invocation belonging to a job, run from the project root.
struct CargoCommand {
    job: Job,
    args: Vec<&'static str>,
    envs: Vec<(&'static str, &'static str)>,
}

impl CargoCommand {
    fn new(job: Job, args: &[&'static str]) -> Self {
        Self { job, args: args.to_vec(), envs: Vec::new() }
    }

    fn env(mut self, key: &'static str, value: &'static str) -> Self {
        self.envs.push((key, value));
        self
    }

    /// The command as a developer would type it.
    fn display(&self) -> String {
        let mut parts: Vec<String> =
            self.envs.iter().map(|(key, value)| format!("{key}=\"{value}\"")).collect();
        parts.push("cargo".to_owned());
        parts.extend(self.args.iter().map(|arg| (*arg).to_owned()));
        parts.join(" ")
    }

    fn run(&self) -> Result<()> {
        let display = self.display();
        println!("==> {}: {display}", self.job.name());
        let status = Command::new(cargo())
            .args(&self.args)
            .envs(self.envs.iter().copied())
            .current_dir(project_root()?)
            .status()
            .with_context(|| format!("failed to start `{display}`"))?;
        if !status.success() {
            bail!("`{display}` exited with {status}\nreproduce with: {display}");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_arguments_run_all_jobs_in_order() {
        assert_eq!(
            select_jobs(&[]),
            [
                Job::Fmt,
                Job::Clippy,
                Job::Deps,
                Job::Wasm,
                Job::Test,
                Job::Conformance,
                Job::Doc,
                Job::Deny
            ]
        );
    }

    #[test]
    fn named_jobs_run_in_given_order_once() {
        assert_eq!(select_jobs(&[Job::Test, Job::Fmt, Job::Test]), [Job::Test, Job::Fmt]);
    }

    /// The command line names the jobs as `name()` does (clap's `ValueEnum` derives them).
    #[test]
    fn job_names_are_the_command_line_names() {
        use clap::ValueEnum as _;
        for job in Job::ALL {
            assert_eq!(Job::from_str(job.name(), false), Ok(job));
        }
        assert_eq!(Job::value_variants(), Job::ALL);
    }

    #[test]
    fn display_is_copy_pasteable() {
        let doc =
            CargoCommand::new(Job::Doc, &["doc", "--no-deps"]).env("RUSTDOCFLAGS", "-D warnings");
        assert_eq!(doc.display(), "RUSTDOCFLAGS=\"-D warnings\" cargo doc --no-deps");
    }
}

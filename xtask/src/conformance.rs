//! `cargo xtask conformance [ARGS]...`: builds the conformance runner and `echo-appservice`,
//! then runs the suite (`crates/appservice-conformance-runner`; see `docs/conformance.md`).
//!
//! The runner is its own crate because it needs an HTTP stack, and this crate keeps its
//! dependencies to a minimum. Every argument is passed through (`cargo xtask conformance --help`
//! prints the runner's); without `--homeserver-profile` the suite runs under every homeserver
//! profile (Synapse and the Conduit family), so `cargo xtask ci`'s conformance job checks both.

use std::{path::PathBuf, process::Command};

use anyhow::{Context as _, Result};

use crate::{cargo, project_root};

/// Entry point: build, then run with `args`; returns the runner's exit code.
pub(crate) fn run(args: &[String]) -> Result<i32> {
    let root = project_root()?;
    let black_box_only = args.iter().any(|a| a == "--url" || a.starts_with("--url="))
        || args.first().is_some_and(|a| a == "coverage");
    let mut build = Command::new(cargo());
    build.current_dir(&root).args(["build", "--quiet", "-p", "appservice-conformance-runner"]);
    if !black_box_only {
        build.args(["-p", "echo-appservice"]);
    }
    println!(
        "==> conformance: cargo build -p appservice-conformance-runner{}",
        if black_box_only { "" } else { " -p echo-appservice" }
    );
    let status = build.status().context("failed to start cargo build")?;
    anyhow::ensure!(status.success(), "building the conformance runner failed");
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let bin = target.join("debug").join("appservice-conformance");
    let mut runner = Command::new(&bin);
    runner.current_dir(&root);
    if !black_box_only && !args.iter().any(|a| a.starts_with("--echo-bin")) {
        runner.arg("--echo-bin").arg(target.join("debug").join("echo-appservice"));
    }
    runner.args(args);
    let status = runner.status().with_context(|| format!("failed to start {}", bin.display()))?;
    Ok(status.code().unwrap_or(1))
}

//! `cargo xtask bench [--quick] [--reps N] [--json FILE] [--dir DIR] [--alt BIN]`: the load test.
//!
//! Builds and runs the unpublished `appservice-bench` crate in release mode (`cargo run
//! --release -p appservice-bench -- ARGS`). The servers, the floors and the load generator live
//! there, not in xtask, because xtask's own dependencies stay `anyhow`, `getrandom` and
//! `appservice-types` (no hyper, tokio or dispatcher here). What is measured and how to read it:
//! `docs/performance.md`. The criterion micro benchmarks are `cargo bench -p appservice-bench`.

use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::{cargo, project_root};

/// The arguments `appservice-bench` accepts, checked here so that a typo fails before the
/// (slow) release build.
pub(crate) fn check_args(args: &[String]) -> Result<()> {
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => {}
            "--reps" | "--json" | "--dir" | "--alt" => {
                if it.next().is_none() {
                    bail!("`{arg}` needs a value");
                }
            }
            other => bail!("unknown `bench` argument `{other}`"),
        }
    }
    Ok(())
}

/// Entry point of `cargo xtask bench`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    check_args(args)?;
    let root = project_root()?;
    // cargo runs the bench from the workspace root: make paths relative to where we were called.
    let cwd = std::env::current_dir()?;
    let mut args = args.to_vec();
    for i in 1..args.len() {
        if matches!(args[i - 1].as_str(), "--json" | "--dir" | "--alt") {
            args[i] = cwd.join(&args[i]).display().to_string();
        }
    }
    let mut command = Command::new(cargo());
    command
        .current_dir(&root)
        .args(["run", "--quiet", "--release", "--package", "appservice-bench", "--"])
        .args(&args);
    println!("==> bench: cargo run --release -p appservice-bench -- {}", args.join(" "));
    let status = command.status().context("running cargo")?;
    if !status.success() {
        bail!("appservice-bench failed ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn accepts_the_documented_arguments() {
        check_args(&strings(&[])).unwrap();
        check_args(&strings(&["--quick", "--json", "out.json"])).unwrap();
        check_args(&strings(&["--reps", "3", "--dir", "/tmp"])).unwrap();
    }

    #[test]
    fn rejects_unknown_and_incomplete_arguments() {
        assert!(check_args(&strings(&["--fast"])).is_err());
        assert!(check_args(&strings(&["--json"])).is_err());
    }
}

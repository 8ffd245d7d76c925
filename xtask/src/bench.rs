//! `cargo xtask bench [--quick] [--reps N] [--json FILE] [--dir DIR] [--alt BIN]`: the load test.
//!
//! Builds and runs the unpublished `appservice-bench` crate in release mode (`cargo run
//! --release -p appservice-bench -- ARGS`). The servers, the floors and the load generator live
//! there, not in xtask, so xtask needs no hyper, tokio or dispatcher. What is measured and how to
//! read it: `docs/performance.md`. The criterion micro benchmarks are `cargo bench -p
//! appservice-bench`.

use std::{ffi::OsString, path::PathBuf, process::Command};

use anyhow::{Context as _, Result, bail};

use crate::{cargo, project_root};

/// The driver options of `appservice-bench`, checked here so that a typo fails before the
/// (slow) release build.
#[derive(Clone, Debug, Default, PartialEq, Eq, clap::Args)]
pub(crate) struct BenchArgs {
    /// One repetition of smaller workloads (CI smoke test).
    #[arg(long)]
    quick: bool,
    /// Repetitions of every pairing (default 7; 1 with --quick).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    reps: Option<u32>,
    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Where the file stores and the fsync floor write (default: the system temp dir).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Also run `BIN server ours-memory` (another build of appservice-bench) as `alt-memory`.
    #[arg(long, value_name = "BIN")]
    alt: Option<PathBuf>,
}

impl BenchArgs {
    /// The arguments for `appservice-bench`, paths made absolute against `cwd` (cargo runs the
    /// bench from the workspace root).
    fn to_args(&self, cwd: &std::path::Path) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        if self.quick {
            args.push("--quick".into());
        }
        if let Some(reps) = self.reps {
            args.extend(["--reps".into(), reps.to_string().into()]);
        }
        for (flag, path) in [("--json", &self.json), ("--dir", &self.dir), ("--alt", &self.alt)] {
            if let Some(path) = path {
                args.extend([flag.into(), cwd.join(path).into_os_string()]);
            }
        }
        args
    }
}

/// Entry point of `cargo xtask bench`.
pub(crate) fn run(bench: &BenchArgs) -> Result<()> {
    let root = project_root()?;
    let args = bench.to_args(&std::env::current_dir()?);
    let mut command = Command::new(cargo());
    command
        .current_dir(&root)
        .args(["run", "--quiet", "--release", "--package", "appservice-bench", "--"])
        .args(&args);
    let shown: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    println!("==> bench: cargo run --release -p appservice-bench -- {}", shown.join(" "));
    let status = command.status().context("running cargo")?;
    if !status.success() {
        bail!("appservice-bench failed ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn paths_become_absolute_and_flags_pass_through() {
        let args = BenchArgs {
            quick: true,
            reps: Some(3),
            json: Some("out.json".into()),
            dir: Some("/tmp".into()),
            alt: None,
        };
        let args: Vec<String> = args
            .to_args(Path::new("/work"))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(args, ["--quick", "--reps", "3", "--json", "/work/out.json", "--dir", "/tmp"]);
        assert!(BenchArgs::default().to_args(Path::new("/")).is_empty());
    }
}

//! `--help` on every subcommand exits 0; `--version` works; a bad flag is a usage error (2).

use appservice_cli::Cli;
use clap::CommandFactory as _;

use crate::{appservice, text};

/// Every subcommand path of the command line: `[]`, `["registration"]`, …
fn subcommand_paths(command: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
    out.push(prefix.to_vec());
    for sub in command.get_subcommands() {
        let mut path = prefix.to_vec();
        path.push(sub.get_name().to_owned());
        subcommand_paths(sub, &path, out);
    }
}

#[test]
fn help_on_every_subcommand_exits_0() {
    let mut paths = Vec::new();
    subcommand_paths(&Cli::command(), &[], &mut paths);
    let mut expected: Vec<&[&str]> =
        vec![&["registration", "check"], &["registration", "generate"]];
    if cfg!(feature = "conformance") {
        expected.push(&["conformance"]);
    }
    for expected in expected {
        assert!(paths.iter().any(|p| p == expected), "{expected:?} not in {paths:?}");
    }
    for path in paths {
        let output = appservice(path.iter().map(String::as_str).chain(["--help"]));
        assert_eq!(output.status.code(), Some(0), "{path:?} --help: {}", text(&output));
        assert!(String::from_utf8_lossy(&output.stdout).contains("Usage:"), "{path:?}");
    }
}

#[test]
fn version_prints_the_crate_version() {
    let output = appservice(["--version"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.trim(), format!("appservice {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn a_bad_command_line_is_a_usage_error() {
    for bad in [
        &["--bogus"][..],
        &[],
        &["registration", "check"],
        &["registration", "generate", "--id", "a"],
        &["registration", "check", "r.yaml", "--homeserver-profile", "dendrite"],
    ] {
        let output = appservice(bad);
        assert_eq!(output.status.code(), Some(2), "{bad:?}: {}", text(&output));
        assert!(text(&output).contains("--help"), "{bad:?}: {}", text(&output));
    }
}

#[cfg(feature = "conformance")]
#[test]
fn conformance_needs_its_token() {
    let output = appservice(["conformance", "--url", "http://127.0.0.1:9"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("--hs-token"), "{}", text(&output));
}

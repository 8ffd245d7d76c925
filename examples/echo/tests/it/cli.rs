//! The binary's command line: `--help` and `--version` exit 0, a bad flag is clap's usage
//! error (exit code 2).

use std::process::{Command, Output};

fn echo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_echo-appservice")).args(args).output().unwrap()
}

#[test]
fn help_and_version_exit_0() {
    let help = echo(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in
        ["--registration", "--homeserver", "--database", "--store", "--server-name", "--listen"]
    {
        assert!(text.contains(flag), "{flag} not in:\n{text}");
    }
    assert_eq!(echo(&["--version"]).status.code(), Some(0));
}

#[test]
fn a_bad_flag_is_a_usage_error() {
    for bad in [
        &["--bogus"][..],
        &["--registration", "r"],
        &["--registration=r", "--homeserver=h", "--listen=x"],
    ] {
        let output = echo(bad);
        assert_eq!(output.status.code(), Some(2), "{bad:?}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("error:"), "{bad:?}");
    }
}

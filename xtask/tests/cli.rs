//! xtask's command line, through the real binary: `--help` on every subcommand exits 0, a bad
//! argument is a usage error (2), and `registration generate` then `check` round-trip (the
//! commands themselves are `appservice-cli`'s, tested there).

use std::{
    os::unix::fs::PermissionsExt as _,
    process::{Command, Output},
};

fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask")).args(args).output().expect("cannot run xtask")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn help_on_every_subcommand_exits_0() {
    // `conformance --help` is the runner's (tested in its crate): it builds the runner first.
    for path in [
        &[][..],
        &["ci"],
        &["deps"],
        &["registration"],
        &["registration", "check"],
        &["registration", "generate"],
        &["bench"],
        &["interop"],
    ] {
        let output = xtask(&[path, &["--help"]].concat());
        assert_eq!(output.status.code(), Some(0), "{path:?}: {}", text(&output));
        assert!(text(&output).contains("Usage: cargo xtask"), "{path:?}: {}", text(&output));
    }
    let help = text(&xtask(&["help"]));
    for command in ["ci", "deps", "registration", "conformance", "bench", "interop"] {
        assert!(help.contains(command), "{command} not in:\n{help}");
    }
}

#[test]
fn a_bad_argument_is_a_usage_error() {
    for bad in [
        &["bench", "--fast"][..],
        &["ci", "lint"],
        &["registration", "generate", "--id", "x"],
        &["registration", "check", "--bogus", "f"],
        &["interop", "extra"],
        &["nope"],
    ] {
        let output = xtask(bad);
        assert_eq!(output.status.code(), Some(2), "{bad:?}: {}", text(&output));
    }
}

#[test]
fn registration_generate_then_check() {
    let dir = std::env::temp_dir().join(format!("xtask-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("registration.yaml");
    let _ = std::fs::remove_file(&file);
    let file_arg = file.to_str().unwrap();
    let generate = ["registration", "generate", "--id=a", "--url=http://h", "--localpart=bot"];
    let generated = xtask(&[&generate[..], &["--output", file_arg]].concat());
    assert!(generated.status.success(), "{}", text(&generated));
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let checked = xtask(&["registration", "check", file_arg, "--homeserver-profile=all"]);
    assert_eq!(checked.status.code(), Some(0), "{}", text(&checked));
    assert!(text(&checked).contains("0 error(s)"), "{}", text(&checked));
    let _ = std::fs::remove_dir_all(&dir);
}

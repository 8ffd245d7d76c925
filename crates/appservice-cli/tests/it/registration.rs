//! `appservice registration generate` and `check`, through the binary.

use std::{os::unix::fs::PermissionsExt as _, path::Path, process::Output};

use crate::{appservice, text};

fn generate(output: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "registration",
        "generate",
        "--id",
        "irc-bridge",
        "--url",
        "http://localhost:9999",
        "--localpart",
        "_irc_bot",
        "--users",
        "@_irc_.*:example\\.org",
        "--aliases",
        "#_irc_.*:example\\.org",
        "--rate-limited",
        "false",
        "--output",
        output.to_str().expect("non-UTF-8 temp path"),
    ];
    args.extend_from_slice(extra);
    appservice(args)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("cannot stat file").permissions().mode() & 0o777
}

/// The value of `key: value` in the generated YAML.
fn yaml_value(yaml: &str, key: &str) -> String {
    let prefix = format!("{key}:");
    let line = yaml.lines().find(|line| line.starts_with(&prefix)).expect("key not in YAML");
    line[prefix.len()..].trim().trim_matches(|c| c == '"' || c == '\'').to_owned()
}

#[test]
fn generate_writes_a_private_file_that_passes_check() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("registration.yaml");

    let generated = generate(&file, &[]);
    assert!(generated.status.success(), "{}", text(&generated));
    assert_eq!(mode(&file), 0o600);

    let yaml = std::fs::read_to_string(&file).unwrap();
    let as_token = yaml_value(&yaml, "as_token");
    let hs_token = yaml_value(&yaml, "hs_token");
    for token in [&as_token, &hs_token] {
        assert_eq!(token.len(), 64, "{yaml}");
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(!text(&generated).contains(token.as_str()), "a token was printed");
    }
    assert_ne!(as_token, hs_token);

    let checked = appservice(["registration", "check", file.to_str().unwrap()]);
    let report = text(&checked);
    assert_eq!(checked.status.code(), Some(0), "{report}");
    assert!(report.contains("0 error(s)"), "{report}");
    assert!(!report.contains(as_token.as_str()) && !report.contains(hs_token.as_str()));
}

#[test]
fn generate_with_a_prefix_is_clean_on_every_homeserver_profile() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("registration.yaml");
    let generated = appservice([
        "registration",
        "generate",
        "--id=echo",
        "--url=http://127.0.0.1:8009",
        "--localpart=_echo_bot",
        "--server-name=example.org",
        "--prefix=_echo_",
        "--rate-limited=false",
        "--output",
        file.to_str().unwrap(),
    ]);
    assert!(generated.status.success(), "{}", text(&generated));
    let checked = appservice([
        "registration",
        "check",
        file.to_str().unwrap(),
        "--server-name",
        "example.org",
        "--homeserver-profile",
        "all",
    ]);
    assert_eq!(text(&checked).trim(), "0 error(s), 0 warning(s)");
}

#[test]
fn generate_refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("registration.yaml");
    std::fs::write(&file, "keep me").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();

    let refused = generate(&file, &[]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused).contains("--force"), "{}", text(&refused));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");

    let forced = generate(&file, &["--force"]);
    assert!(forced.status.success(), "{}", text(&forced));
    assert_eq!(mode(&file), 0o600);
    assert!(std::fs::read_to_string(&file).unwrap().contains("irc-bridge"));
}

#[test]
fn generate_refuses_a_registration_with_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("registration.yaml");
    let refused = generate(&file, &["--users", "@_irc_(unclosed:example\\.org"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(text(&refused).contains("error["), "{}", text(&refused));
    assert!(!file.exists());
}

#[test]
fn check_fails_on_errors_and_on_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("registration.yaml");
    std::fs::write(&file, "id: x\nurl: null\n").unwrap();
    let checked = appservice(["registration", "check", file.to_str().unwrap()]);
    assert_eq!(checked.status.code(), Some(1));
    let report = text(&checked);
    assert!(report.contains("error["), "{report}");
    assert!(report.lines().any(|line| line.ends_with("warning(s)")), "{report}");

    let missing = appservice(["registration", "check", "/nonexistent/registration.yaml"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing).starts_with("error: cannot read /nonexistent/registration.yaml"));
}

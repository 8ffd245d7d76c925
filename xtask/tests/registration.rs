//! End-to-end test of `xtask registration generate` and `check`, through the real binary.

use std::{
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::{Command, Output},
    time::{SystemTime, UNIX_EPOCH},
};

/// A fresh, empty directory under the system temp dir; removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos =
            SystemTime::now().duration_since(UNIX_EPOCH).expect("clock before 1970").as_nanos();
        let dir =
            std::env::temp_dir().join(format!("xtask-test-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir).expect("cannot create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask")).args(args).output().expect("cannot run xtask")
}

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
    xtask(&args)
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

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn generate_writes_private_file_that_passes_check() {
    let dir = TempDir::new("generate");
    let file = dir.0.join("registration.yaml");

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

    let checked = xtask(&["registration", "check", file.to_str().unwrap()]);
    let report = text(&checked);
    assert!(checked.status.success(), "{report}");
    assert!(report.contains("0 error(s)"), "{report}");
    assert!(!report.contains(as_token.as_str()) && !report.contains(hs_token.as_str()));
}

#[test]
fn generate_refuses_to_overwrite_without_force() {
    let dir = TempDir::new("overwrite");
    let file = dir.0.join("registration.yaml");
    std::fs::write(&file, "keep me").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();

    let refused = generate(&file, &[]);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("--force"), "{}", text(&refused));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");

    let forced = generate(&file, &["--force"]);
    assert!(forced.status.success(), "{}", text(&forced));
    assert_eq!(mode(&file), 0o600);
    assert!(std::fs::read_to_string(&file).unwrap().contains("irc-bridge"));
}

#[test]
fn generate_refuses_a_registration_with_errors() {
    let dir = TempDir::new("invalid");
    let file = dir.0.join("registration.yaml");
    let refused = generate(&file, &["--users", "@_irc_(unclosed:example\\.org"]);
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(text(&refused).contains("error["), "{}", text(&refused));
    assert!(!file.exists());
}

#[test]
fn check_fails_on_errors() {
    let dir = TempDir::new("check");
    let file = dir.0.join("registration.yaml");
    std::fs::write(&file, "id: x\nurl: null\n").unwrap();
    let checked = xtask(&["registration", "check", file.to_str().unwrap()]);
    assert!(!checked.status.success());
    let report = text(&checked);
    assert!(report.contains("error["), "{report}");
    assert!(report.lines().any(|line| line.ends_with("warning(s)")), "{report}");
}

//! The suite as a new user would run it: `--url` against a tiny appservice written in Python
//! (`tests/data/tiny_appservice.py`) with known bugs. Exactly those must be reported.

#![allow(clippy::unwrap_used)] // Test code: a panic is the failure report.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
};

use serde_json::Value;

struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn finds_exactly_the_bugs_of_a_tiny_python_appservice() {
    let dir = std::env::temp_dir().join(format!("conformance-python-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (port, cs_port) = (free_port(), free_port());
    let hs_token = "python_hs_token_0123456789abcdef0123456789abcdef";
    let registration = dir.join("registration.yaml");
    std::fs::write(
        &registration,
        format!(
            "id: tiny\nurl: http://127.0.0.1:{port}\nas_token: python_as_token_0123456789abcdef0123456789ab\n\
             hs_token: {hs_token}\nsender_localpart: _tiny_bot\nrate_limited: false\nnamespaces:\n  \
             users: [{{exclusive: true, regex: '^@_tiny_.*:example\\.org$'}}]\n  \
             aliases: [{{exclusive: true, regex: '^#_tiny_.*:example\\.org$'}}]\n"
        ),
    )
    .unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tiny_appservice.py");
    let mut child = Command::new("python3")
        .args([script, &port.to_string(), hs_token])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is needed for this test");
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut ready).unwrap();
    assert_eq!(ready.trim(), "ready");
    let _child = Kill(child);

    let json = dir.join("results.json");
    let output = Command::new(env!("CARGO_BIN_EXE_appservice-conformance"))
        .args(["--url", &format!("http://127.0.0.1:{port}"), "--hs-token", hs_token])
        .arg("--registration")
        .arg(&registration)
        .args(["--server-name", "example.org", "--cs-listen", &format!("127.0.0.1:{cs_port}")])
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "must-level violations fail the run:\n{stdout}");
    let last = stdout.lines().last().unwrap_or_default();
    assert!(last.ends_with("skipped") && last.contains(" passed, "), "closing line: {last}");

    let results: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    // The suite ran under both homeserver profiles (the default), and found the same bugs.
    for profile in ["synapse", "conduit"] {
        let with = |status: &str| -> Vec<String> {
            let mut ids: Vec<String> = results["cases"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["status"] == status && c["profile"] == profile)
                .map(|c| c["id"].as_str().unwrap().to_owned())
                .collect();
            ids.sort();
            ids
        };
        assert_eq!(
            with("fail"),
            [
                "must-auth-wrong-token",                     // bug 1
                "must-legacy-routes-served-or-unrecognized", // bug 2 (a plain 404 on /transactions/…)
                "must-ping-without-transaction-id",          // bug 4
                "must-query-user-registers-first",           // bug 5
                "must-unknown-routes",                       // bug 2
                "must-wrong-method",                         // bug 3
            ],
            "{profile}\n{stdout}"
        );
        let warned = with("warn");
        for expected in [
            "should-auth-header-query-mismatch", // the query token is not checked at all
            "should-error-bodies",               // bug 6: no `error` message
            "should-oversized-body-413",
            "should-query-user-outside-namespace", // bug 5: 200 for anyone
            "should-unsupported-msc3983-claim",    // bug 2
        ] {
            assert!(
                warned.iter().any(|w| w == expected),
                "{profile}: {expected} not warned; warned: {warned:?}\n{stdout}"
            );
        }
        assert!(
            with("skip").is_empty(),
            "{profile}: with a registration and a fake homeserver nothing is skipped\n{stdout}"
        );
        assert!(!with("pass").is_empty(), "{profile}: ran\n{stdout}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

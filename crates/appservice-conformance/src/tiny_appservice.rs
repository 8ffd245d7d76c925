//! A tiny appservice in Python (`data/tiny_appservice.py`, stdlib only) with known bugs: the
//! target of the tests that run the black-box suite as a new user would, with `--url`. Those
//! bugs, and only those, must be reported.
//!
//! ```no_run
//! use appservice_conformance::tiny_appservice::TinyAppservice;
//!
//! let tiny = TinyAppservice::start();
//! let output = std::process::Command::new("appservice").arg("conformance").args(tiny.suite_args()).output()?;
//! tiny.assert_known_bugs(&output);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::{
    ffi::OsString,
    io::{BufRead as _, BufReader},
    path::PathBuf,
    process::{Child, Command, Output, Stdio},
};

use serde_json::Value;

/// The `hs_token` of the tiny appservice's registration.
pub const HS_TOKEN: &str = "python_hs_token_0123456789abcdef0123456789abcdef";

/// The must-level cases the tiny appservice fails (its bugs 1 to 5).
pub const KNOWN_FAILURES: [&str; 6] = [
    "must-auth-wrong-token",                     // bug 1
    "must-legacy-routes-served-or-unrecognized", // bug 2 (a plain 404 on /transactions/…)
    "must-ping-without-transaction-id",          // bug 4
    "must-query-user-registers-first",           // bug 5
    "must-unknown-routes",                       // bug 2
    "must-wrong-method",                         // bug 3
];

/// Should-level cases it is warned about (among others).
pub const KNOWN_WARNINGS: [&str; 5] = [
    "should-auth-header-query-mismatch", // the query token is not checked at all
    "should-error-bodies",               // bug 6: no `error` message
    "should-oversized-body-413",
    "should-query-user-outside-namespace", // bug 5: 200 for anyone
    "should-unsupported-msc3983-claim",    // bug 2
];

/// The running tiny appservice (killed on drop), its registration, and a port for the suite's
/// fake homeserver.
#[derive(Debug)]
pub struct TinyAppservice {
    child: Child,
    dir: PathBuf,
    port: u16,
    cs_port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl TinyAppservice {
    /// Starts it with `python3` on a free loopback port and waits until it listens; writes its
    /// registration (users `@_tiny_*`, aliases `#_tiny_*` on `example.org`) in a fresh
    /// directory.
    pub fn start() -> Self {
        let (port, cs_port) = (free_port(), free_port());
        let dir =
            std::env::temp_dir().join(format!("tiny-appservice-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("registration.yaml"),
            format!(
                "id: tiny\nurl: http://127.0.0.1:{port}\nas_token: python_as_token_0123456789abcdef0123456789ab\n\
                 hs_token: {HS_TOKEN}\nsender_localpart: _tiny_bot\nrate_limited: false\nnamespaces:\n  \
                 users: [{{exclusive: true, regex: '^@_tiny_.*:example\\.org$'}}]\n  \
                 aliases: [{{exclusive: true, regex: '^#_tiny_.*:example\\.org$'}}]\n"
            ),
        )
        .unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/data/tiny_appservice.py");
        let mut child = Command::new("python3")
            .args([script, &port.to_string(), HS_TOKEN])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 is needed for this test");
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut ready).unwrap();
        assert_eq!(ready.trim(), "ready");
        Self { child, dir, port, cs_port }
    }

    /// Where the suite writes its JSON results (`--json`).
    pub fn results_path(&self) -> PathBuf {
        self.dir.join("results.json")
    }

    /// The suite's arguments for it: `--url`, `--hs-token`, `--registration`, `--server-name`,
    /// `--cs-listen` and `--json` ([`results_path`](Self::results_path)).
    pub fn suite_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = [
            "--url",
            &format!("http://127.0.0.1:{}", self.port),
            "--hs-token",
            HS_TOKEN,
            "--server-name",
            "example.org",
            "--cs-listen",
            &format!("127.0.0.1:{}", self.cs_port),
        ]
        .iter()
        .map(OsString::from)
        .collect();
        args.extend(["--registration".into(), self.dir.join("registration.yaml").into()]);
        args.extend(["--json".into(), self.results_path().into()]);
        args
    }

    /// Checks a run of the suite with [`suite_args`](Self::suite_args) under both homeserver
    /// profiles: it failed, its closing line is the totals, and under each profile exactly
    /// [`KNOWN_FAILURES`] failed, [`KNOWN_WARNINGS`] warned, nothing was skipped and the rest
    /// passed.
    pub fn assert_known_bugs(&self, output: &Output) {
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(!output.status.success(), "must-level violations fail the run:\n{stdout}");
        let last = stdout.lines().last().unwrap_or_default();
        assert!(last.ends_with("skipped") && last.contains(" passed, "), "closing line: {last}");
        let results: Value =
            serde_json::from_str(&std::fs::read_to_string(self.results_path()).unwrap()).unwrap();
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
            assert_eq!(with("fail"), KNOWN_FAILURES, "{profile}\n{stdout}");
            let warned = with("warn");
            for expected in KNOWN_WARNINGS {
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
    }
}

impl Drop for TinyAppservice {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

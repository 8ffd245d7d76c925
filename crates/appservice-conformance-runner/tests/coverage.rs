//! Every testable checklist item has a case or a written reason, and `docs/conformance.md`'s
//! coverage table is current.

#[test]
fn coverage_is_complete_and_current() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_appservice-conformance"))
        .args(["coverage", "--check"])
        .output()
        .expect("the runner starts");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

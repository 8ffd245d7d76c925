//! The suite as a new user would run it: `--url` against a tiny appservice written in Python
//! (`appservice_conformance::tiny_appservice`) with known bugs. Exactly those must be reported.

use appservice_conformance::tiny_appservice::TinyAppservice;

#[test]
fn finds_exactly_the_bugs_of_a_tiny_python_appservice() {
    let tiny = TinyAppservice::start();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_appservice-conformance"))
        .args(tiny.suite_args())
        .output()
        .expect("the runner starts");
    tiny.assert_known_bugs(&output);
}

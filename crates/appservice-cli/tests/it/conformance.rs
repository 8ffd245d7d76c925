//! `appservice conformance --url` against the tiny Python appservice with known bugs.

use appservice_conformance::tiny_appservice::TinyAppservice;

use crate::appservice;

#[test]
fn finds_exactly_the_bugs_of_a_tiny_python_appservice() {
    let tiny = TinyAppservice::start();
    let output = appservice(["conformance".into()].into_iter().chain(tiny.suite_args()));
    tiny.assert_known_bugs(&output);
    assert_eq!(output.status.code(), Some(1));
}

//! `fixtures/dispatch/*.json` through the dispatcher, in process (the format is described in
//! `appservice_conformance::cases`). Adding a case needs no Rust.

use appservice_conformance::cases;

#[test]
fn dispatch_fixtures() {
    for case in cases::dispatch_cases() {
        let (d, recorder) = case.dispatcher();
        for (i, (request, expect)) in case.steps().into_iter().enumerate() {
            let response = futures::executor::block_on(d.dispatch(cases::build_request(request)));
            let calls = recorder.take_calls();
            if let Err(e) = cases::check_response(
                expect,
                response.status().as_u16(),
                response.headers(),
                response.body(),
                &calls,
            ) {
                panic!("{} step {i}: {e}", case.name);
            }
        }
    }
}

//! Every `fixtures/dispatch/` case through the real server, over HTTP/1.1 and h2c.

use appservice_conformance::cases;
use appservice_tower::{Appservice, ServeConfig};

use crate::support::{Server, client, h2c_client, send};

async fn run_all(h2: bool) {
    let http = if h2 { h2c_client() } else { client() };
    for case in cases::dispatch_cases() {
        let (dispatcher, recorder) = case.dispatcher();
        let mut server = Server::start(Appservice::new(dispatcher), ServeConfig::new()).await;
        for (i, (request, expect)) in case.steps().into_iter().enumerate() {
            let (status, headers, body) = send(&http, &server, cases::build_request(request)).await;
            let calls = recorder.take_calls();
            if let Err(e) = cases::check_response(expect, status, &headers, &body, &calls) {
                panic!("{} step {i} (h2: {h2}): {e}", case.name);
            }
        }
        server.shut_down();
        server.task.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn dispatch_fixtures_over_http1() {
    run_all(false).await;
}

#[tokio::test]
async fn dispatch_fixtures_over_h2c() {
    run_all(true).await;
}

//! What one transaction costs in memory is bounded by its body, whatever its shape: each shape
//! is dispatched in a child process (this test binary, re-run with [`CHILD_ENV`]) under a
//! 1 GiB address-space limit, which reports its peak resident memory.

use std::process::Command;

use appservice_conformance::handler::{HS_TOKEN, Recorder, Script, registration};
use appservice_dispatch::Dispatcher;
use appservice_tower::Appservice;
use bytes::Bytes;
use http_body_util::Full;
use tower::ServiceExt as _;

const CHILD_ENV: &str = "APPSERVICE_TOWER_MEMORY_SHAPE";
const BODY: usize = 32 << 20; // the default body limit
const PREFIX: &str = r#"{"events":["#;

/// A body of just under [`BODY`] bytes of the given shape.
fn body(shape: &str) -> String {
    let room = BODY - 1024;
    let mut b = String::with_capacity(BODY);
    b.push_str(PREFIX);
    match shape {
        // Millions of the smallest events.
        "tiny" => {
            b.push('0');
            while b.len() < room {
                b.push_str(",0");
            }
            b.push_str("]}");
        }
        // As many events as the cap allows, each as large as fits.
        "at-cap" => {
            let each = room / appservice_dispatch::DEFAULT_MAX_EVENTS;
            for i in 0..appservice_dispatch::DEFAULT_MAX_EVENTS {
                if i > 0 {
                    b.push(',');
                }
                let head = format!(
                    r#"{{"type":"m.room.message","event_id":"${i}","room_id":"!r:x","sender":"@a:x","origin_server_ts":1,"content":{{"body":""#
                );
                b.push_str(&head);
                b.extend(std::iter::repeat_n('x', each.saturating_sub(head.len() + 4)));
                b.push_str(r#""}}"#);
            }
            b.push_str("]}");
        }
        // One event as large as the body.
        "huge" => {
            b.push_str(r#"{"type":"m.room.message","event_id":"$1","room_id":"!r:x","sender":"@a:x","origin_server_ts":1,"content":{"body":""#);
            b.extend(std::iter::repeat_n('x', room - b.len()));
            b.push_str(r#""}}]}"#);
        }
        // Nesting as deep as the body allows.
        "deep" => {
            let depth = (room - b.len()) / 2;
            b.extend(std::iter::repeat_n('[', depth));
            b.extend(std::iter::repeat_n(']', depth));
            b.push_str("]}");
        }
        other => panic!("unknown shape {other}"),
    }
    b
}

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap();
    line.trim().trim_end_matches(" kB").parse().unwrap()
}

/// Run as a child process by `peak_memory_per_transaction_is_bounded_by_its_body`.
#[test]
fn memory_child() {
    let Ok(shape) = std::env::var(CHILD_ENV) else { return };
    rlimit::setrlimit(rlimit::Resource::AS, 1 << 30, rlimit::INFINITY).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let app =
        Appservice::new(Dispatcher::new(registration("null"), Recorder::new(Script::default())));
    let body = Bytes::from(body(&shape));
    let before = vm_hwm_kib();
    let request = http::Request::put("/_matrix/app/v1/transactions/1")
        .header("authorization", format!("Bearer {HS_TOKEN}"))
        .header("content-length", body.len())
        .body(Full::new(body))
        .unwrap();
    let response = runtime.block_on(app.oneshot(request)).unwrap();
    let peak = vm_hwm_kib() - before;
    #[allow(clippy::print_stdout)] // The parent reads it.
    {
        println!("\nRESULT {} {peak}", response.status().as_u16());
    }
}

#[test]
fn peak_memory_per_transaction_is_bounded_by_its_body() {
    let mut report = Vec::new();
    for (shape, status) in [("tiny", 413), ("at-cap", 200), ("huge", 200), ("deep", 200)] {
        let output = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "memory::memory_child", "--nocapture"])
            .env(CHILD_ENV, shape)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{shape}: the child died ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or_default()
        );
        let (got, peak_kib) = stdout
            .lines()
            .find_map(|l| {
                let mut it = l.strip_prefix("RESULT ")?.split(' ');
                Some((it.next()?.parse::<u16>().ok()?, it.next()?.parse::<u64>().ok()?))
            })
            .unwrap_or_else(|| panic!("{shape}: no result in {stdout}"));
        report.push(format!("{shape}: {got}, +{} MiB", peak_kib / 1024));
        assert_eq!(got, status, "{shape}");
        let multiple = peak_kib as f64 * 1024.0 / BODY as f64;
        assert!(multiple <= 3.0, "{shape}: peak {peak_kib} KiB is {multiple:.2}x the body");
    }
    eprintln!("{}", report.join("; "));
}

/// Blocks every event until released.
#[derive(Clone)]
struct Blocking(std::sync::Arc<tokio::sync::Semaphore>);

impl appservice_dispatch::Handler for Blocking {
    async fn event(
        &self,
        _txn: &appservice_dispatch::TransactionContext<'_>,
        _event: appservice_dispatch::Event<'_>,
    ) -> Result<(), appservice_dispatch::HandlerError> {
        let permit = self.0.acquire().await.map_err(appservice_dispatch::HandlerError::failed)?;
        permit.forget();
        Ok(())
    }
}

fn transaction(txn: &str, padding: usize) -> http::Request<Full<Bytes>> {
    let body = format!(
        r#"{{"events":[{{"type":"m.room.message","event_id":"${txn}","room_id":"!r:x","sender":"@a:x","origin_server_ts":1,"content":{{"body":"{}"}}}}]}}"#,
        "x".repeat(padding)
    );
    http::Request::put(format!("/_matrix/app/v1/transactions/{txn}"))
        .header("authorization", format!("Bearer {HS_TOKEN}"))
        .header("content-length", body.len())
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

#[tokio::test]
async fn bodies_in_flight_are_bounded_by_the_budget() {
    let release = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let app = Appservice::with_config(
        Dispatcher::new(registration("null"), Blocking(release.clone())),
        appservice_tower::AppserviceConfig::new().body_budget(4_000),
    );
    // A 3 000-byte transaction is being handled: its body is held.
    let first = tokio::spawn(app.clone().oneshot(transaction("1", 2_800)));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    // Another 3 000 bytes do not fit: refused before the body is read, with a hint to retry.
    let refused = app.clone().oneshot(transaction("2", 2_800)).await.unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()[http::header::RETRY_AFTER], "1");
    let body = http_body_util::BodyExt::collect(refused.into_body()).await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["errcode"], "M_LIMIT_EXCEEDED");
    // A small one still fits beside it (queries, small transactions).
    let small = tokio::spawn(app.clone().oneshot(transaction("3", 10)));
    release.add_permits(2);
    assert_eq!(first.await.unwrap().unwrap().status(), 200);
    assert_eq!(small.await.unwrap().unwrap().status(), 200);
    // Once the first is done, its bytes are free again: the retry is served.
    release.add_permits(1);
    assert_eq!(app.oneshot(transaction("2", 2_800)).await.unwrap().status(), 200);
}

//! A thousand idle and slow connections under the usual limit of 1024 file descriptors do not
//! keep a real transaction out: it is answered within a second.
//!
//! The server runs in a child process (this test binary, re-run with [`CHILD_ENV`]) whose
//! descriptor limit is lowered to 1024, with the default [`ServeConfig`].

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use appservice_conformance::handler::{Recorder, Script, registration};
use appservice_dispatch::Dispatcher;
use appservice_tower::{Appservice, ServeConfig, serve_with};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::support::raw_transaction;

const CHILD_ENV: &str = "APPSERVICE_TOWER_FLOOD_CHILD";
const HOSTILE: usize = 1_100;

/// The server: run as a child process by `a_thousand_idle_connections_do_not_keep_the_homeserver_out`.
#[test]
fn flood_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    rlimit::setrlimit(rlimit::Resource::NOFILE, 1024, 1024).unwrap();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        // On a line of its own: libtest has printed the test's name without a newline.
        println!("\nADDR {}", listener.local_addr().unwrap());
        let app = Appservice::new(Dispatcher::new(
            registration("null"),
            Recorder::new(Script::default()),
        ));
        // Serves until the parent closes our standard input.
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
        });
        serve_with(listener, app, async { stdin_closed.await.unwrap() }, ServeConfig::new())
            .await
            .unwrap();
    });
}

#[tokio::test]
async fn a_thousand_idle_connections_do_not_keep_the_homeserver_out() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "flood::flood_child", "--nocapture", "--test-threads", "1"])
        .env(CHILD_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr: std::net::SocketAddr = lines
        .find_map(|l| l.ok()?.strip_prefix("ADDR ")?.trim().parse().ok())
        .expect("the child prints its address");

    let t0 = Instant::now();
    // The attack: more connections than the child has descriptors, of every kind.
    let mut hostile = Vec::new();
    for i in 0..HOSTILE {
        let Ok(mut stream) = TcpStream::connect(addr).await else { continue };
        let _ = match i % 4 {
            0 => Ok(()), // never sends
            1 => stream.write_all(b"PUT /_matrix/app/v1/transactions/x HTTP/1.1\r\nHo").await,
            2 => stream.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0").await,
            _ => stream.write_all(&raw_transaction(&format!("h{i}"))).await, // then idle
        };
        hostile.push(stream);
    }
    // Some keep trickling a request head, a byte at a time.
    let trickle = tokio::spawn(async move {
        for round in 0..20 {
            for stream in hostile.iter_mut().skip(1).step_by(8) {
                let _ = stream.write_all(&[b'a' + (round % 26) as u8]).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        hostile
    });
    eprintln!("{} hostile connections in {:?}", HOSTILE, t0.elapsed());
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The homeserver delivers a transaction on a new connection.
    let start = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(10), async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(&raw_transaction("real")).await.unwrap();
        let mut buf = vec![0; 1024];
        let n = stream.read(&mut buf).await.unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    })
    .await;
    let took = start.elapsed();
    eprintln!("answered after {took:?}");
    drop(trickle.await.unwrap());
    drop(child.stdin.take()); // shut the child down
    let stop = Instant::now();
    let status = child.wait().unwrap();
    eprintln!("child stopped after {:?}", stop.elapsed());
    let answer = answer.unwrap_or_else(|_| panic!("no answer within 10 s"));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(took < Duration::from_secs(1), "answered after {took:?}");
    assert!(status.success(), "the child shut down cleanly: {status}");
}

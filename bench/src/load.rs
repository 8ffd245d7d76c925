//! The load generator: hyper HTTP/1.1 client connections on loopback, pre-built bodies.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::{server::HS_TOKEN, workload::Plan};

/// What one workload run against one server measured on the client side.
#[derive(Debug)]
pub(crate) struct ClientRun {
    pub(crate) wall: Duration,
    /// One latency per request, sorted.
    pub(crate) latencies: Vec<Duration>,
}

async fn connect(port: u16) -> Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Ends when the sender is dropped or the server goes away.
        let _ = connection.await;
    });
    Ok(sender)
}

/// `GET /count` summed over the replicas of a bench server.
pub(crate) async fn count(ports: &[u16]) -> Result<u64> {
    let mut total = 0;
    for &port in ports {
        total += count_one(port).await?;
    }
    Ok(total)
}

async fn count_one(port: u16) -> Result<u64> {
    let mut sender = connect(port).await?;
    sender.ready().await?;
    let request =
        Request::get("/count").header("host", "127.0.0.1").body(Full::new(Bytes::new()))?;
    let response = sender.send_request(request).await?;
    ensure!(response.status() == 200, "GET /count answered {}", response.status());
    let body = response.into_body().collect().await?.to_bytes();
    std::str::from_utf8(&body)?.trim().parse().context("GET /count: not a number")
}

/// Runs `plan` against the server on `ports` (its replicas: each of the plan's connections is
/// one connection per replica, and its requests go round-robin over them, as a load balancer
/// would send them); transaction IDs are `{prefix}-{key}`.
pub(crate) async fn run(ports: &[u16], plan: &Plan, prefix: &str) -> Result<ClientRun> {
    // Connect first: connection setup is not part of the measurement.
    let mut senders = Vec::new();
    for _ in &plan.requests {
        let mut replicas = Vec::new();
        for &port in ports {
            replicas.push(connect(port).await?);
        }
        senders.push(replicas);
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (sender, list) in senders.into_iter().zip(&plan.requests) {
        let requests: Vec<(String, Bytes)> = list
            .iter()
            .map(|&(key, body)| {
                (format!("/_matrix/app/v1/transactions/{prefix}-{key}"), plan.bodies[body].clone())
            })
            .collect();
        tasks.spawn(connection(sender, requests));
    }
    let mut latencies = Vec::with_capacity(plan.sent as usize);
    while let Some(result) = tasks.join_next().await {
        latencies.extend(result??);
    }
    let wall = started.elapsed();
    latencies.sort_unstable();
    Ok(ClientRun { wall, latencies })
}

async fn connection(
    mut senders: Vec<SendRequest<Full<Bytes>>>,
    requests: Vec<(String, Bytes)>,
) -> Result<Vec<Duration>> {
    let mut latencies = Vec::with_capacity(requests.len());
    let replicas = senders.len();
    for (i, (path, body)) in requests.into_iter().enumerate() {
        let sender = &mut senders[i % replicas];
        let request = Request::put(path)
            .header("host", "127.0.0.1")
            .header("authorization", const_format_bearer())
            .header("content-type", "application/json")
            .body(Full::new(body))?;
        let start = Instant::now();
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        latencies.push(start.elapsed());
        if status != 200 || body.as_ref() != b"{}" {
            bail!("server answered {status}: {}", String::from_utf8_lossy(&body));
        }
    }
    Ok(latencies)
}

fn const_format_bearer() -> String {
    format!("Bearer {HS_TOKEN}")
}

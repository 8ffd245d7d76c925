//! A small HTTP/1.1 client on loopback (hyper-util), with a timeout on every request.

use std::{sync::OnceLock, time::Duration};

use anyhow::Context as _;
use bytes::Bytes;
use http::{HeaderMap, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

/// How long one request may take before it counts as hanging.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

fn client() -> &'static Client<HttpConnector, Full<Bytes>> {
    static CLIENT: OnceLock<Client<HttpConnector, Full<Bytes>>> = OnceLock::new();
    CLIENT.get_or_init(|| Client::builder(TokioExecutor::new()).build_http())
}

/// Sends `request` (its URI absolute); returns status, headers and body.
pub(crate) async fn request(request: Request<Bytes>) -> anyhow::Result<(u16, HeaderMap, Bytes)> {
    let (parts, body) = request.into_parts();
    let uri = parts.uri.clone();
    let send = client().request(Request::from_parts(parts, Full::new(body)));
    let response = tokio::time::timeout(REQUEST_TIMEOUT, send)
        .await
        .with_context(|| format!("no answer within {REQUEST_TIMEOUT:?}"))?
        .with_context(|| format!("request to {} failed", uri.path()))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = tokio::time::timeout(REQUEST_TIMEOUT, response.into_body().collect())
        .await
        .context("the body did not arrive in time")?
        .context("reading the body failed")?
        .to_bytes();
    Ok((status, headers, body))
}

/// Sends a JSON request with an optional Bearer token.
pub(crate) async fn send(
    url: &str,
    method: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> anyhow::Result<(u16, HeaderMap, Bytes)> {
    let mut builder =
        Request::builder().method(method).uri(url).header("content-type", "application/json");
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    request(builder.body(Bytes::from(body))?).await
}

/// Sends `request` over a fresh HTTP/1.1 connection, writing the body while reading the answer:
/// a server may answer (413) and close before a large body is written, which a regular client
/// reports as a failed write instead of the answer.
pub(crate) async fn request_streaming(
    request: Request<Bytes>,
) -> anyhow::Result<(u16, HeaderMap, Bytes)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (parts, body) = request.into_parts();
    let authority = parts.uri.authority().context("the URL has no host")?.to_string();
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: {}\r\nConnection: close\r\n",
        parts.method,
        parts.uri.path_and_query().map_or("/", |p| p.as_str()),
        body.len()
    );
    for (name, value) in &parts.headers {
        head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap_or_default()));
    }
    head.push_str("\r\n");
    let stream = tokio::net::TcpStream::connect(&authority)
        .await
        .with_context(|| format!("cannot connect to {authority}"))?;
    let (mut reader, mut writer) = stream.into_split();
    let write = tokio::spawn(async move {
        // A failed write is expected when the server answers early; the answer is what counts.
        if writer.write_all(head.as_bytes()).await.is_ok() {
            let _ = writer.write_all(&body).await;
        }
    });
    let mut raw = Vec::new();
    tokio::time::timeout(REQUEST_TIMEOUT, reader.read_to_end(&mut raw))
        .await
        .context("no answer in time")?
        .context("reading the answer failed")?;
    write.abort();
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> anyhow::Result<(u16, HeaderMap, Bytes)> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").context("no complete answer")?;
    let head = std::str::from_utf8(&raw[..split])?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .context("no status line")?;
    let mut headers = HeaderMap::new();
    for line in lines {
        if let Some((k, v)) = line.split_once(':')
            && let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k.trim().as_bytes()),
                http::HeaderValue::from_str(v.trim()),
            )
        {
            headers.append(k, v);
        }
    }
    let mut body = raw[split + 4..].to_vec();
    if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"))
    {
        body = dechunk(&body).context("a malformed chunked body")?;
    }
    Ok((status, headers, Bytes::from(body)))
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(
            std::str::from_utf8(&data[..line_end]).ok()?.split(';').next()?.trim(),
            16,
        )
        .ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

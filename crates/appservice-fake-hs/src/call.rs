//! [`call`]: one HTTP/1.1 request to a server under test, as a test sends it.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};

/// Sends `method url` with `Authorization: Bearer <token>` (if any) and `body`; the status and
/// the body, or why there was no answer within 20 s.
pub async fn call(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: &str,
) -> Result<(u16, Bytes), String> {
    let mut request = http::Request::builder().method(method).uri(url);
    if let Some(token) = token {
        request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request =
        request.body(Full::new(Bytes::from(body.to_owned()))).map_err(|e| e.to_string())?;
    let client = Client::builder(TokioExecutor::new()).build_http();
    let response = tokio::time::timeout(Duration::from_secs(20), client.request(request))
        .await
        .map_err(|_| format!("{method} {url}: no answer in 20 s"))?
        .map_err(|e| format!("{method} {url}: {e}"))?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((status, body))
}

//! The homeserver's side of the CS ping: it pings the appservice before it answers.

use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use serde_json::json;

use crate::Reply;

/// `POST {appservice}/_matrix/app/v1/ping` with `hs_token` and `body` (the `transaction_id`
/// the appservice sent us), as Synapse does before answering the CS ping: the appservice's
/// status and body, or why it could not be reached.
pub async fn ping_back(
    appservice: &str,
    hs_token: &str,
    body: Bytes,
) -> Result<(u16, Bytes), String> {
    let request = http::Request::post(format!("{appservice}/_matrix/app/v1/ping"))
        .header(http::header::AUTHORIZATION, format!("Bearer {hs_token}"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let client = Client::builder(TokioExecutor::new()).build_http();
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((status, body))
}

/// The CS ping's answer for a [`ping_back`] started at `started`: 200 `{"duration_ms"}` when the
/// appservice answered 2xx, else 502 `M_BAD_STATUS` with its `status` and `body`, or 502
/// `M_CONNECTION_FAILED` when it could not be reached (as Synapse answers).
pub fn ping_reply(result: Result<(u16, Bytes), String>, started: Instant) -> Reply {
    match result {
        Ok((status, _)) if (200..300).contains(&status) => {
            let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            Reply::json(200, json!({"duration_ms": ms}))
        }
        Ok((status, body)) => Reply::json(
            502,
            json!({
                "errcode": "M_BAD_STATUS",
                "error": format!("HTTP {status}"),
                "status": status,
                "body": String::from_utf8_lossy(&body),
            }),
        ),
        Err(e) => Reply::error(502, "M_CONNECTION_FAILED", &e),
    }
}

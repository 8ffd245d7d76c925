//! A fake homeserver Client-Server API on loopback: it records every request the appservice
//! makes (for the O items of the checklist) and answers like a homeserver would, including
//! calling the appservice back for `POST /_matrix/client/v1/appservice/{id}/ping`.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Instant,
};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

/// One request the appservice made.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub(crate) at: Instant,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) authorization: Option<String>,
    pub(crate) body: Value,
}

/// Who the fake homeserver is.
#[derive(Clone, Debug)]
pub(crate) struct Identity {
    pub(crate) server_name: String,
    pub(crate) bot: String,
    /// The appservice to call back on a ping: its base URL and `hs_token`.
    pub(crate) appservice: Option<(String, String)>,
}

/// A running fake homeserver.
#[derive(Clone)]
pub(crate) struct FakeHomeserver {
    pub(crate) addr: SocketAddr,
    recorded: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeHomeserver {
    pub(crate) async fn start(listen: &str, identity: Identity) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let recorded: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let state = (Arc::clone(&recorded), Arc::new(identity));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let state = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let (recorded, identity) = state.clone();
                        async move { Ok::<_, Infallible>(answer(req, &recorded, &identity).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { addr, recorded })
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The requests recorded so far.
    pub(crate) fn recorded(&self) -> Vec<Recorded> {
        self.recorded.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

fn json_response(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    r
}

async fn answer(
    req: Request<Incoming>,
    recorded: &Mutex<Vec<Recorded>>,
    identity: &Identity,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let bytes = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let user_id = form_value(&query, "user_id").unwrap_or_else(|| identity.bot.clone());
    if let Ok(mut r) = recorded.lock() {
        r.push(Recorded {
            at: Instant::now(),
            method: parts.method.to_string(),
            path: path.clone(),
            query: query.clone(),
            authorization: parts
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: body.clone(),
        });
    }
    let server = &identity.server_name;
    if path.ends_with("/versions") {
        return json_response(
            StatusCode::OK,
            json!({"versions": ["v1.11", "v1.12", "v1.13", "v1.17"]}),
        );
    }
    if path.ends_with("/register") {
        let username = body["username"].as_str().unwrap_or("user");
        return json_response(
            StatusCode::OK,
            json!({"user_id": format!("@{username}:{server}"), "home_server": server}),
        );
    }
    if path.ends_with("/account/whoami") {
        return json_response(StatusCode::OK, json!({"user_id": user_id, "is_guest": false}));
    }
    if path.ends_with("/createRoom") {
        return json_response(
            StatusCode::OK,
            json!({"room_id": format!("!conformance{}:{server}", recorded.lock().map(|r| r.len()).unwrap_or(0))}),
        );
    }
    if path.contains("/join") {
        let room = path.rsplit('/').nth(1).unwrap_or("!room").to_owned();
        return json_response(StatusCode::OK, json!({"room_id": percent_decode(&room)}));
    }
    if path.contains("/send/") || path.contains("/state/") || path.contains("/redact/") {
        return json_response(
            StatusCode::OK,
            json!({"event_id": format!("$conformance{}", recorded.lock().map(|r| r.len()).unwrap_or(0))}),
        );
    }
    if path.contains("/appservice/") && path.ends_with("/ping") {
        let started = Instant::now();
        let Some((url, hs_token)) = &identity.appservice else {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({"errcode": "M_URL_NOT_SET", "error": "no url"}),
            );
        };
        let ping_body =
            json!({"transaction_id": body.get("transaction_id").cloned().unwrap_or(Value::Null)});
        return match crate::http::send(
            &format!("{url}/_matrix/app/v1/ping"),
            "POST",
            Some(hs_token),
            ping_body.to_string().into_bytes(),
        )
        .await
        {
            Ok((status, _, _)) if (200..300).contains(&status) => {
                let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                json_response(StatusCode::OK, json!({"duration_ms": ms}))
            }
            Ok((status, _, body)) => json_response(
                StatusCode::BAD_GATEWAY,
                json!({"errcode": "M_BAD_STATUS", "error": format!("HTTP {status}"), "status": status, "body": String::from_utf8_lossy(&body)}),
            ),
            Err(e) => json_response(
                StatusCode::BAD_GATEWAY,
                json!({"errcode": "M_CONNECTION_FAILED", "error": e.to_string()}),
            ),
        };
    }
    json_response(StatusCode::OK, json!({}))
}

fn form_value(query: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

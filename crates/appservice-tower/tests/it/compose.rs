//! Composition: a layer in front of other routes, axum, health endpoints, metrics.

use appservice_conformance::handler::{HS_TOKEN, Recorder, Script, registration};
use appservice_dispatch::Dispatcher;
use appservice_tower::{Appservice, AppserviceConfig, AppserviceLayer, HealthPaths};
use axum::{Router, routing::get};
use bytes::Bytes;
use http_body_util::BodyExt;
use tower::{ServiceBuilder, ServiceExt, service_fn};

fn dispatcher() -> Dispatcher<Recorder> {
    Dispatcher::new(registration("http://127.0.0.1:9000"), Recorder::new(Script::default()))
}

fn put_empty() -> http::Request<axum::body::Body> {
    http::Request::put("/_matrix/app/v1/transactions/1")
        .header("authorization", format!("Bearer {HS_TOKEN}"))
        .body(axum::body::Body::from(r#"{"events": []}"#))
        .unwrap()
}

async fn text(
    response: http::Response<impl http_body::Body<Data = Bytes, Error = impl std::fmt::Debug>>,
) -> (u16, String) {
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn axum_router_beside_own_routes() {
    let app = Router::new()
        .route("/status", get(|| async { "fine" }))
        .route_service("/_matrix/app/{*rest}", Appservice::new(dispatcher()));
    assert_eq!(text(app.clone().oneshot(put_empty()).await.unwrap()).await, (200, "{}".to_owned()));
    let status = http::Request::get("/status").body(axum::body::Body::empty()).unwrap();
    assert_eq!(text(app.clone().oneshot(status).await.unwrap()).await, (200, "fine".to_owned()));
    let unknown = http::Request::get("/_matrix/app/v1/nope")
        .header("authorization", format!("Bearer {HS_TOKEN}"));
    let (code, body) =
        text(app.oneshot(unknown.body(axum::body::Body::empty()).unwrap()).await.unwrap()).await;
    assert_eq!(code, 404);
    assert!(body.contains("M_UNRECOGNIZED"));
}

#[tokio::test]
async fn axum_router_with_the_layer() {
    let app = Router::new()
        .route("/status", get(|| async { "fine" }))
        .layer(AppserviceLayer::new(dispatcher()));
    assert_eq!(text(app.clone().oneshot(put_empty()).await.unwrap()).await, (200, "{}".to_owned()));
    let legacy = http::Request::put("/transactions/2")
        .header("authorization", format!("Bearer {HS_TOKEN}"))
        .body(axum::body::Body::from(r#"{"events": []}"#))
        .unwrap();
    assert_eq!(text(app.clone().oneshot(legacy).await.unwrap()).await, (200, "{}".to_owned()));
    let status = http::Request::get("/status").body(axum::body::Body::empty()).unwrap();
    assert_eq!(text(app.oneshot(status).await.unwrap()).await, (200, "fine".to_owned()));
}

#[tokio::test]
async fn layer_passes_other_paths_to_the_inner_service() {
    let inner = service_fn(|_req: http::Request<axum::body::Body>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
            Bytes::from_static(b"inner"),
        )))
    });
    let svc = ServiceBuilder::new().layer(AppserviceLayer::new(dispatcher())).service(inner);
    let other = http::Request::get("/anything").body(axum::body::Body::empty()).unwrap();
    assert_eq!(text(svc.clone().oneshot(other).await.unwrap()).await, (200, "inner".to_owned()));
    assert_eq!(text(svc.oneshot(put_empty()).await.unwrap()).await, (200, "{}".to_owned()));
}

#[tokio::test]
async fn standalone_answers_404_json_for_other_paths() {
    let svc = Appservice::new(dispatcher());
    let other = http::Request::get("/anything").body(axum::body::Body::empty()).unwrap();
    let (code, body) = text(svc.oneshot(other).await.unwrap()).await;
    assert_eq!(code, 404);
    assert!(body.contains("M_UNRECOGNIZED"));
}

#[tokio::test]
async fn health_endpoints_are_off_by_default_and_unauthenticated_when_on() {
    let off = Appservice::new(dispatcher());
    let live = || http::Request::get("/_matrix/mau/live").body(axum::body::Body::empty()).unwrap();
    assert_eq!(text(off.oneshot(live()).await.unwrap()).await.0, 404);
    let on = Appservice::with_config(
        dispatcher(),
        AppserviceConfig::new().health(HealthPaths::default()),
    );
    assert_eq!(text(on.clone().oneshot(live()).await.unwrap()).await, (200, "{}".to_owned()));
    let ready =
        || http::Request::get("/_matrix/mau/ready").body(axum::body::Body::empty()).unwrap();
    assert_eq!(text(on.clone().oneshot(ready()).await.unwrap()).await.0, 200);
    on.readiness().set(false);
    assert_eq!(text(on.oneshot(ready()).await.unwrap()).await.0, 503);
}

#[cfg(feature = "metrics")]
#[tokio::test]
async fn metrics_are_exposed() {
    let handle = appservice_tower::metrics::install_prometheus().unwrap();
    let layer = AppserviceLayer::with_config(
        dispatcher(),
        AppserviceConfig::new().metrics_path("/metrics"),
    )
    .with_prometheus(handle);
    let svc = tower::Layer::layer(&layer, appservice_tower::NotFound);
    assert_eq!(text(svc.clone().oneshot(put_empty()).await.unwrap()).await.0, 200);
    assert_eq!(text(svc.clone().oneshot(put_empty()).await.unwrap()).await.0, 200);
    let (code, body) = text(
        svc.oneshot(http::Request::get("/metrics").body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200);
    assert!(body.contains("appservice_transactions_total{outcome=\"handled\"} 1"), "{body}");
    assert!(body.contains("appservice_dedupe_hits_total 1"), "{body}");
    assert!(!body.contains(HS_TOKEN));
}

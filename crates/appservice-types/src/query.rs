//! `GET /_matrix/app/*/users/{userId}` and `GET /_matrix/app/*/rooms/{roomAlias}`.
//!
//! Re-exported from ruma, which models them exactly: the request is the path parameter, the
//! answer is `200 {}` (the user or alias exists: the appservice created it **before**
//! answering, [AS-QRY-2](https://spec.matrix.org/v1.19/application-service-api/#querying)/6) or 404 (it does not; [`MatrixError::not_found`](crate::MatrixError::not_found)).

pub use ruma_appservice_api::query::{query_room_alias, query_user_id};

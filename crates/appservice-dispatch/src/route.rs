//! Routing: which endpoint a method and path name, with percent-decoded parameters.
//!
//! The current endpoints live under `/_matrix/app/v1`; the legacy ones (checklist [AS-ROUTE-5](https://spec.matrix.org/v1.19/application-service-api/#legacy-routes)) are
//! `/transactions/…`, `/users/…`, `/rooms/…` and `/_matrix/app/unstable/thirdparty/…` (plus
//! MSC2659's unstable ping path). A path parameter is the whole rest of the path, decoded:
//! user IDs and aliases may contain `/`, which Synapse leaves unencoded ([AS-QRY-8](https://spec.matrix.org/v1.19/application-service-api/#querying)).

use http::Method;
use percent_encoding::percent_decode_str;

use appservice_types::MatrixError;

/// An endpoint of the Application Service API, with its decoded path parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Route {
    /// `PUT …/transactions/{txnId}`.
    Transaction {
        /// The transaction ID.
        txn_id: String,
    },
    /// `GET …/users/{userId}`.
    QueryUser {
        /// The user ID, decoded.
        user_id: String,
    },
    /// `GET …/rooms/{roomAlias}`.
    QueryRoomAlias {
        /// The room alias, decoded.
        alias: String,
    },
    /// `POST /_matrix/app/v1/ping`.
    Ping,
    /// `GET …/thirdparty/protocol/{protocol}`.
    ThirdPartyProtocol {
        /// The protocol ID.
        protocol: String,
    },
    /// `GET …/thirdparty/user/{protocol}`.
    ThirdPartyUsers {
        /// The protocol ID.
        protocol: String,
    },
    /// `GET …/thirdparty/location/{protocol}`.
    ThirdPartyLocations {
        /// The protocol ID.
        protocol: String,
    },
    /// `GET …/thirdparty/user?userid=…`.
    ThirdPartyUserLookup,
    /// `GET …/thirdparty/location?alias=…`.
    ThirdPartyLocationLookup,
}

impl Route {
    /// The one method this endpoint accepts.
    pub fn method(&self) -> Method {
        self.endpoint().method.clone()
    }

    /// A short name for logs and metrics (`transaction`, `query_user`, …).
    pub fn name(&self) -> &'static str {
        self.endpoint().name
    }

    /// This route's declaration in [`ENDPOINTS`].
    fn endpoint(&self) -> &'static Endpoint {
        let kind = std::mem::discriminant(self);
        ENDPOINTS
            .iter()
            .find(|e| std::mem::discriminant(&(e.build)(String::new())) == kind)
            .unwrap_or(&ENDPOINTS[0]) // unreachable: every variant has a row (tested)
    }
}

/// How a path matched: the route, and whether it came by a legacy path.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Matched {
    /// The endpoint.
    pub route: Route,
    /// Whether a legacy path was used.
    pub legacy: bool,
}

/// Routing options.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub(crate) struct Router {
    /// Serve the legacy paths too.
    pub(crate) legacy_routes: bool,
    /// A path prefix to strip first (the path of the registration's `url`, [AS-ROUTE-1](https://spec.matrix.org/v1.19/application-service-api/#legacy-routes)), without a
    /// trailing `/`; empty for none.
    pub(crate) path_prefix: String,
}

impl Default for Router {
    fn default() -> Self {
        Self { legacy_routes: true, path_prefix: String::new() }
    }
}

/// Why a request has no route.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteError {
    /// No endpoint has this path (404 `M_UNRECOGNIZED`).
    UnknownEndpoint,
    /// The endpoint exists but not with this method (405 `M_UNRECOGNIZED`, with `Allow`).
    MethodNotAllowed {
        /// The method the endpoint accepts.
        allow: Method,
    },
    /// A path parameter is not valid percent-encoded UTF-8 (400 `M_INVALID_PARAM`).
    BadParameter,
}

impl RouteError {
    /// The spec-shaped error.
    pub fn to_matrix_error(&self) -> MatrixError {
        match self {
            Self::UnknownEndpoint => MatrixError::unrecognized_endpoint("Unrecognized request"),
            Self::MethodNotAllowed { .. } => {
                MatrixError::method_not_allowed("Unrecognized request: method not allowed")
            }
            Self::BadParameter => MatrixError::new(
                400,
                appservice_types::ErrorCode::INVALID_PARAM,
                "A path parameter is not valid percent-encoded UTF-8",
            ),
        }
    }
}

/// One endpoint of the Application Service API: everything routing knows about it. Routing,
/// the 405 `Allow` header, the names in logs and metrics and the legacy paths all come from
/// this table; to add an endpoint, add a [`Route`] variant and a row here (then a `Handler`
/// method and its arm in the dispatcher).
struct Endpoint {
    /// The name in logs, metrics and reports.
    name: &'static str,
    /// The one method it accepts.
    method: Method,
    /// Its path under `/_matrix/app/v1`. A path ending in `/` takes the rest of the request's
    /// path, percent-decoded, as its parameter; any other must match the whole path.
    path: &'static str,
    /// Older paths for the same endpoint (served unless `legacy_routes` is off, [AS-ROUTE-5](https://spec.matrix.org/v1.19/application-service-api/#legacy-routes)).
    legacy: &'static [&'static str],
    /// The route, from the decoded parameter (empty for paths without one).
    build: fn(String) -> Route,
}

/// Every endpoint, in matching order (a longer path before its prefix where both exist).
const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        name: "transaction",
        method: Method::PUT,
        path: "/_matrix/app/v1/transactions/",
        legacy: &["/transactions/"],
        build: |txn_id| Route::Transaction { txn_id },
    },
    Endpoint {
        name: "query_user",
        method: Method::GET,
        path: "/_matrix/app/v1/users/",
        legacy: &["/users/"],
        build: |user_id| Route::QueryUser { user_id },
    },
    Endpoint {
        name: "query_room_alias",
        method: Method::GET,
        path: "/_matrix/app/v1/rooms/",
        legacy: &["/rooms/"],
        build: |alias| Route::QueryRoomAlias { alias },
    },
    Endpoint {
        name: "ping",
        method: Method::POST,
        path: "/_matrix/app/v1/ping",
        legacy: &["/_matrix/app/unstable/fi.mau.msc2659/ping"],
        build: |_| Route::Ping,
    },
    Endpoint {
        name: "thirdparty_protocol",
        method: Method::GET,
        path: "/_matrix/app/v1/thirdparty/protocol/",
        legacy: &["/_matrix/app/unstable/thirdparty/protocol/"],
        build: |protocol| Route::ThirdPartyProtocol { protocol },
    },
    Endpoint {
        name: "thirdparty_users",
        method: Method::GET,
        path: "/_matrix/app/v1/thirdparty/user/",
        legacy: &["/_matrix/app/unstable/thirdparty/user/"],
        build: |protocol| Route::ThirdPartyUsers { protocol },
    },
    Endpoint {
        name: "thirdparty_locations",
        method: Method::GET,
        path: "/_matrix/app/v1/thirdparty/location/",
        legacy: &["/_matrix/app/unstable/thirdparty/location/"],
        build: |protocol| Route::ThirdPartyLocations { protocol },
    },
    Endpoint {
        name: "thirdparty_user_lookup",
        method: Method::GET,
        path: "/_matrix/app/v1/thirdparty/user",
        legacy: &["/_matrix/app/unstable/thirdparty/user"],
        build: |_| Route::ThirdPartyUserLookup,
    },
    Endpoint {
        name: "thirdparty_location_lookup",
        method: Method::GET,
        path: "/_matrix/app/v1/thirdparty/location",
        legacy: &["/_matrix/app/unstable/thirdparty/location"],
        build: |_| Route::ThirdPartyLocationLookup,
    },
];

/// The parameter of `path` under the endpoint path `pattern` (`Some("")` for an exact match of
/// a path without parameter), or `None` if it does not match.
fn match_path<'p>(pattern: &str, path: &'p str) -> Option<&'p str> {
    if pattern.ends_with('/') {
        path.strip_prefix(pattern).filter(|rest| !rest.is_empty())
    } else {
        (path == pattern).then_some("")
    }
}

impl Router {
    /// Finds the route of `method` and `path` (the path only, without the query).
    pub(crate) fn route(&self, method: &Method, path: &str) -> Result<Matched, RouteError> {
        let path = self.strip_prefix(path);
        let current = ENDPOINTS.iter().map(|e| (e, e.path, false));
        let legacy = ENDPOINTS.iter().flat_map(|e| e.legacy.iter().map(move |p| (e, *p, true)));
        let legacy = legacy.filter(|_| self.legacy_routes);
        for (endpoint, pattern, legacy) in current.chain(legacy) {
            let Some(raw) = match_path(pattern, path) else { continue };
            let param =
                percent_decode_str(raw).decode_utf8().map_err(|_| RouteError::BadParameter)?;
            if endpoint.method != *method {
                return Err(RouteError::MethodNotAllowed { allow: endpoint.method.clone() });
            }
            return Ok(Matched { route: (endpoint.build)(param.into_owned()), legacy });
        }
        Err(RouteError::UnknownEndpoint)
    }

    /// Whether `path` is an AS API path: any route (whatever the method), or under `/_matrix/app/`.
    pub(crate) fn owns(&self, path: &str) -> bool {
        let stripped = self.strip_prefix(path);
        stripped.starts_with("/_matrix/app/")
            || !matches!(self.route(&Method::GET, path), Err(RouteError::UnknownEndpoint))
    }

    fn strip_prefix<'p>(&self, path: &'p str) -> &'p str {
        if self.path_prefix.is_empty() {
            return path;
        }
        match path.strip_prefix(self.path_prefix.as_str()) {
            Some(rest) if rest.starts_with('/') => rest,
            _ => path,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn r(method: Method, path: &str) -> Result<Matched, RouteError> {
        Router::default().route(&method, path)
    }

    #[test]
    fn current_and_legacy_paths_name_the_same_route() {
        let v1 = r(Method::PUT, "/_matrix/app/v1/transactions/35").unwrap();
        let legacy = r(Method::PUT, "/transactions/35").unwrap();
        assert_eq!(v1.route, legacy.route);
        assert!(!v1.legacy && legacy.legacy);
    }

    #[test]
    fn parameters_are_decoded_and_may_contain_slashes() {
        let m = r(Method::GET, "/_matrix/app/v1/users/%40_irc_a%2Fb%3Aexample.org").unwrap();
        assert_eq!(m.route, Route::QueryUser { user_id: "@_irc_a/b:example.org".to_owned() });
        let m = r(Method::GET, "/_matrix/app/v1/users/@_irc_a/b:example.org").unwrap();
        assert_eq!(m.route, Route::QueryUser { user_id: "@_irc_a/b:example.org".to_owned() });
        let m = r(Method::GET, "/_matrix/app/v1/rooms/%23caf%C3%A9%3Aexample.org").unwrap();
        assert_eq!(m.route, Route::QueryRoomAlias { alias: "#café:example.org".to_owned() });
        assert_eq!(r(Method::GET, "/_matrix/app/v1/users/%FF"), Err(RouteError::BadParameter));
    }

    #[test]
    fn unknown_and_wrong_method() {
        assert_eq!(r(Method::GET, "/_matrix/app/v1/nope"), Err(RouteError::UnknownEndpoint));
        assert_eq!(
            r(Method::PUT, "/_matrix/app/v1/transactions/"),
            Err(RouteError::UnknownEndpoint)
        );
        assert_eq!(
            r(Method::GET, "/_matrix/app/v1/transactions/1"),
            Err(RouteError::MethodNotAllowed { allow: Method::PUT })
        );
        assert_eq!(
            r(Method::GET, "/_matrix/app/v1/ping"),
            Err(RouteError::MethodNotAllowed { allow: Method::POST })
        );
        assert_eq!(r(Method::GET, "/_matrix/app/v1/ping/x"), Err(RouteError::UnknownEndpoint));
    }

    #[test]
    fn thirdparty_lookups_and_by_protocol() {
        assert_eq!(
            r(Method::GET, "/_matrix/app/v1/thirdparty/user").unwrap().route,
            Route::ThirdPartyUserLookup
        );
        assert_eq!(
            r(Method::GET, "/_matrix/app/unstable/thirdparty/location/irc").unwrap().route,
            Route::ThirdPartyLocations { protocol: "irc".to_owned() }
        );
    }

    #[test]
    fn legacy_switch_and_prefix() {
        let router = Router { legacy_routes: false, path_prefix: "/bridge".to_owned() };
        assert_eq!(router.route(&Method::PUT, "/transactions/1"), Err(RouteError::UnknownEndpoint));
        assert!(router.route(&Method::PUT, "/bridge/_matrix/app/v1/transactions/1").is_ok());
        assert!(router.route(&Method::PUT, "/_matrix/app/v1/transactions/1").is_ok());
        assert_eq!(
            router.route(&Method::PUT, "/bridgex/_matrix/app/v1/transactions/1"),
            Err(RouteError::UnknownEndpoint)
        );
    }

    #[test]
    fn every_route_has_one_declaration() {
        let routes = [
            Route::Transaction { txn_id: String::new() },
            Route::QueryUser { user_id: String::new() },
            Route::QueryRoomAlias { alias: String::new() },
            Route::Ping,
            Route::ThirdPartyProtocol { protocol: String::new() },
            Route::ThirdPartyUsers { protocol: String::new() },
            Route::ThirdPartyLocations { protocol: String::new() },
            Route::ThirdPartyUserLookup,
            Route::ThirdPartyLocationLookup,
        ];
        assert_eq!(routes.len(), ENDPOINTS.len());
        for (route, endpoint) in routes.iter().zip(ENDPOINTS) {
            assert_eq!(route.name(), endpoint.name, "{route:?}");
            // Its own path routes to it.
            let path = if endpoint.path.ends_with('/') {
                format!("{}x", endpoint.path)
            } else {
                endpoint.path.to_owned()
            };
            let matched = r(endpoint.method.clone(), &path).unwrap();
            assert_eq!(std::mem::discriminant(&matched.route), std::mem::discriminant(route));
        }
    }

    proptest! {
        #[test]
        fn routing_never_panics_and_errors_are_spec_shaped(
            method in prop_oneof![Just(Method::GET), Just(Method::PUT), Just(Method::POST), Just(Method::DELETE)],
            path in "(/_matrix/app/(v1|unstable)/(transactions|users|rooms|ping|thirdparty/(user|location|protocol))?)?[/a-z0-9%@:#!._-]{0,20}",
        ) {
            match Router::default().route(&method, &path) {
                Ok(m) => prop_assert_eq!(m.route.method(), method),
                Err(e) => {
                    let m = e.to_matrix_error();
                    prop_assert!(matches!(m.status(), 400 | 404 | 405));
                }
            }
        }
    }
}

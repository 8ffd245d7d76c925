//! Routing: which endpoint a method and path name, with percent-decoded parameters.
//!
//! The current endpoints live under `/_matrix/app/v1`; the legacy ones (checklist AS-ROUTE-5) are
//! `/transactions/…`, `/users/…`, `/rooms/…` and `/_matrix/app/unstable/thirdparty/…` (plus
//! MSC2659's unstable ping path). A path parameter is the whole rest of the path, decoded:
//! user IDs and aliases may contain `/`, which Synapse leaves unencoded (AS-QRY-8).

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
        match self {
            Self::Transaction { .. } => Method::PUT,
            Self::Ping => Method::POST,
            _ => Method::GET,
        }
    }

    /// A short name for logs and metrics (`transaction`, `query_user`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Transaction { .. } => "transaction",
            Self::QueryUser { .. } => "query_user",
            Self::QueryRoomAlias { .. } => "query_room_alias",
            Self::Ping => "ping",
            Self::ThirdPartyProtocol { .. } => "thirdparty_protocol",
            Self::ThirdPartyUsers { .. } => "thirdparty_users",
            Self::ThirdPartyLocations { .. } => "thirdparty_locations",
            Self::ThirdPartyUserLookup => "thirdparty_user_lookup",
            Self::ThirdPartyLocationLookup => "thirdparty_location_lookup",
        }
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
    /// A path prefix to strip first (the path of the registration's `url`, AS-ROUTE-1), without a
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

#[derive(Clone, Copy)]
enum Shape {
    Transaction,
    User,
    Alias,
    Ping,
    Protocol,
    UsersFor,
    LocationsFor,
    UserLookup,
    LocationLookup,
}

/// `(path or prefix, shape, legacy)`. A prefix that ends with `/` takes the rest of the path as
/// its parameter; any other entry must match the whole path.
const TABLE: &[(&str, Shape, bool)] = &[
    ("/_matrix/app/v1/transactions/", Shape::Transaction, false),
    ("/_matrix/app/v1/users/", Shape::User, false),
    ("/_matrix/app/v1/rooms/", Shape::Alias, false),
    ("/_matrix/app/v1/ping", Shape::Ping, false),
    ("/_matrix/app/v1/thirdparty/protocol/", Shape::Protocol, false),
    ("/_matrix/app/v1/thirdparty/user/", Shape::UsersFor, false),
    ("/_matrix/app/v1/thirdparty/location/", Shape::LocationsFor, false),
    ("/_matrix/app/v1/thirdparty/user", Shape::UserLookup, false),
    ("/_matrix/app/v1/thirdparty/location", Shape::LocationLookup, false),
    ("/transactions/", Shape::Transaction, true),
    ("/users/", Shape::User, true),
    ("/rooms/", Shape::Alias, true),
    ("/_matrix/app/unstable/fi.mau.msc2659/ping", Shape::Ping, true),
    ("/_matrix/app/unstable/thirdparty/protocol/", Shape::Protocol, true),
    ("/_matrix/app/unstable/thirdparty/user/", Shape::UsersFor, true),
    ("/_matrix/app/unstable/thirdparty/location/", Shape::LocationsFor, true),
    ("/_matrix/app/unstable/thirdparty/user", Shape::UserLookup, true),
    ("/_matrix/app/unstable/thirdparty/location", Shape::LocationLookup, true),
];

impl Router {
    /// Finds the route of `method` and `path` (the path only, without the query).
    pub(crate) fn route(&self, method: &Method, path: &str) -> Result<Matched, RouteError> {
        let path = self.strip_prefix(path);
        for &(prefix, shape, legacy) in TABLE {
            if legacy && !self.legacy_routes {
                continue;
            }
            let param = if prefix.ends_with('/') {
                match path.strip_prefix(prefix) {
                    Some(rest) if !rest.is_empty() => Some(rest),
                    _ => continue,
                }
            } else if path == prefix {
                None
            } else {
                continue;
            };
            let decoded = match param {
                Some(raw) => Some(
                    percent_decode_str(raw)
                        .decode_utf8()
                        .map_err(|_| RouteError::BadParameter)?
                        .into_owned(),
                ),
                None => None,
            };
            let route = build(shape, decoded.unwrap_or_default());
            if route.method() != *method {
                return Err(RouteError::MethodNotAllowed { allow: route.method() });
            }
            return Ok(Matched { route, legacy });
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

fn build(shape: Shape, param: String) -> Route {
    match shape {
        Shape::Transaction => Route::Transaction { txn_id: param },
        Shape::User => Route::QueryUser { user_id: param },
        Shape::Alias => Route::QueryRoomAlias { alias: param },
        Shape::Ping => Route::Ping,
        Shape::Protocol => Route::ThirdPartyProtocol { protocol: param },
        Shape::UsersFor => Route::ThirdPartyUsers { protocol: param },
        Shape::LocationsFor => Route::ThirdPartyLocations { protocol: param },
        Shape::UserLookup => Route::ThirdPartyUserLookup,
        Shape::LocationLookup => Route::ThirdPartyLocationLookup,
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

//! Authentication of the homeserver: `hs_token` from `Authorization: Bearer` or, for pre-v1.4
//! homeservers, the `access_token` query parameter (checklist [AS-AUTH-1](https://spec.matrix.org/v1.19/application-service-api/#authorisation)…8).

use appservice_types::{MatrixError, Secret};
use http::{HeaderMap, header::AUTHORIZATION};

/// Why a request is refused before anything else looks at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum AuthError {
    /// No token at all (401 `M_MISSING_TOKEN`, [AS-AUTH-3](https://spec.matrix.org/v1.19/application-service-api/#authorisation)).
    Missing,
    /// A token that is not the `hs_token`, or two different tokens (403 `M_FORBIDDEN`).
    Forbidden,
}

impl AuthError {
    /// The spec-shaped error. Never mentions a token.
    pub(crate) fn to_matrix_error(self) -> MatrixError {
        match self {
            Self::Missing => MatrixError::missing_token("Missing access token"),
            Self::Forbidden => MatrixError::forbidden("Invalid access token"),
        }
    }
}

/// Checks every token the request carries against `hs_token`, in constant time.
///
/// Tokens come from each `Authorization: Bearer …` header (the scheme is case-insensitive, RFC
/// 9110) and each `access_token` query parameter. None → [`AuthError::Missing`] (a header with
/// another scheme, or an empty token, supplies none). Tokens that differ from each other
/// ([AS-AUTH-6](https://spec.matrix.org/v1.19/application-service-api/#authorisation)) or from `hs_token` → [`AuthError::Forbidden`].
pub(crate) fn authenticate(
    headers: &HeaderMap,
    query: Option<&str>,
    hs_token: &Secret,
) -> Result<(), AuthError> {
    let mut found = false;
    let mut all_match = true;
    let mut check = |token: &[u8]| {
        if token.is_empty() {
            return;
        }
        found = true;
        // `&=` rather than `&&`: compare every token, so the time does not depend on which fails.
        all_match &= hs_token.ct_eq_bytes(token);
    };
    for value in headers.get_all(AUTHORIZATION) {
        if let Some(token) = bearer_token(value.as_bytes()) {
            check(token);
        }
    }
    if let Some(query) = query {
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            if key == "access_token" {
                check(value.as_bytes());
            }
        }
    }
    match (found, all_match) {
        (false, _) => Err(AuthError::Missing),
        (true, false) => Err(AuthError::Forbidden),
        (true, true) => Ok(()),
    }
}

/// The token of a `Bearer` credential (scheme case-insensitive), or `None` for another scheme.
fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    let value = value.trim_ascii();
    let split = value.iter().position(|b| *b == b' ')?;
    let (scheme, rest) = value.split_at(split);
    scheme.eq_ignore_ascii_case(b"bearer").then(|| rest.trim_ascii())
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn auth(h: &[&str], q: Option<&str>) -> Result<(), AuthError> {
        authenticate(&headers(h), q, &Secret::from("hs_secret"))
    }

    #[test]
    fn header_and_query() {
        assert_eq!(auth(&["Bearer hs_secret"], None), Ok(()));
        assert_eq!(auth(&["bearer hs_secret"], None), Ok(()));
        assert_eq!(auth(&["BEARER   hs_secret  "], None), Ok(()));
        assert_eq!(auth(&[], Some("access_token=hs_secret")), Ok(()));
        assert_eq!(auth(&[], Some("x=1&access_token=hs%5Fsecret")), Ok(()));
        assert_eq!(auth(&["Bearer hs_secret"], Some("access_token=hs_secret")), Ok(()));
    }

    #[test]
    fn missing() {
        assert_eq!(auth(&[], None), Err(AuthError::Missing));
        assert_eq!(auth(&["Basic aHM6c2VjcmV0"], None), Err(AuthError::Missing));
        assert_eq!(auth(&["Bearer "], None), Err(AuthError::Missing));
        assert_eq!(auth(&["Bearer"], None), Err(AuthError::Missing));
        assert_eq!(auth(&[], Some("access_token=")), Err(AuthError::Missing));
    }

    #[test]
    fn forbidden() {
        assert_eq!(auth(&["Bearer wrong"], None), Err(AuthError::Forbidden));
        assert_eq!(auth(&[], Some("access_token=wrong")), Err(AuthError::Forbidden));
        assert_eq!(
            auth(&["Bearer hs_secret"], Some("access_token=wrong")),
            Err(AuthError::Forbidden)
        );
        assert_eq!(
            auth(&["Bearer wrong"], Some("access_token=hs_secret")),
            Err(AuthError::Forbidden)
        );
        assert_eq!(auth(&["Bearer hs_secret", "Bearer other"], None), Err(AuthError::Forbidden));
        assert_eq!(auth(&["Bearer hs_secretX"], None), Err(AuthError::Forbidden));
    }
}

//! [`RetryPolicy`]: when and how long the client waits before sending a request again, and the
//! [`Sleeper`] it waits with.
//!
//! * 429 `M_LIMIT_EXCEEDED` is retried for every request (the server did not process it): after
//!   the `Retry-After` header (delta-seconds or an HTTP date), else the body's `retry_after_ms`,
//!   else the exponential backoff. A hint longer than [`RetryPolicy::max_delay`] is not waited
//!   for: the call fails with the typed error and its hint, and the caller decides.
//! * 502, 503, 504 and transport errors are retried only for idempotent requests (`GET`, `PUT`
//!   — every `PUT` of the CS API is idempotent, the event-sending ones through their transaction
//!   ID — `DELETE`, and `POST /join`), with exponential backoff and jitter, capped at
//!   [`RetryPolicy::max_delay`].
//!
//! The client never reads a clock to decide *whether* to retry; waiting goes through a
//! [`Sleeper`], so tests can record the delays instead of sleeping.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    time::{Duration, SystemTime},
};

use http::{HeaderMap, StatusCode};

/// When and how long to wait before sending a request again.
///
/// ```
/// use std::time::Duration;
/// use appservice_client::RetryPolicy;
///
/// let policy = RetryPolicy::default().max_retries(3).max_delay(Duration::from_secs(10));
/// assert_eq!(policy.backoff(0), Duration::from_millis(500)); // without jitter: base_delay × 2^n
/// assert_eq!(policy.backoff(10), Duration::from_secs(10)); // capped
/// assert_eq!(RetryPolicy::none().max_retries, 0);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// How many times a request is sent again after the first attempt (default 5).
    pub max_retries: u32,
    /// The first backoff delay; it doubles with every retry (default 500 ms).
    pub base_delay: Duration,
    /// The longest single wait (default 30 s). A server's `Retry-After` longer than this makes
    /// the call fail at once with [`ClientError::Matrix`](crate::ClientError::Matrix) and the
    /// hint in `retry_after`.
    pub max_delay: Duration,
    /// Whether backoff delays are randomised to between half and all of the computed delay
    /// (default `true`), so that many clients do not retry in lockstep. Server hints are never
    /// randomised.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        Self { max_retries: 0, ..Self::default() }
    }

    /// Sets [`max_retries`](Self::max_retries).
    #[must_use]
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// Sets [`base_delay`](Self::base_delay).
    #[must_use]
    pub fn base_delay(mut self, d: Duration) -> Self {
        self.base_delay = d;
        self
    }

    /// Sets [`max_delay`](Self::max_delay).
    #[must_use]
    pub fn max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d;
        self
    }

    /// Sets [`jitter`](Self::jitter).
    #[must_use]
    pub fn jitter(mut self, on: bool) -> Self {
        self.jitter = on;
        self
    }

    /// The backoff before retry number `retry` (0-based) without jitter:
    /// `min(base_delay × 2^retry, max_delay)`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// The backoff with jitter applied if enabled: uniformly in `[d/2, d]`.
    pub(crate) fn backoff_with_jitter(&self, retry: u32) -> Duration {
        let d = self.backoff(retry);
        if !self.jitter || d.is_zero() {
            return d;
        }
        let half = d / 2;
        let span = u64::try_from((d - half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(random_u64() % span.saturating_add(1))
    }
}

/// A random number for jitter; falls back to the clock if the OS has no randomness.
fn random_u64() -> u64 {
    let mut buf = [0u8; 8];
    if getrandom::fill(&mut buf).is_ok() {
        return u64::from_le_bytes(buf);
    }
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()))
}

/// What the retry loop does with one outcome.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Return the outcome to the caller.
    Stop,
    /// Wait this long, then send again.
    RetryAfter(Duration),
}

/// Decides on a response: `retry` is the 0-based retry number this would be.
pub(crate) fn decide_on_status(
    policy: &RetryPolicy,
    retry: u32,
    idempotent: bool,
    status: StatusCode,
    hint: Option<Duration>,
) -> Decision {
    if retry >= policy.max_retries {
        return Decision::Stop;
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        return match hint {
            Some(h) if h > policy.max_delay => Decision::Stop,
            Some(h) => Decision::RetryAfter(h),
            None => Decision::RetryAfter(policy.backoff_with_jitter(retry)),
        };
    }
    let transient = matches!(
        status,
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
    );
    if transient && idempotent {
        Decision::RetryAfter(policy.backoff_with_jitter(retry))
    } else {
        Decision::Stop
    }
}

/// Decides on a transport error.
pub(crate) fn decide_on_transport_error(
    policy: &RetryPolicy,
    retry: u32,
    idempotent: bool,
) -> Decision {
    if idempotent && retry < policy.max_retries {
        Decision::RetryAfter(policy.backoff_with_jitter(retry))
    } else {
        Decision::Stop
    }
}

/// The `Retry-After` header as a duration from `now`: delta-seconds or an HTTP date
/// (RFC 9110 §10.2.3). A date in the past is zero; an unparsable value is ignored.
pub(crate) fn retry_after_header(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Something that can wait: the client's only contact with time.
///
/// With the `tokio` feature (on by default, through `hyper`) the client uses [`TokioSleeper`].
/// Without a sleeper the client never retries (it cannot wait).
pub trait Sleeper: Send + Sync + 'static {
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

impl<F, Fut> Sleeper for F
where
    F: Fn(Duration) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(self(duration))
    }
}

/// Waits with `tokio::time::sleep` (so tests can use tokio's paused time).
#[cfg(feature = "tokio")]
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct TokioSleeper;

#[cfg(feature = "tokio")]
impl TokioSleeper {
    /// A tokio sleeper.
    pub fn new() -> Self {
        Self
    }
}

#[cfg(feature = "tokio")]
impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A `Debug` stand-in for a `dyn Sleeper`.
pub(crate) struct SleeperName;

impl fmt::Debug for SleeperName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<sleeper>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy::default().jitter(false)
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = policy().base_delay(Duration::from_millis(100)).max_delay(Duration::from_secs(1));
        let got: Vec<_> = (0..6).map(|n| p.backoff(n).as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(p.backoff(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_in_range() {
        let p = RetryPolicy::default().base_delay(Duration::from_millis(100));
        for n in 0..5 {
            for _ in 0..50 {
                let d = p.backoff_with_jitter(n);
                assert!(d >= p.backoff(n) / 2 && d <= p.backoff(n), "{d:?}");
            }
        }
    }

    #[test]
    fn rate_limit_retries_every_method_and_honours_hint() {
        let p = policy();
        let two = Duration::from_secs(2);
        let hint = Some(two);
        let s = StatusCode::TOO_MANY_REQUESTS;
        assert_eq!(decide_on_status(&p, 0, false, s, hint), Decision::RetryAfter(two));
        assert_eq!(decide_on_status(&p, 0, false, s, None), Decision::RetryAfter(p.backoff(0)));
        // A hint beyond the cap is not waited for.
        let long = Some(Duration::from_secs(3600));
        assert_eq!(decide_on_status(&p, 0, true, s, long), Decision::Stop);
        // Retries are bounded.
        assert_eq!(decide_on_status(&p, p.max_retries, true, s, hint), Decision::Stop);
    }

    #[test]
    fn server_errors_retry_only_idempotent_requests() {
        let p = policy();
        for s in
            [StatusCode::BAD_GATEWAY, StatusCode::SERVICE_UNAVAILABLE, StatusCode::GATEWAY_TIMEOUT]
        {
            assert_eq!(decide_on_status(&p, 1, true, s, None), Decision::RetryAfter(p.backoff(1)));
            assert_eq!(decide_on_status(&p, 1, false, s, None), Decision::Stop);
        }
        let s = StatusCode::INTERNAL_SERVER_ERROR;
        assert_eq!(decide_on_status(&p, 0, true, s, None), Decision::Stop);
        assert_eq!(decide_on_transport_error(&p, 0, true), Decision::RetryAfter(p.backoff(0)));
        assert_eq!(decide_on_transport_error(&p, 0, false), Decision::Stop);
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        let mut h = HeaderMap::new();
        assert_eq!(retry_after_header(&h, now), None);
        h.insert(http::header::RETRY_AFTER, "120".parse().unwrap());
        assert_eq!(retry_after_header(&h, now), Some(Duration::from_secs(120)));
        // Wed, 21 Oct 2015 07:28:00 GMT = 1445412480.
        h.insert(http::header::RETRY_AFTER, "Wed, 21 Oct 2015 07:28:30 GMT".parse().unwrap());
        assert_eq!(retry_after_header(&h, now), Some(Duration::from_secs(30)));
        h.insert(http::header::RETRY_AFTER, "Wed, 21 Oct 2015 07:27:00 GMT".parse().unwrap());
        assert_eq!(retry_after_header(&h, now), Some(Duration::ZERO));
        h.insert(http::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after_header(&h, now), None);
    }
}

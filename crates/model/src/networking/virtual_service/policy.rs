//! Per-route policies: retries ([`HttpRetry`], Istio `ValidateHTTPRetry`), fault injection
//! ([`HttpFaultInjection`] with [`Delay`] and [`Abort`]) and CORS ([`CorsPolicy`]), plus the
//! duration and HTTP-status checks other route parts share.

use super::matching;
use crate::types::{Duration, Percent, StringMatch};
use crate::validation::{Validate, Validator, rules};
use serde::{Deserialize, Serialize};

/// Envoy's `x-envoy-retry-on` and `x-envoy-retry-grpc-on` policies, as Istio lists them.
const RETRY_ON: &[&str] = &[
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "envoy-ratelimited",
    "http3-post-connect-failure",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
];

/// The numeric gRPC status code for a name (`UNAVAILABLE` → 14).
pub fn grpc_status_code(name: &str) -> Option<u32> {
    GRPC_STATUS.iter().position(|n| *n == name).and_then(|i| u32::try_from(i).ok())
}

/// The gRPC status names Istio accepts for `fault.abort.grpcStatus`, in code order (the index
/// is the numeric status code).
pub const GRPC_STATUS: &[&str] = &[
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The methods Istio accepts in `corsPolicy.allowMethods`.
const CORS_METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "*"];

/// Istio `agent.ValidateDuration`: at least 1ms, in whole milliseconds (Envoy's precision).
pub(super) fn duration(v: &mut Validator<'_>, d: Duration) {
    let d = d.get();
    if d < std::time::Duration::from_millis(1) {
        v.error(format!("duration must be greater than 1ms (got {})", Duration(d)));
    } else if !d.subsec_nanos().is_multiple_of(1_000_000) {
        v.error(format!("only durations to ms precision are supported (got {})", Duration(d)));
    }
}

/// Istio `validateHTTPStatus` (its message says 200-599; its check lets 600 through).
pub(super) fn http_status(v: &mut Validator<'_>, status: i64) {
    if !(200..=600).contains(&status) {
        v.error(format!("HTTP status {status} is not in range 200-599"));
    }
}

/// Go `net/http.StatusText` knows the code: Istio accepts such numbers in `retryOn`.
fn is_known_status_code(code: i64) -> bool {
    matches!(code, 100..=103 | 200..=208 | 226 | 300..=305 | 307 | 308 | 400..=418 | 421..=426 | 428 | 429 | 431 | 451)
        || matches!(code, 500..=508 | 510 | 511)
}

/// Istio `HTTPRetry`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpRetry {
    /// Number of retries; 0 turns retries off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<i32>,
    /// Timeout of each attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_try_timeout: Option<Duration>,
    /// Comma-separated Envoy retry conditions and HTTP status codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_on: Option<String>,
    /// Whether retries may go to other localities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_remote_localities: Option<bool>,
    /// Whether retries avoid the hosts already tried (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_ignore_previous_hosts: Option<bool>,
    /// Base interval between retries (Envoy default 25ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Duration>,
}

impl Validate for HttpRetry {
    fn validate(&self, v: &mut Validator<'_>) {
        let attempts = self.attempts.unwrap_or(0);
        if attempts < 0 {
            v.error_at("attempts", format!("attempts cannot be negative (got {attempts})"));
        }
        let retry_on = self.retry_on.as_deref().filter(|s| !s.is_empty());
        if attempts == 0
            && (self.per_try_timeout.is_some() || retry_on.is_some() || self.retry_remote_localities.is_some())
        {
            v.error("http retry policy configured when attempts are set to 0 (disabled)");
        }
        v.opt("perTryTimeout", &self.per_try_timeout, |v, d| duration(v, *d));
        if let Some(list) = retry_on {
            v.field("retryOn", |v| {
                for policy in list.split(',') {
                    let is_code = policy.parse::<i64>().is_ok_and(is_known_status_code);
                    if !is_code && !RETRY_ON.contains(&policy) {
                        v.error(format!("{policy:?} is not a valid retryOn policy"));
                    }
                }
            });
        }
        v.opt("backoff", &self.backoff, |v, d| duration(v, *d));
    }
}

/// Istio `HTTPFaultInjection`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpFaultInjection {
    /// Delay some requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Delay>,
    /// Fail some requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort: Option<Abort>,
}

/// Istio `HTTPFaultInjection.Delay`: one of `fixedDelay` / `exponentialDelay`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Delay {
    /// Deprecated integer percentage; use `percentage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<i32>,
    /// Delay before forwarding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_delay: Option<Duration>,
    /// Exponential delay (not implemented by Istio).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exponential_delay: Option<Duration>,
    /// Share of requests delayed (unset: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage: Option<Percent>,
}

/// Istio `HTTPFaultInjection.Abort`: one of `httpStatus` / `grpcStatus` / `http2Error`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Abort {
    /// HTTP status to answer with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<i32>,
    /// gRPC status name to answer with (e.g. `UNAVAILABLE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_status: Option<String>,
    /// HTTP/2 error (not implemented by Istio).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http2_error: Option<String>,
    /// Share of requests aborted (unset: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage: Option<Percent>,
}

/// Istio `validatePercentage`: 0, or between 0.0001 and 100 (Envoy's finest fraction).
fn fault_percentage(v: &mut Validator<'_>, p: &Option<Percent>) {
    if let Some(p) = p
        && (p.value < 0.0 || p.value > 100.0 || (p.value > 0.0 && p.value < 0.0001))
    {
        let value = p.value;
        v.field("percentage", |v| {
            v.error_at("value", format!("percentage {value} is neither 0.0, nor in range [0.0001, 100.0]"))
        });
    }
}

impl Validate for HttpFaultInjection {
    fn validate(&self, v: &mut Validator<'_>) {
        if self.abort.is_none() && self.delay.is_none() {
            v.error("HTTP fault injection must have an abort and/or a delay");
        }
        v.opt("abort", &self.abort, |v, a| a.validate(v));
        v.opt("delay", &self.delay, |v, d| d.validate(v));
    }
}

impl Validate for Abort {
    fn validate(&self, v: &mut Validator<'_>) {
        fault_percentage(v, &self.percentage);
        let kinds = [self.http_status.is_some(), self.grpc_status.is_some(), self.http2_error.is_some()];
        match kinds.iter().filter(|b| **b).count() {
            0 => v.warn("abort configured, but error type not set"),
            1 => {}
            _ => v.error("only one of httpStatus, grpcStatus or http2Error may be set"),
        }
        if let Some(status) = self.http_status {
            v.field("httpStatus", |v| http_status(v, i64::from(status)));
        }
        if let Some(status) = &self.grpc_status
            && !GRPC_STATUS.contains(&status.as_str())
        {
            v.error_at(
                "grpcStatus",
                format!(
                    "gRPC status {status:?} is not supported. See \
                     https://github.com/grpc/grpc/blob/master/doc/statuscodes.md \
                     for a list of supported codes, for example 'NOT_FOUND'"
                ),
            );
        }
        if self.http2_error.is_some() {
            v.error_at("http2Error", "HTTP/2 abort fault injection not supported yet");
        }
    }
}

impl Validate for Delay {
    fn validate(&self, v: &mut Validator<'_>) {
        fault_percentage(v, &self.percentage);
        if let Some(p) = self.percent {
            v.field("percent", |v| {
                if !(0..=100).contains(&p) {
                    v.error(format!("percentage {p} is not in range 0..100"));
                }
                v.warn("HTTPRoute.fault.delay.percent is deprecated; use HTTPRoute.fault.delay.percentage");
            });
        }
        match (&self.fixed_delay, &self.exponential_delay) {
            (Some(_), Some(_)) => v.error("only one of fixedDelay or exponentialDelay may be set"),
            // Istio ignores such a delay when it builds the route.
            (None, None) => v.warn("delay has no fixedDelay; it has no effect"),
            _ => {}
        }
        v.opt("fixedDelay", &self.fixed_delay, |v, d| duration(v, *d));
        v.opt("exponentialDelay", &self.exponential_delay, |v, d| {
            duration(v, *d);
            v.error("exponentialDelay not supported yet");
        });
    }
}

/// Istio `CorsPolicy`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CorsPolicy {
    /// Deprecated exact origins; use `allowOrigins`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_origin: Vec<String>,
    /// Allowed origins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_origins: Vec<StringMatch>,
    /// `Access-Control-Allow-Methods`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_methods: Vec<String>,
    /// `Access-Control-Allow-Headers`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_headers: Vec<String>,
    /// `Access-Control-Expose-Headers`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    /// `Access-Control-Max-Age` (whole seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<Duration>,
    /// `Access-Control-Allow-Credentials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_credentials: Option<bool>,
    /// What to do with preflight requests from origins that are not allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unmatched_preflights: Option<UnmatchedPreflights>,
}

/// Istio `CorsPolicy.UnmatchedPreflights`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UnmatchedPreflights {
    /// Default: forward.
    #[default]
    Unspecified,
    /// Forward them to the upstream.
    Forward,
    /// Answer them without CORS headers, not forwarding.
    Ignore,
}

impl Validate for CorsPolicy {
    fn validate(&self, v: &mut Validator<'_>) {
        if !self.allow_origin.is_empty() {
            v.field("allowOrigin", |v| {
                v.warn("using deprecated setting \"allowOrigin\", use \"allowOrigins\" instead");
                if !self.allow_origins.is_empty() {
                    v.warn("allowOrigin is ignored because allowOrigins is set");
                }
            });
        }
        v.each("allowOrigins", &self.allow_origins, |v, origin| allow_origin(v, origin));
        v.each("allowMethods", &self.allow_methods, |v, m| {
            if !CORS_METHODS.contains(&m.as_str()) {
                v.error(format!("{m:?} is not a supported HTTP method"));
            }
        });
        v.each("allowHeaders", &self.allow_headers, |v, h| cors_header(v, h));
        v.each("exposeHeaders", &self.expose_headers, |v, h| cors_header(v, h));
        v.opt("maxAge", &self.max_age, |v, d| {
            duration(v, *d);
            if d.get().subsec_nanos() != 0 {
                v.error(format!("max_age duration is accurate only to seconds precision (got {d})"));
            }
        });
    }
}

/// Istio `validateAllowOrigins`: a non-empty exact, prefix or regex.
fn allow_origin(v: &mut Validator<'_>, origin: &StringMatch) {
    let set = [&origin.exact, &origin.prefix, &origin.regex];
    if set.iter().filter(|s| s.is_some()).count() > 1 {
        v.error("only one of exact, prefix or regex may be set");
    }
    let value = set.iter().find_map(|s| s.as_deref()).unwrap_or("");
    if value.is_empty() {
        v.error(format!("'{value}' is not a valid match type for CORS allow origins"));
    } else {
        matching::regex_match(v, origin, "corsPolicy.allowOrigins");
    }
}

/// Istio `ValidateCORSHTTPHeaderName`: `*` or an RFC 7230 token.
fn cors_header(v: &mut Validator<'_>, name: &str) {
    if name.is_empty() {
        v.error("header name cannot be empty");
    } else if name != "*" && !rules::is_header_name(name) {
        v.error(format!("header name {name} is not a valid header name"));
    }
}

#[cfg(test)]
mod tests {
    use super::is_known_status_code;

    #[test]
    fn status_codes_like_go() {
        for ok in [503, 429, 100, 226, 308, 511] {
            assert!(is_known_status_code(ok), "{ok}");
        }
        for bad in [600, 306, 509, 0, 999] {
            assert!(!is_known_status_code(bad), "{bad}");
        }
    }
}

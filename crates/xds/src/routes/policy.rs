//! Per-route policies (Istio's `retry.ConvertPolicy`, `TranslateFault`, `TranslateCORSPolicy`):
//! retries with Istio's defaults when unset, fault injection for the `envoy.filters.http.fault`
//! filter, CORS for `envoy.filters.http.cors`, and the protobuf conversions they share.

use crate::any::pack;
use envoy_types::pb::envoy::config::core::v3::RuntimeFractionalPercent;
use envoy_types::pb::envoy::config::route::v3::{
    RetryPolicy,
    retry_policy::{RetryBackOff, RetryHostPredicate, RetryPriority, retry_host_predicate, retry_priority},
};
use envoy_types::pb::envoy::extensions::filters::common::fault::v3::{FaultDelay, fault_delay::FaultDelaySecifier};
use envoy_types::pb::envoy::extensions::filters::http::cors::v3::CorsPolicy;
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::{FaultAbort, HttpFault, fault_abort::ErrorType};
use envoy_types::pb::envoy::extensions::retry::host::previous_hosts::v3::PreviousHostsPredicate;
use envoy_types::pb::envoy::extensions::retry::priority::previous_priorities::v3::PreviousPrioritiesConfig;
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher::MatchPattern};
use envoy_types::pb::envoy::r#type::v3::{FractionalPercent, fractional_percent::DenominatorType};
use envoy_types::pb::google::protobuf::{BoolValue, Duration, UInt32Value};
use strait_model::networking::virtual_service::{
    CorsPolicy as IstioCors, HttpFaultInjection, HttpRetry, Percent, UnmatchedPreflights,
};
use strait_model::types::Duration as IstioDuration;

/// Istio's default `retryOn`.
pub const DEFAULT_RETRY_ON: &str = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";
/// The retry predicate that avoids the host that just failed.
const PREVIOUS_HOSTS: &str = "envoy.retry_host_predicates.previous_hosts";

/// A model duration as a protobuf Duration.
pub(crate) fn duration(d: IstioDuration) -> Duration {
    let d = d.get();
    Duration { seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX), nanos: d.subsec_nanos() as i32 }
}

/// A percentage (0–100, fractional) as parts per million, as Istio sends it.
pub(crate) fn per_million(p: &Percent) -> FractionalPercent {
    FractionalPercent { numerator: (p.value * 10_000.0) as u32, denominator: DenominatorType::Million as i32 }
}

/// An integer percentage out of a hundred.
pub(crate) fn per_hundred(p: u32) -> FractionalPercent {
    FractionalPercent { numerator: p, denominator: DenominatorType::Hundred as i32 }
}

/// A runtime fraction with no runtime key (the default value is what applies).
pub(crate) fn fraction(p: FractionalPercent) -> RuntimeFractionalPercent {
    RuntimeFractionalPercent { default_value: Some(p), runtime_key: String::new() }
}

fn previous_hosts() -> RetryHostPredicate {
    RetryHostPredicate {
        name: PREVIOUS_HOSTS.into(),
        config_type: Some(retry_host_predicate::ConfigType::TypedConfig(pack(&PreviousHostsPredicate {}))),
    }
}

/// The outbound retry policy: Istio's default when unset, none for `attempts: 0`.
pub(crate) fn retry_policy(retry: Option<&HttpRetry>) -> Option<RetryPolicy> {
    let mut out = RetryPolicy {
        num_retries: Some(UInt32Value { value: 2 }),
        retry_on: DEFAULT_RETRY_ON.into(),
        host_selection_retry_max_attempts: 5,
        retry_host_predicate: vec![previous_hosts()],
        ..Default::default()
    };
    let Some(r) = retry else { return Some(out) };
    let attempts = u32::try_from(r.attempts.unwrap_or(0)).ok().filter(|a| *a > 0)?;
    out.num_retries = Some(UInt32Value { value: attempts });
    if let Some(on) = r.retry_on.as_deref().filter(|s| !s.is_empty()) {
        let (kinds, codes) = parse_retry_on(on);
        out.retry_on = kinds;
        if !codes.is_empty() && !out.retry_on.contains("retriable-status-codes") {
            out.retry_on = if out.retry_on.is_empty() {
                "retriable-status-codes".into()
            } else {
                out.retry_on + ",retriable-status-codes"
            };
        }
        out.retriable_status_codes = codes;
    }
    out.per_try_timeout = r.per_try_timeout.map(duration);
    if let Some(ignore) = r.retry_ignore_previous_hosts {
        out.retry_host_predicate = if ignore { vec![previous_hosts()] } else { Vec::new() };
    }
    if r.retry_remote_localities == Some(true) {
        out.retry_priority = Some(RetryPriority {
            name: "envoy.retry_priorities.previous_priorities".into(),
            config_type: Some(retry_priority::ConfigType::TypedConfig(pack(&PreviousPrioritiesConfig {
                update_frequency: 2,
            }))),
        });
    }
    out.retry_back_off = r.backoff.map(|b| RetryBackOff { base_interval: Some(duration(b)), max_interval: None });
    Some(out)
}

/// Splits `retryOn` into Envoy conditions and numeric status codes (`"5xx,503"`).
fn parse_retry_on(on: &str) -> (String, Vec<u32>) {
    let mut kinds = Vec::new();
    let mut codes = Vec::new();
    for part in on.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.parse::<u32>() {
            Ok(code) => codes.push(code),
            Err(_) => kinds.push(part),
        }
    }
    (kinds.join(","), codes)
}

/// gRPC status names → codes (the model owns the table, shared with validation).
fn grpc_code(name: &str) -> Option<u32> {
    strait_model::networking::virtual_service::grpc_status_code(name)
}

/// The fault filter's per-route config; None when neither a delay nor an abort applies.
pub(crate) fn fault(f: &HttpFaultInjection) -> Option<HttpFault> {
    let delay = f.delay.as_ref().and_then(|d| {
        let fixed = d.fixed_delay?;
        let percentage = match &d.percentage {
            Some(p) => per_million(p),
            None => per_hundred(u32::try_from(d.percent.unwrap_or(0)).unwrap_or(0)),
        };
        Some(FaultDelay {
            percentage: Some(percentage),
            fault_delay_secifier: Some(FaultDelaySecifier::FixedDelay(duration(fixed))),
        })
    });
    let abort = f.abort.as_ref().and_then(|a| {
        let error = if let Some(status) = a.http_status {
            ErrorType::HttpStatus(u32::try_from(status).ok()?)
        } else {
            ErrorType::GrpcStatus(grpc_code(a.grpc_status.as_deref()?)?)
        };
        Some(FaultAbort {
            percentage: a.percentage.as_ref().map(per_million),
            error_type: Some(error),
            ..Default::default()
        })
    });
    (delay.is_some() || abort.is_some()).then(|| HttpFault { delay, abort, ..Default::default() })
}

/// The CORS filter's per-route policy.
pub(crate) fn cors(c: &IstioCors) -> CorsPolicy {
    let origins = if !c.allow_origins.is_empty() {
        c.allow_origins.iter().filter_map(super::matching::string_matcher).collect()
    } else {
        let exact =
            |o: &String| StringMatcher { match_pattern: Some(MatchPattern::Exact(o.clone())), ignore_case: false };
        c.allow_origin.iter().map(exact).collect()
    };
    CorsPolicy {
        allow_origin_string_match: origins,
        allow_methods: c.allow_methods.join(","),
        allow_headers: c.allow_headers.join(","),
        expose_headers: c.expose_headers.join(","),
        max_age: c.max_age.map(|d| d.get().as_secs().to_string()).unwrap_or_default(),
        allow_credentials: c.allow_credentials.map(|value| BoolValue { value }),
        filter_enabled: Some(fraction(per_hundred(100))),
        forward_not_matching_preflights: Some(BoolValue {
            value: c.unmatched_preflights != Some(UnmatchedPreflights::Ignore),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_on_splits_codes() {
        assert_eq!(parse_retry_on("5xx, 503,gateway-error"), ("5xx,gateway-error".into(), vec![503]));
        assert_eq!(grpc_code("UNAVAILABLE"), Some(14));
        assert_eq!(grpc_code("nope"), None);
    }
}

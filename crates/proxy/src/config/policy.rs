//! Per-route policies, compiled: the retry policy (conditions parsed into flags, status
//! codes, per-try timeout, back-off, the `previous_hosts` predicate) and fault injection
//! (fixed delay, HTTP or gRPC abort, each with a probability in parts per million).

use super::{ConfigError, Result, duration, no_other_fields, unpack};
use envoy_types::pb::envoy::config::route::v3::RetryPolicy as EnvoyRetryPolicy;
use envoy_types::pb::envoy::config::route::v3::retry_policy::retry_host_predicate::ConfigType as PredicateConfig;
use envoy_types::pb::envoy::extensions::filters::common::fault::v3::fault_delay::FaultDelaySecifier;
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::{HttpFault, fault_abort::ErrorType};
use envoy_types::pb::envoy::r#type::v3::{FractionalPercent, fractional_percent::DenominatorType};
use envoy_types::pb::google::protobuf::Any;
use std::time::Duration;

/// The `previous_hosts` retry predicate.
pub const PREVIOUS_HOSTS: &str = "envoy.retry_host_predicates.previous_hosts";

/// Retry conditions (Envoy's `retry_on`), as flags.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RetryOn {
    /// Any 5xx response, connect failure or reset.
    pub five_xx: bool,
    /// 502, 503, 504, connect failure or reset.
    pub gateway_error: bool,
    /// Connection reset or failure after the connection was made.
    pub reset: bool,
    /// Reset before any request byte was sent.
    pub reset_before_request: bool,
    /// Connect failure.
    pub connect_failure: bool,
    /// A `retriable_status_codes` status.
    pub retriable_status_codes: bool,
    /// 409.
    pub retriable_4xx: bool,
    /// HTTP/2 REFUSED_STREAM.
    pub refused_stream: bool,
    /// gRPC statuses (cancelled, deadline-exceeded, internal, resource-exhausted, unavailable).
    pub grpc: [bool; 5],
}

/// A compiled retry policy.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Conditions.
    pub on: RetryOn,
    /// Retries after the first attempt.
    pub num_retries: u32,
    /// Timeout of each attempt.
    pub per_try_timeout: Option<Duration>,
    /// Statuses retried under `retriable-status-codes`.
    pub status_codes: Vec<u16>,
    /// Base back-off interval (Envoy's default 25 ms).
    pub base_interval: Duration,
    /// Maximum back-off interval (default ten times the base).
    pub max_interval: Duration,
    /// Prefer a host not tried yet.
    pub avoid_previous_hosts: bool,
    /// Host picks to try to satisfy the predicate.
    pub host_selection_attempts: u32,
}

impl TryFrom<&EnvoyRetryPolicy> for RetryPolicy {
    type Error = ConfigError;

    fn try_from(p: &EnvoyRetryPolicy) -> Result<Self> {
        let mut on = RetryOn::default();
        for cond in p.retry_on.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            match cond {
                "5xx" => on.five_xx = true,
                "gateway-error" => on.gateway_error = true,
                "reset" => on.reset = true,
                "reset-before-request" => on.reset_before_request = true,
                "connect-failure" => on.connect_failure = true,
                "retriable-status-codes" => on.retriable_status_codes = true,
                "retriable-4xx" => on.retriable_4xx = true,
                "refused-stream" => on.refused_stream = true,
                "cancelled" => on.grpc[0] = true,
                "deadline-exceeded" => on.grpc[1] = true,
                "internal" => on.grpc[2] = true,
                "resource-exhausted" => on.grpc[3] = true,
                "unavailable" => on.grpc[4] = true,
                other => {
                    return Err(ConfigError::new("retry_on", format!("retry condition {other:?} is not supported")));
                }
            }
        }
        let mut avoid_previous_hosts = false;
        for (i, pred) in p.retry_host_predicate.iter().enumerate() {
            if pred.name != PREVIOUS_HOSTS || !matches!(pred.config_type, None | Some(PredicateConfig::TypedConfig(_)))
            {
                return Err(ConfigError::unsupported(format!("retry_host_predicate[{i}]")));
            }
            avoid_previous_hosts = true;
        }
        let status_codes = p
            .retriable_status_codes
            .iter()
            .map(|c| u16::try_from(*c).map_err(|_| ConfigError::new("retriable_status_codes", "not a status code")))
            .collect::<Result<_>>()?;
        let back_off = p.retry_back_off.as_ref();
        let base_interval = duration("retry_back_off.base_interval", back_off.and_then(|b| b.base_interval.as_ref()))?
            .unwrap_or(Duration::from_millis(25));
        let max_interval = duration("retry_back_off.max_interval", back_off.and_then(|b| b.max_interval.as_ref()))?
            .unwrap_or(base_interval * 10);
        let rest = EnvoyRetryPolicy {
            retry_on: String::new(),
            num_retries: None,
            per_try_timeout: None,
            retry_host_predicate: Vec::new(),
            host_selection_retry_max_attempts: 0,
            retriable_status_codes: Vec::new(),
            retry_back_off: None,
            ..p.clone()
        };
        no_other_fields(&rest)?;
        Ok(RetryPolicy {
            on,
            num_retries: p.num_retries.as_ref().map_or(1, |n| n.value),
            per_try_timeout: duration("per_try_timeout", p.per_try_timeout.as_ref())?.filter(|d| !d.is_zero()),
            status_codes,
            base_interval,
            max_interval,
            avoid_previous_hosts,
            host_selection_attempts: u32::try_from(p.host_selection_retry_max_attempts.max(1)).unwrap_or(1),
        })
    }
}

/// A route's fault injection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Fixed delay and its probability (parts per million).
    pub delay: Option<(Duration, u32)>,
    /// Abort and its probability (parts per million).
    pub abort: Option<(Abort, u32)>,
}

/// How a request is aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abort {
    /// An HTTP status.
    Http(u16),
    /// A gRPC status (HTTP 200 with `grpc-status`).
    Grpc(u32),
}

/// Parts per million of a fractional percentage (unset is 0%, as in Envoy).
pub fn per_million(p: Option<&FractionalPercent>) -> u32 {
    let Some(p) = p else { return 0 };
    let scale = match DenominatorType::try_from(p.denominator) {
        Ok(DenominatorType::Hundred) => 10_000,
        Ok(DenominatorType::TenThousand) => 100,
        _ => 1,
    };
    p.numerator.saturating_mul(scale).min(1_000_000)
}

impl Fault {
    /// The per-route fault config (`typed_per_filter_config["envoy.filters.http.fault"]`).
    pub fn from_any(any: &Any) -> Result<Self> {
        let f: HttpFault = unpack("", any)?;
        let delay = match &f.delay {
            Some(d) => match &d.fault_delay_secifier {
                Some(FaultDelaySecifier::FixedDelay(fixed)) => {
                    let fixed = duration("delay.fixed_delay", Some(fixed))?.unwrap_or_default();
                    Some((fixed, per_million(d.percentage.as_ref())))
                }
                _ => return Err(ConfigError::unsupported("delay.header_delay")),
            },
            None => None,
        };
        let abort = match &f.abort {
            Some(a) => {
                let kind = match &a.error_type {
                    Some(ErrorType::HttpStatus(s)) => Abort::Http(
                        u16::try_from(*s)
                            .ok()
                            .filter(|s| (200..600).contains(s))
                            .ok_or_else(|| ConfigError::new("abort.http_status", "must be 200-599"))?,
                    ),
                    Some(ErrorType::GrpcStatus(s)) => Abort::Grpc(*s),
                    _ => return Err(ConfigError::unsupported("abort.header_abort")),
                };
                if !a.response_body.is_empty() {
                    return Err(ConfigError::unsupported("abort.response_body"));
                }
                Some((kind, per_million(a.percentage.as_ref())))
            }
            None => None,
        };
        no_other_fields(&HttpFault { delay: None, abort: None, ..f })?;
        Ok(Fault { delay, abort })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::google::protobuf::UInt32Value;

    #[test]
    fn retry_conditions_parse_and_unknown_ones_nack() {
        let p = EnvoyRetryPolicy {
            retry_on: "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes".into(),
            num_retries: Some(UInt32Value { value: 2 }),
            retriable_status_codes: vec![503],
            ..Default::default()
        };
        let r = RetryPolicy::try_from(&p).expect("Istio's default policy compiles");
        assert!(r.on.connect_failure && r.on.refused_stream && r.on.retriable_status_codes && r.on.grpc[4]);
        assert_eq!(
            (r.num_retries, r.status_codes.as_slice(), r.base_interval),
            (2, &[503][..], Duration::from_millis(25))
        );
        let bad = EnvoyRetryPolicy { retry_on: "5xx,sometimes".into(), ..Default::default() };
        assert_eq!(
            RetryPolicy::try_from(&bad).expect_err("unknown").to_string(),
            "retry_on: retry condition \"sometimes\" is not supported"
        );
    }

    #[test]
    fn percentages_scale_to_parts_per_million() {
        let pct = |numerator, d: DenominatorType| FractionalPercent { numerator, denominator: d as i32 };
        assert_eq!(per_million(Some(&pct(100, DenominatorType::Hundred))), 1_000_000);
        assert_eq!(per_million(Some(&pct(500_000, DenominatorType::Million))), 500_000);
        assert_eq!(per_million(Some(&pct(1, DenominatorType::TenThousand))), 100);
        assert_eq!(per_million(None), 0);
    }
}

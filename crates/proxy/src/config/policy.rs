//! Per-route policies, compiled: the retry policy (conditions parsed into flags, status
//! codes, per-try timeout, back-off, the `previous_hosts` predicate), fault injection
//! (fixed delay, HTTP or gRPC abort, each with a probability in parts per million), request
//! mirroring (the shadow cluster and its percentage) and CORS (the `envoy.filters.http.cors`
//! per-route or per-virtual-host policy; `crate::http::cors` applies it).

use super::matcher::StringMatch;
use super::{ConfigError, Result, duration, each, no_other_fields, unpack};
use envoy_types::pb::envoy::config::core::v3::RuntimeFractionalPercent;
use envoy_types::pb::envoy::config::route::v3::RetryPolicy as EnvoyRetryPolicy;
use envoy_types::pb::envoy::config::route::v3::retry_policy::retry_host_predicate::ConfigType as PredicateConfig;
use envoy_types::pb::envoy::config::route::v3::route_action::RequestMirrorPolicy;
use envoy_types::pb::envoy::extensions::filters::common::fault::v3::fault_delay::FaultDelaySecifier;
use envoy_types::pb::envoy::extensions::filters::http::cors::v3::CorsPolicy;
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

/// Parts per million of a runtime fraction (unset: 100%). There is no runtime layer, so the
/// default value is what applies, as in an Envoy without runtime overrides.
fn fraction(f: Option<&RuntimeFractionalPercent>) -> u32 {
    f.map_or(1_000_000, |f| per_million(f.default_value.as_ref()))
}

/// A request mirror policy: a fire-and-forget copy of the request to `cluster`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// The shadow cluster.
    pub cluster: String,
    /// Share of requests mirrored (parts per million).
    pub per_million: u32,
    /// Append `-shadow` to the copy's host (Envoy's default).
    pub host_suffix: bool,
}

impl TryFrom<&RequestMirrorPolicy> for Mirror {
    type Error = ConfigError;

    fn try_from(m: &RequestMirrorPolicy) -> Result<Self> {
        if m.cluster.is_empty() {
            return Err(ConfigError::new("cluster", "a cluster is required (cluster_header is not supported)"));
        }
        let rest = RequestMirrorPolicy {
            cluster: String::new(),
            runtime_fraction: None,
            // Only tracing reads it, and the proxy does not trace.
            trace_sampled: None,
            disable_shadow_host_suffix_append: false,
            ..m.clone()
        };
        no_other_fields(&rest)?;
        Ok(Mirror {
            cluster: m.cluster.clone(),
            per_million: fraction(m.runtime_fraction.as_ref()),
            host_suffix: !m.disable_shadow_host_suffix_append,
        })
    }
}

/// A compiled CORS policy. Every field but the enablement is "unset" when empty or None, so
/// that a route's policy and its virtual host's combine as Envoy combines them (the first
/// policy that sets a field wins).
#[derive(Debug, Default)]
pub struct Cors {
    /// Origins allowed (a matcher that admits `*` admits every origin).
    pub allow_origins: Vec<StringMatch>,
    /// `access-control-allow-methods` (`*`: echo the requested method).
    pub allow_methods: String,
    /// `access-control-allow-headers` (`*`: echo the requested headers).
    pub allow_headers: String,
    /// `access-control-expose-headers`.
    pub expose_headers: String,
    /// `access-control-max-age`.
    pub max_age: String,
    /// `access-control-allow-credentials: true`.
    pub allow_credentials: Option<bool>,
    /// Answer Chrome's private network access preflights.
    pub allow_private_network_access: Option<bool>,
    /// Preflights from an origin not allowed go upstream (Envoy's default) instead of being
    /// answered without CORS headers.
    pub forward_not_matching_preflights: Option<bool>,
    /// Share of requests the policy applies to (parts per million; unset: all).
    pub enabled: u32,
    /// Shadow mode: origins are checked for stats only (no observable effect).
    pub shadow: Option<u32>,
}

impl Cors {
    /// The per-route or per-virtual-host config (`typed_per_filter_config["envoy.filters.http.cors"]`).
    pub fn from_any(any: &Any) -> Result<Self> {
        let p: CorsPolicy = unpack("", any)?;
        let allow_origins =
            each("allow_origin_string_match", &p.allow_origin_string_match, |m| StringMatch::try_from(m))?;
        // Every field is read below: the struct pattern makes a new field a compile error here.
        let CorsPolicy {
            allow_origin_string_match: _,
            allow_methods: _,
            allow_headers: _,
            expose_headers: _,
            max_age: _,
            allow_credentials: _,
            filter_enabled: _,
            shadow_enabled: _,
            allow_private_network_access: _,
            forward_not_matching_preflights: _,
        } = &p;
        Ok(Cors {
            allow_origins,
            allow_methods: p.allow_methods,
            allow_headers: p.allow_headers,
            expose_headers: p.expose_headers,
            max_age: p.max_age,
            allow_credentials: p.allow_credentials.map(|b| b.value),
            allow_private_network_access: p.allow_private_network_access.map(|b| b.value),
            forward_not_matching_preflights: p.forward_not_matching_preflights.map(|b| b.value),
            enabled: fraction(p.filter_enabled.as_ref()),
            shadow: p.shadow_enabled.as_ref().map(|f| fraction(Some(f))),
        })
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

    #[test]
    fn mirrors_compile_with_their_percentage() {
        let fraction = |numerator| RuntimeFractionalPercent {
            default_value: Some(FractionalPercent { numerator, denominator: DenominatorType::Hundred as i32 }),
            runtime_key: String::new(),
        };
        let table = [
            (None, false, 1_000_000, true),
            (Some(fraction(25)), false, 250_000, true),
            (Some(fraction(100)), true, 1_000_000, false),
        ];
        for (runtime_fraction, disable, per_million, host_suffix) in table {
            let p = RequestMirrorPolicy {
                cluster: "outbound|9080||shadow.default.svc.cluster.local".into(),
                runtime_fraction,
                trace_sampled: Some(envoy_types::pb::google::protobuf::BoolValue { value: false }),
                disable_shadow_host_suffix_append: disable,
                ..Default::default()
            };
            let m = Mirror::try_from(&p).expect("compiles");
            assert_eq!((m.per_million, m.host_suffix), (per_million, host_suffix));
        }
        let header = RequestMirrorPolicy { cluster_header: "x-cluster".into(), ..Default::default() };
        assert!(Mirror::try_from(&header).is_err(), "cluster_header is refused by name");
        let rewrite =
            RequestMirrorPolicy { cluster: "c".into(), host_rewrite_literal: "h".into(), ..Default::default() };
        let e = Mirror::try_from(&rewrite).expect_err("host_rewrite_literal is not supported");
        assert!(e.to_string().contains("RequestMirrorPolicy"), "{e}");
    }

    #[test]
    fn cors_policies_compile_from_istios_translation() {
        use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher::MatchPattern};
        use envoy_types::pb::google::protobuf::BoolValue;
        let exact = |s: &str| StringMatcher { match_pattern: Some(MatchPattern::Exact(s.into())), ignore_case: false };
        let policy = CorsPolicy {
            allow_origin_string_match: vec![exact("https://a.example")],
            allow_methods: "GET,POST".into(),
            max_age: "86400".into(),
            allow_credentials: Some(BoolValue { value: true }),
            filter_enabled: Some(RuntimeFractionalPercent {
                default_value: Some(FractionalPercent { numerator: 100, denominator: DenominatorType::Hundred as i32 }),
                runtime_key: String::new(),
            }),
            forward_not_matching_preflights: Some(BoolValue { value: true }),
            ..Default::default()
        };
        let any =
            Any { type_url: <CorsPolicy as prost::Name>::type_url(), value: prost::Message::encode_to_vec(&policy) };
        let c = Cors::from_any(&any).expect("compiles");
        assert_eq!(
            (c.allow_origins.len(), c.allow_methods.as_str(), c.max_age.as_str(), c.allow_credentials, c.enabled),
            (1, "GET,POST", "86400", Some(true), 1_000_000)
        );
        assert_eq!(c.forward_not_matching_preflights, Some(true));
        let bad = Any { type_url: "type.googleapis.com/other".into(), value: Vec::new() };
        assert!(Cors::from_any(&bad).is_err());
    }
}

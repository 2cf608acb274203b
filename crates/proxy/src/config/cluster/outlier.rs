//! Outlier detection, compiled: `OutlierDetection` → [`OutlierConfig`] with Envoy's defaults
//! for unset fields (interval 10 s, base ejection time 30 s, 5 consecutive 5xx enforced at 100%,
//! 5 consecutive gateway failures enforced at 0%, at most 10% of hosts ejected, ejections capped
//! at 300 s). The consecutive-error detectors are implemented (5xx, gateway failures, and local
//! origin failures when `split_external_local_origin_errors` is set); success-rate and
//! failure-percentage ejection are not, so a config that enforces them is refused by name
//! (Istio always sets `enforcing_success_rate: 0` and never enables failure percentage).

use crate::config::{ConfigError, Result, duration, no_other_fields};
use envoy_types::pb::envoy::config::cluster::v3::OutlierDetection;
use envoy_types::pb::google::protobuf::UInt32Value;
use std::time::Duration;

/// A cluster's outlier detection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutlierConfig {
    /// How often ejections are reviewed (unejection happens on these ticks).
    pub interval: Duration,
    /// Ejection time per ejection of a host (multiplied by its ejection count).
    pub base_ejection_time: Duration,
    /// Cap on one ejection.
    pub max_ejection_time: Duration,
    /// Random extra ejection time, up to this.
    pub max_ejection_time_jitter: Duration,
    /// Ejected hosts may not exceed this percentage of the cluster's hosts.
    pub max_ejection_percent: u32,
    /// Eject one host even when that exceeds `max_ejection_percent`.
    pub always_eject_one_host: bool,
    /// Consecutive 5xx (and, unless split, local-origin failures) that eject.
    pub consecutive_5xx: Detector,
    /// Consecutive 502/503/504 (and, unless split, local-origin failures) that eject.
    pub consecutive_gateway_failure: Detector,
    /// Local-origin failures (connect failures, timeouts, resets) counted apart from HTTP
    /// statuses.
    pub split_local_origin: bool,
    /// Consecutive local-origin failures that eject (only when split).
    pub consecutive_local_origin_failure: Detector,
}

/// One consecutive-error detector: its threshold and the percentage of detections enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detector {
    /// Consecutive errors that trigger it.
    pub threshold: u32,
    /// Percentage (0–100) of triggers that eject.
    pub enforcing: u32,
}

fn value(v: Option<&UInt32Value>, default: u32) -> u32 {
    v.map_or(default, |v| v.value)
}

impl TryFrom<&OutlierDetection> for OutlierConfig {
    type Error = ConfigError;

    fn try_from(o: &OutlierDetection) -> Result<Self> {
        refuse_unimplemented(o)?;
        let ms = |field: &str, d, default: u64| duration(field, d).map(|d| d.unwrap_or(Duration::from_millis(default)));
        let base_ejection_time = ms("base_ejection_time", o.base_ejection_time.as_ref(), 30_000)?;
        let default_max = Duration::from_millis(300_000).max(base_ejection_time);
        let max_ejection_time = duration("max_ejection_time", o.max_ejection_time.as_ref())?.unwrap_or(default_max);
        if max_ejection_time < base_ejection_time {
            // Envoy's own check, with its words.
            return Err(ConfigError::new(
                "max_ejection_time",
                "outlier detector's max_ejection_time cannot be smaller than base_ejection_time",
            ));
        }
        let interval = ms("interval", o.interval.as_ref(), 10_000)?;
        if interval.is_zero() {
            return Err(ConfigError::new("interval", "must be greater than 0"));
        }
        let percent = |v: Option<&UInt32Value>, default: u32| value(v, default).min(100);
        Ok(OutlierConfig {
            interval,
            base_ejection_time,
            max_ejection_time,
            max_ejection_time_jitter: ms("max_ejection_time_jitter", o.max_ejection_time_jitter.as_ref(), 0)?,
            max_ejection_percent: percent(o.max_ejection_percent.as_ref(), 10),
            always_eject_one_host: o.always_eject_one_host.as_ref().is_some_and(|b| b.value),
            consecutive_5xx: Detector {
                threshold: value(o.consecutive_5xx.as_ref(), 5),
                enforcing: percent(o.enforcing_consecutive_5xx.as_ref(), 100),
            },
            consecutive_gateway_failure: Detector {
                threshold: value(o.consecutive_gateway_failure.as_ref(), 5),
                enforcing: percent(o.enforcing_consecutive_gateway_failure.as_ref(), 0),
            },
            split_local_origin: o.split_external_local_origin_errors,
            consecutive_local_origin_failure: Detector {
                threshold: value(o.consecutive_local_origin_failure.as_ref(), 5),
                enforcing: percent(o.enforcing_consecutive_local_origin_failure.as_ref(), 100),
            },
        })
    }
}

/// Success-rate and failure-percentage ejection are not implemented: refuse configs that
/// enforce them (Envoy enforces success rate at 100% when the field is unset).
fn refuse_unimplemented(o: &OutlierDetection) -> Result<()> {
    let enforced = |v: Option<&UInt32Value>, default: u32| value(v, default) > 0;
    if enforced(o.enforcing_success_rate.as_ref(), 100) {
        return Err(ConfigError::new(
            "enforcing_success_rate",
            "success-rate ejection is not supported by the Strait proxy (set it to 0, as Istio does)",
        ));
    }
    if o.split_external_local_origin_errors && enforced(o.enforcing_local_origin_success_rate.as_ref(), 100) {
        return Err(ConfigError::new(
            "enforcing_local_origin_success_rate",
            "success-rate ejection is not supported by the Strait proxy (set it to 0, as Istio does)",
        ));
    }
    let percentage = [
        (o.enforcing_failure_percentage.as_ref(), "enforcing_failure_percentage"),
        (o.enforcing_failure_percentage_local_origin.as_ref(), "enforcing_failure_percentage_local_origin"),
    ];
    if let Some((_, field)) = percentage.iter().find(|(v, _)| enforced(*v, 0)) {
        return Err(ConfigError::new(*field, "failure-percentage ejection is not supported by the Strait proxy"));
    }
    if !o.monitors.is_empty() {
        return Err(ConfigError::unsupported("monitors"));
    }
    // What is left must be understood: the fields above, plus the success-rate and
    // failure-percentage parameters, which only matter when those detectors are enforced
    // (they are not), and the active health check option (there are no health checks).
    let rest = OutlierDetection {
        consecutive_5xx: None,
        interval: None,
        base_ejection_time: None,
        max_ejection_percent: None,
        enforcing_consecutive_5xx: None,
        enforcing_success_rate: None,
        success_rate_minimum_hosts: None,
        success_rate_request_volume: None,
        success_rate_stdev_factor: None,
        consecutive_gateway_failure: None,
        enforcing_consecutive_gateway_failure: None,
        split_external_local_origin_errors: false,
        consecutive_local_origin_failure: None,
        enforcing_consecutive_local_origin_failure: None,
        enforcing_local_origin_success_rate: None,
        failure_percentage_threshold: None,
        enforcing_failure_percentage: None,
        enforcing_failure_percentage_local_origin: None,
        failure_percentage_minimum_hosts: None,
        failure_percentage_request_volume: None,
        max_ejection_time: None,
        max_ejection_time_jitter: None,
        successful_active_health_check_uneject_host: None,
        always_eject_one_host: None,
        ..o.clone()
    };
    no_other_fields(&rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::google::protobuf::Duration as PbDuration;

    fn u(n: u32) -> Option<UInt32Value> {
        Some(UInt32Value { value: n })
    }

    /// What Istio generates for `consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 60s,
    /// maxEjectionPercent: 100`.
    fn istio() -> OutlierDetection {
        OutlierDetection {
            consecutive_5xx: u(1),
            enforcing_consecutive_5xx: u(100),
            enforcing_success_rate: u(0),
            interval: Some(PbDuration { seconds: 1, nanos: 0 }),
            base_ejection_time: Some(PbDuration { seconds: 60, nanos: 0 }),
            max_ejection_percent: u(100),
            ..Default::default()
        }
    }

    #[test]
    fn istio_settings_and_envoy_defaults() {
        let c = OutlierConfig::try_from(&istio()).expect("compiles");
        assert_eq!(c.consecutive_5xx, Detector { threshold: 1, enforcing: 100 });
        assert_eq!(c.consecutive_gateway_failure, Detector { threshold: 5, enforcing: 0 });
        assert_eq!((c.interval, c.base_ejection_time), (Duration::from_secs(1), Duration::from_secs(60)));
        assert_eq!((c.max_ejection_time, c.max_ejection_percent), (Duration::from_secs(300), 100));
    }

    #[test]
    fn unimplemented_detectors_are_refused_by_name() {
        let e = OutlierConfig::try_from(&OutlierDetection::default()).expect_err("success rate enforced by default");
        assert!(e.to_string().starts_with("enforcing_success_rate: success-rate ejection"), "{e}");
        let o = OutlierDetection { enforcing_failure_percentage: u(50), ..istio() };
        let e = OutlierConfig::try_from(&o).expect_err("failure percentage");
        assert!(e.to_string().starts_with("enforcing_failure_percentage: "), "{e}");
        let o = OutlierDetection { max_ejection_time: Some(PbDuration { seconds: 1, nanos: 0 }), ..istio() };
        let e = OutlierConfig::try_from(&o).expect_err("max below base");
        assert!(e.to_string().contains("cannot be smaller than base_ejection_time"), "{e}");
    }
}

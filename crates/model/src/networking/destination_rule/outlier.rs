//! Outlier detection (Envoy passive health checking): [`OutlierDetection`] and Istio's
//! `validateOutlierDetection` rules, plus the CRD's range on HTTP error codes.

use super::opt_ms_duration;
use crate::types::Duration;
use crate::validation::{Validate, Validator, rules};
use serde::{Deserialize, Serialize};

/// Istio `OutlierDetection`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutlierDetection {
    /// Deprecated: use `consecutiveGatewayErrors` or `consecutive5xxErrors`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_errors: Option<i32>,
    /// Count local-origin failures (connect errors, timeouts) separately from upstream errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_external_local_origin_errors: Option<bool>,
    /// Local-origin failures before ejection (needs `splitExternalLocalOriginErrors`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_local_origin_failures: Option<u32>,
    /// 502/503/504 (and connection errors) before ejection; 0 disables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_gateway_errors: Option<u32>,
    /// 5xx responses (and connection errors) before ejection; 0 disables (Envoy default 5).
    #[serde(default, rename = "consecutive5xxErrors", skip_serializing_if = "Option::is_none")]
    pub consecutive_5xx_errors: Option<u32>,
    /// Time between ejection sweeps (Envoy default 10s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Minimum ejection time, multiplied by the number of ejections (Envoy default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_ejection_time: Option<Duration>,
    /// Maximum percentage of hosts ejected (Envoy default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ejection_percent: Option<i32>,
    /// Healthy percentage below which outlier detection is disabled (panic threshold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_health_percent: Option<i32>,
    /// HTTP status codes (100-599) counted as errors, instead of all 5xx.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outlier_detection_http_error_codes: Vec<u32>,
}

/// Istio `ValidatePercent` for integer percentages.
fn int_percent(v: &mut Validator<'_>, field: &str, value: Option<i32>) {
    if let Some(p) = value.filter(|p| !(0..=100).contains(p)) {
        v.error_at(field, format!("percentage {p} is not in range 0..100"));
    }
}

impl Validate for OutlierDetection {
    fn validate(&self, v: &mut Validator<'_>) {
        opt_ms_duration(v, "baseEjectionTime", self.base_ejection_time);
        if self.consecutive_errors.is_some_and(|n| n != 0) {
            v.field("consecutiveErrors", |v| {
                v.warn("outlier detection consecutive errors is deprecated, use consecutiveGatewayErrors or consecutive5xxErrors instead")
            });
        }
        if self.split_external_local_origin_errors != Some(true)
            && self.consecutive_local_origin_failures.is_some_and(|n| n > 0)
        {
            v.error_at(
                "consecutiveLocalOriginFailures",
                "outlier detection consecutive local origin failures is specified, but split external local origin errors is set to false",
            );
        }
        opt_ms_duration(v, "interval", self.interval);
        int_percent(v, "maxEjectionPercent", self.max_ejection_percent);
        int_percent(v, "minHealthPercent", self.min_health_percent);
        v.each("outlierDetectionHttpErrorCodes", &self.outlier_detection_http_error_codes, |v, code| {
            rules::openapi_range(v, *code, Some(100), Some(599));
        });
    }
}

//! Istio `WorkloadEntry` (networking.istio.io): types and validation. (Placeholder, being written.)

use crate::validation::{Validate, Validator};
use serde::{Deserialize, Serialize};

/// `WorkloadEntry` spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadEntry {}

impl Validate for WorkloadEntry {
    fn validate(&self, _v: &mut Validator<'_>) {}
}

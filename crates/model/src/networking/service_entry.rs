//! Istio `ServiceEntry` (networking.istio.io): types and validation. (Placeholder, being written.)

use crate::validation::{Validate, Validator};
use serde::{Deserialize, Serialize};

/// `ServiceEntry` spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceEntry {}

impl Validate for ServiceEntry {
    fn validate(&self, _v: &mut Validator<'_>) {}
}

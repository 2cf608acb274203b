//! Istio `DestinationRule` (networking.istio.io): types and validation. (Placeholder, being written.)

use crate::validation::{Validate, Validator};
use serde::{Deserialize, Serialize};

/// `DestinationRule` spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DestinationRule {}

impl Validate for DestinationRule {
    fn validate(&self, _v: &mut Validator<'_>) {}
}

//! Istio `Gateway` (networking.istio.io): types and validation. (Placeholder, being written.)

use crate::validation::{Validate, Validator};
use serde::{Deserialize, Serialize};

/// `Gateway` spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Gateway {}

impl Validate for Gateway {
    fn validate(&self, _v: &mut Validator<'_>) {}
}

//! Istio `AuthorizationPolicy` (security.istio.io): types and validation. (Placeholder, being written.)

use crate::validation::{Validate, Validator};
use serde::{Deserialize, Serialize};

/// `AuthorizationPolicy` spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizationPolicy {}

impl Validate for AuthorizationPolicy {
    fn validate(&self, _v: &mut Validator<'_>) {}
}

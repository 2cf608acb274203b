//! Istio `RequestAuthentication` (security.istio.io): types and validation. (Placeholder, being written.)

use crate::validation::{Validate, Validator};
use serde::{Deserialize, Serialize};

/// `RequestAuthentication` spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestAuthentication {}

impl Validate for RequestAuthentication {
    fn validate(&self, _v: &mut Validator<'_>) {}
}

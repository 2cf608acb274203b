//! Istio `PeerAuthentication` (security.istio.io): types and validation. (Placeholder, being written.)

use crate::validation::{Validate, Validator};
use serde::{Deserialize, Serialize};

/// `PeerAuthentication` spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PeerAuthentication {}

impl Validate for PeerAuthentication {
    fn validate(&self, _v: &mut Validator<'_>) {}
}

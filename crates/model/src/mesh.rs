//! MeshConfig: mesh-wide settings (placeholder, being written).

use crate::validation::{Validate, Validator};
use serde::{Deserialize, Serialize};

/// Mesh-wide configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeshConfig {}

impl Validate for MeshConfig {
    fn validate(&self, _v: &mut Validator<'_>) {}
}

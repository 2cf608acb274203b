//! The message catalogues: Istio's codes exactly as `analyzer-messages.yaml` (istio/istio
//! `pkg/config/analysis/msg/messages.yaml`) defines them, and Strait's own `STRnnnn` codes for
//! the pitfalls Istio's analyzers do not cover. The conformance test checks the Istio table
//! against the YAML file line by line.

use crate::message::MessageType;

pub mod istio;
pub mod strait;

/// The message type with this code, Istio's or Strait's.
pub fn by_code(code: &str) -> Option<&'static MessageType> {
    istio::ALL.iter().chain(strait::ALL.iter()).copied().find(|t| t.code.eq_ignore_ascii_case(code))
}

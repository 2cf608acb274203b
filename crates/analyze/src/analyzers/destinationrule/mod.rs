//! The DestinationRule analyzers (Istio's `analyzers/destinationrule` package).

pub mod ca_certificates;
pub mod subsets;

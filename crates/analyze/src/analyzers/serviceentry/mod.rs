//! The ServiceEntry analyzers (Istio's `analyzers/serviceentry` package).

pub mod addresses;
pub mod conflicts;

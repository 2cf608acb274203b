//! The Deployment analyzers (Istio's `analyzers/deployment` package).

pub mod application_uid;
pub mod services;

//! The Strait config model: typed Istio and Kubernetes resources and Istio's validation rules.
//!
//! This crate is the innermost layer: it does no I/O and knows nothing of kube, tonic or hyper.
//! The loader (`strait-config`) turns files into [`Resource`]s through [`Resource::decode`];
//! everything downstream (registry, xDS generation, proxy) consumes these types.

pub mod k8s;
pub mod kind;
pub mod mesh;
pub mod networking;
pub mod object;
pub mod path;
pub mod resource;
pub mod security;
pub mod suggest;
pub mod types;
pub mod validation;

pub use kind::{Kind, Support};
pub use object::Object;
pub use path::{FieldPath, Segment};
pub use resource::Resource;
pub use validation::{Issue, Severity, Validate, Validator};

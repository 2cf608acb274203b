//! The local mesh: `strait up` runs ordinary Kubernetes manifests (Deployments, Services,
//! ServiceAccounts, Namespaces) plus Istio config on one machine. Each replica becomes a "pod":
//! one sidecar (`strait proxy`) and the app's processes, on loopback addresses of their own;
//! the control plane runs embedded and sees the pods as Pod objects. `strait demo` runs a
//! Bookinfo-like mesh whose apps are built into the binary and drives traffic through it.
//!
//! [`plan`] turns manifests into pods (pure, table-tested); [`supervisor`] runs them (the
//! embedded control plane, one task per process, readiness probes, the Pod objects the
//! registry reads, and with `--isolation netns` a network namespace per pod); [`status`] is
//! the live view; [`logs`] serves `strait logs`; [`facts`] reads what the running apps listen
//! on (`strait analyze --mesh`); [`up`] is `strait up`; [`apps`] are the demo
//! apps built into the binary; [`demo`] is `strait demo` (scenarios, traffic, and per-service
//! numbers parsed from the sidecars' access logs).

pub mod apps;
pub mod demo;
pub mod facts;
pub mod logs;
pub mod plan;
pub mod status;
pub mod supervisor;
pub mod up;

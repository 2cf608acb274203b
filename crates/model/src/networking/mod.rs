//! networking.istio.io kinds: traffic routing (VirtualService), destination policies
//! (DestinationRule), the service registry's extensions (ServiceEntry, WorkloadEntry,
//! WorkloadGroup), edge listeners (Gateway) and sidecar scoping (Sidecar).

pub mod destination_rule;
pub mod gateway;
pub mod listener;
pub mod server_tls;
pub mod service_entry;
pub mod sidecar;
pub mod virtual_service;
pub mod workload_entry;
pub mod workload_group;

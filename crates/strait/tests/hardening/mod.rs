//! Support for `strait_proxy_hardening_e2e.rs`: the recording upstream, raw HTTP/1 and
//! frame-level HTTP/2 clients, concurrent load, and a one-sidecar harness on this binary's own
//! addresses (127.0.0.70–79, which no other test binary uses).

pub mod h2;
pub mod load;
pub mod raw;
pub mod recorder;
pub mod sidecar;

//! Mirrors Istio's `serviceentry.ProtocolAddressesAnalyzer`: a ServiceEntry port that is TCP
//! (or has no protocol) needs `addresses`, since TCP traffic is matched by destination IP
//! (IST0134, per port) — unless the mesh captures DNS and auto-allocates addresses
//! (`ISTIO_META_DNS_CAPTURE` with `ISTIO_META_DNS_AUTO_ALLOCATE` or
//! `PILOT_ENABLE_IP_AUTOALLOCATE` in the default proxy config), or the status shows allocated
//! addresses.

use crate::codes::istio;
use crate::context::{Context, Reporter};
use strait_model::Resource;

fn auto_allocated(ctx: &Context<'_>) -> bool {
    let pc = ctx.mesh.effective_proxy_config();
    let is_true = |k: &str| pc.proxy_metadata.get(k).is_some_and(|v| v == "true");
    is_true("ISTIO_META_DNS_CAPTURE")
        && (is_true("ISTIO_META_DNS_AUTO_ALLOCATE") || is_true("PILOT_ENABLE_IP_AUTOALLOCATE"))
}

/// Runs the analyzer.
pub fn run(ctx: &Context<'_>, out: &mut Reporter) {
    if auto_allocated(ctx) {
        return;
    }
    for (o, se) in ctx.service_entries() {
        let status_addresses = match &o.resource {
            Resource::ServiceEntry(obj) => obj
                .status
                .as_ref()
                .and_then(|s| s.get("addresses"))
                .and_then(|a| a.as_array())
                .is_some_and(|a| !a.is_empty()),
            _ => false,
        };
        if !se.addresses.is_empty() || status_addresses {
            continue;
        }
        for (i, p) in se.ports.iter().enumerate() {
            let protocol = p.protocol.as_deref().unwrap_or_default();
            if protocol.is_empty() || protocol.eq_ignore_ascii_case("TCP") {
                out.at(&istio::SERVICE_ENTRY_ADDRESSES_REQUIRED, o, &format!("spec.ports[{i}].name"), vec![]);
            }
        }
    }
}

//! Mirrors Istio's `deprecation.FieldAnalyzer`: deprecated fields in use (IST0002): a
//! VirtualService fault delay's integer `percent` (use `percentage`), a Sidecar's
//! `outboundTrafficPolicy.egressProxy` (ignored). Istio also flags the removed `rbac.istio.io`
//! CRDs; those kinds are not supported by Strait and never reach the analyzers.

use crate::codes::istio;
use crate::context::{Context, Reporter};

/// Runs the analyzer.
pub fn run(ctx: &Context<'_>, out: &mut Reporter) {
    for (o, vs) in ctx.virtual_services() {
        for r in &vs.http {
            let delay = r.fault.as_ref().and_then(|f| f.delay.as_ref());
            if delay.and_then(|d| d.percent).is_some_and(|p| p > 0) {
                let text = "HTTPRoute.fault.delay.percent is deprecated; use HTTPRoute.fault.delay.percentage";
                out.report(&istio::DEPRECATED, o, None, vec![text.into()]);
            }
        }
    }
    for (o, sc) in ctx.sidecars() {
        if sc.outbound_traffic_policy.as_ref().is_some_and(|p| p.egress_proxy.is_some()) {
            out.report(&istio::DEPRECATED, o, None, vec!["OutboundTrafficPolicy.EgressProxy ignored".into()]);
        }
    }
}

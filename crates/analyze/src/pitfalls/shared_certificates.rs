//! STR0006: Gateways that run on the same workload and serve the same certificate (seed: "404
//! errors occur when multiple gateways configured with same TLS certificate"): a browser that
//! opened an HTTP/2 connection for one Gateway's host reuses it for every other host the
//! certificate covers, and the Gateway that does not route that host answers 404. Istio's
//! IST0138 compares gateways whose selectors are nested; this analyzer compares the workloads
//! the selectors actually pick and reports only pairs IST0138 does not.

use crate::analyzers::gateway::certificates::same_certificate;
use crate::codes::strait;
use crate::context::{Context, Reporter};
use crate::util::selects;
use std::collections::BTreeMap;
use strait_model::networking::server_tls::ServerTlsSettings;

fn nested(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> bool {
    a.is_empty() || b.is_empty() || selects(a, b) || selects(b, a)
}

fn describe(tls: &ServerTlsSettings) -> String {
    match (&tls.credential_name, &tls.server_certificate) {
        (Some(c), _) if !c.is_empty() => format!("credentialName {c:?}"),
        (_, Some(f)) => format!("serverCertificate {f:?}"),
        _ => "(none)".into(),
    }
}

/// Runs the analyzer.
pub fn run(ctx: &Context<'_>, out: &mut Reporter) {
    let gateways: Vec<_> = ctx.gateways().collect();
    for (i, (a, ga)) in gateways.iter().enumerate() {
        for (b, gb) in gateways.iter().skip(i + 1) {
            if nested(&ga.selector, &gb.selector) {
                continue;
            }
            let shared =
                ctx.workloads().iter().find(|w| selects(&ga.selector, w.labels) && selects(&gb.selector, w.labels));
            let Some(w) = shared else { continue };
            let pair = ga.servers.iter().filter_map(|s| s.tls.as_ref()).find_map(|ta| {
                gb.servers.iter().filter_map(|s| s.tls.as_ref()).find(|tb| same_certificate(ta, tb)).map(|_| ta)
            });
            let Some(tls) = pair else { continue };
            let names = format!("{} and {}", a.full_name(), b.full_name());
            let workload = format!("{} {}", w.obj.kind, w.obj.full_name());
            for o in [a, b] {
                out.at(
                    &strait::CERTIFICATE_SHARED_ACROSS_GATEWAYS,
                    o,
                    "metadata.name",
                    vec![names.clone().into(), workload.clone().into(), describe(tls).into()],
                );
            }
        }
    }
}

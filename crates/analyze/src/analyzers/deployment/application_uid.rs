//! Mirrors Istio's `deployment.ApplicationUIDAnalyzer`: UID 1337 is the sidecar proxy's; an
//! application running as 1337 (pod or container `runAsUser`) has its traffic exempted from
//! capture (IST0144). Control-plane objects (labels `istio`, `release: istio`) are skipped.

use crate::codes::istio;
use crate::context::{Context, Reporter};
use crate::input::Obj;
use k8s_openapi::api::core::v1::PodSpec;

const PROXY_UID: i64 = 1337;

fn check(out: &mut Reporter, o: &Obj, spec: &PodSpec) {
    let labels = o.labels();
    if labels.contains_key("istio") || labels.get("release").is_some_and(|r| r == "istio") {
        return;
    }
    if spec.security_context.as_ref().and_then(|s| s.run_as_user) == Some(PROXY_UID) {
        out.report(&istio::INVALID_APPLICATION_UID, o, None, vec![]);
    }
    for c in spec.containers.iter().filter(|c| c.name != "istio-proxy" && c.name != "istio-operator") {
        if c.security_context.as_ref().and_then(|s| s.run_as_user) == Some(PROXY_UID) {
            out.report(&istio::INVALID_APPLICATION_UID, o, None, vec![]);
        }
    }
}

/// Runs the analyzer.
pub fn run(ctx: &Context<'_>, out: &mut Reporter) {
    for (o, spec) in ctx.pods() {
        if let Some(spec) = spec {
            check(out, o, spec);
        }
    }
    for (o, spec) in ctx.deployments() {
        if let Some(spec) = spec.and_then(|d| d.template.spec.as_ref()) {
            check(out, o, spec);
        }
    }
}

//! Mirrors Istio's `service.PortNameAnalyzer`: a Service port whose protocol Istio cannot tell
//! from its `appProtocol` or name prefix (`http`, `http-web`, `grpc`, `tcp`, …) gets protocol
//! sniffing (IST0118); on an `ExternalName` Service such a port, or one named `tcp`, cannot be
//! forwarded correctly (IST0150). Services of the control plane (labels `istio` or
//! `release: istio`) and of managed gateways are skipped.

use crate::codes::istio;
use crate::context::{Context, Reporter};
use k8s_openapi::api::core::v1::ServicePort;

/// Istio's protocols for port names and `appProtocol`.
const PROTOCOLS: &[&str] =
    &["tcp", "udp", "grpc", "grpc-web", "http", "http_proxy", "http2", "https", "tls", "mongo", "redis", "mysql"];

/// Well-known ports Istio treats as TCP when the name says nothing (SMTP, DNS, MySQL, MongoDB).
const WELL_KNOWN_TCP: &[i32] = &[25, 53, 3306, 27017];

/// True when Istio's `ConvertProtocol` can tell the port's protocol.
pub fn protocol_known(p: &ServicePort) -> bool {
    if p.protocol.as_deref() == Some("UDP") {
        return true;
    }
    let name = p.app_protocol.as_deref().unwrap_or(p.name.as_deref().unwrap_or_default());
    if matches!(name, "kubernetes.io/h2c" | "kubernetes.io/ws" | "kubernetes.io/wss") && p.app_protocol.is_some() {
        return true;
    }
    if name.get(..8).is_some_and(|p| p.eq_ignore_ascii_case("grpc-web")) {
        return true;
    }
    let prefix = name.split('-').next().unwrap_or_default().to_ascii_lowercase();
    PROTOCOLS.contains(&prefix.as_str()) || WELL_KNOWN_TCP.contains(&p.port)
}

/// Go's `IntOrString.String()`.
pub fn target_port_string(p: &ServicePort) -> String {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    match &p.target_port {
        Some(IntOrString::Int(n)) => n.to_string(),
        Some(IntOrString::String(s)) => s.clone(),
        None => "0".to_string(),
    }
}

/// Runs the analyzer.
pub fn run(ctx: &Context<'_>, out: &mut Reporter) {
    for (o, svc) in ctx.services() {
        let labels = o.labels();
        if labels.contains_key("istio") || labels.get("release").is_some_and(|r| r == "istio") {
            continue;
        }
        let managed = labels.get("gateway.istio.io/managed").map(String::as_str);
        if matches!(
            managed,
            Some("istio.io-gateway-controller" | "istio.io-mesh-controller" | "istio.io-eastwest-controller")
        ) {
            continue;
        }
        let external = svc.type_.as_deref() == Some("ExternalName");
        for (i, p) in svc.ports.iter().flatten().enumerate() {
            let name = p.name.clone().unwrap_or_default();
            if protocol_known(p) && !(name == "tcp" && external) {
                continue;
            }
            let path = format!("spec.ports[{i}].port");
            if external {
                out.at(&istio::EXTERNAL_NAME_SERVICE_TYPE_INVALID_PORT_NAME, o, &path, vec![]);
            } else {
                out.at(
                    &istio::PORT_NAME_IS_NOT_UNDER_NAMING_CONVENTION,
                    o,
                    &path,
                    vec![name.into(), p.port.into(), target_port_string(p).into()],
                );
            }
        }
    }
}

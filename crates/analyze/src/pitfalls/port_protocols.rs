//! STR0001 and STR0002: port names that select the wrong protocol. Istio and Strait pick a
//! port's protocol from its `appProtocol` or name prefix (`http`, `grpc`, `https`, …); the
//! name is often chosen for humans (`web`, `http` on a TLS port). STR0001 reports a declared
//! protocol the config contradicts: the container port it reaches is named for another
//! protocol, an HTTP port is 443/8443, a ServiceEntry sends plaintext HTTP to port 443 with
//! no DestinationRule originating TLS. STR0002 reports an undeclared port whose target looks
//! like a server-first protocol (SSH, SMTP, FTP, NATS, …), where sniffing waits for bytes the
//! client never sends. Unnamed ports in general are Istio's IST0118.

use super::{container_port, service_workloads};
use crate::codes::strait;
use crate::context::{Context, Reporter};
use crate::util::host_matches;
use std::collections::BTreeSet;
use strait_model::networking::destination_rule::TlsMode;
use strait_registry::Protocol;

/// Server-first protocols by well-known port.
const SERVER_FIRST_PORTS: &[(i32, &str)] =
    &[(21, "FTP"), (22, "SSH"), (23, "Telnet"), (110, "POP3"), (143, "IMAP"), (587, "SMTP"), (4222, "NATS")];
/// Server-first protocols by container port name.
const SERVER_FIRST_NAMES: &[(&str, &str)] = &[
    ("ftp", "FTP"),
    ("ssh", "SSH"),
    ("smtp", "SMTP"),
    ("pop3", "POP3"),
    ("imap", "IMAP"),
    ("nats", "NATS"),
    ("mysql", "MySQL"),
];

fn plaintext_http(p: Protocol) -> bool {
    matches!(p, Protocol::Http | Protocol::Http2 | Protocol::Grpc | Protocol::GrpcWeb)
}

/// What the evidence says against the declared protocol: (evidence protocol, consequence, fix).
fn contradiction(declared: Protocol, evidence: Protocol, port_name: &str) -> Option<(String, String, String)> {
    let suffix = port_name.split_once('-').map(|(_, s)| format!("-{s}")).unwrap_or_default();
    if plaintext_http(declared) && evidence.is_tls() {
        return Some((
            "TLS".into(),
            "sidecars parse the TLS handshake as plaintext HTTP and fail it (connection reset, or 503 for callers)"
                .into(),
            format!("name the port \"https{suffix}\" (or \"tls{suffix}\"), or set appProtocol: https"),
        ));
    }
    if declared == Protocol::Http && evidence.is_http2() {
        return Some((
            evidence.to_string(),
            "sidecars talk HTTP/1.1 to it, and gRPC needs HTTP/2 (calls fail with 503 or protocol errors)".into(),
            format!("name the port \"grpc{suffix}\" (or \"http2{suffix}\"), or set appProtocol: grpc"),
        ));
    }
    if declared.is_tls() && plaintext_http(evidence) {
        return Some((
            evidence.to_string(),
            "sidecars treat it as opaque TLS, so VirtualService HTTP routes, retries and HTTP metrics do not apply"
                .into(),
            format!("name the port \"http{suffix}\" (or \"{}{suffix}\")", evidence.to_string().to_ascii_lowercase()),
        ));
    }
    None
}

fn services(ctx: &Context<'_>, out: &mut Reporter) {
    for (o, svc) in ctx.services() {
        let workloads = service_workloads(ctx, o, svc);
        for (i, p) in svc.ports.iter().flatten().enumerate().filter(|(_, p)| p.protocol.as_deref() != Some("UDP")) {
            let path = format!("spec.ports[{i}].name");
            let name = p.name.clone().unwrap_or_default();
            let number = u32::try_from(p.port).unwrap_or_default();
            let declared = Protocol::for_service_port(&name, p.app_protocol.as_deref(), number);
            let mut reported = BTreeSet::new();
            for w in &workloads {
                let Some(cp) = container_port(w, p) else { continue };
                let cp_name = cp.name.clone().unwrap_or_default();
                let evidence =
                    Protocol::for_service_port(&cp_name, None, u32::try_from(cp.container_port).unwrap_or(0));
                if declared == Protocol::Unknown {
                    let by_number = SERVER_FIRST_PORTS.iter().find(|(n, _)| *n == cp.container_port).map(|(_, p)| *p);
                    let by_name = SERVER_FIRST_NAMES.iter().find(|(n, _)| cp_name.starts_with(n)).map(|(_, p)| *p);
                    if let Some(proto) = by_name.or(by_number)
                        && reported.insert(proto.to_string())
                    {
                        server_first(ctx, out, o, p, &name, proto);
                    }
                    continue;
                }
                if let Some((speaks, why, fix)) = contradiction(declared, evidence, &name)
                    && reported.insert(cp_name.clone())
                {
                    let what = format!(
                        "container port {cp_name:?} ({}) of {} {}",
                        cp.container_port,
                        w.obj.kind,
                        w.obj.full_name()
                    );
                    out.at(
                        &strait::PORT_PROTOCOL_MISMATCH,
                        o,
                        &path,
                        vec![
                            name.clone().into(),
                            p.port.into(),
                            format!("Service {}", o.full_name()).into(),
                            declared.to_string().into(),
                            what.into(),
                            speaks.into(),
                            why.into(),
                            fix.into(),
                        ],
                    );
                }
            }
            if reported.is_empty() && plaintext_http(declared) && matches!(p.port, 443 | 8443) {
                let (speaks, why, fix) = contradiction(declared, Protocol::Tls, &name).expect("HTTP vs TLS");
                out.at(
                    &strait::PORT_PROTOCOL_MISMATCH,
                    o,
                    &path,
                    vec![
                        name.clone().into(),
                        p.port.into(),
                        format!("Service {}", o.full_name()).into(),
                        declared.to_string().into(),
                        format!("port number {} (HTTPS by convention)", p.port).into(),
                        speaks.into(),
                        why.into(),
                        fix.into(),
                    ],
                );
            }
        }
    }
}

fn server_first(
    ctx: &Context<'_>,
    out: &mut Reporter,
    o: &crate::input::Obj,
    p: &k8s_openapi::api::core::v1::ServicePort,
    name: &str,
    proto: &str,
) {
    let timeout = ctx.mesh.effective_protocol_detection_timeout().get();
    let wait = if timeout.is_zero() { "5s".to_string() } else { format!("{timeout:?}") };
    let suggested = if name.is_empty() { "tcp".to_string() } else { format!("tcp-{name}") };
    let shown = if name.is_empty() { "(unnamed)".to_string() } else { format!("{name:?}") };
    out.report(
        &strait::SERVER_FIRST_PROTOCOL_SNIFFED,
        o,
        None,
        vec![
            shown.into(),
            p.port.into(),
            format!("Service {}", o.full_name()).into(),
            proto.into(),
            wait.into(),
            suggested.into(),
        ],
    );
}

/// A ServiceEntry port declared HTTP on 443/8443 without TLS origination.
fn service_entries(ctx: &Context<'_>, out: &mut Reporter) {
    for (o, se) in ctx.service_entries() {
        for (i, p) in se.ports.iter().enumerate() {
            let declared = Protocol::parse(p.protocol.as_deref().unwrap_or_default());
            if !plaintext_http(declared) || !matches!(p.number, 443 | 8443) {
                continue;
            }
            let originates = ctx.destination_rules().any(|(_, dr)| {
                se.hosts.iter().any(|h| host_matches(&dr.host, h))
                    && dr.traffic_policy.as_ref().is_some_and(|tp| {
                        let port_tls =
                            tp.port_level_settings.iter().find(|s| s.port.is_some_and(|s| s.number == p.number));
                        let tls = port_tls.and_then(|s| s.tls.as_ref()).or(tp.tls.as_ref());
                        tls.is_some_and(|t| matches!(t.mode, TlsMode::Simple | TlsMode::Mutual))
                    })
            });
            if originates {
                continue;
            }
            out.at(&strait::PORT_PROTOCOL_MISMATCH, o, &format!("spec.ports[{i}].protocol"), vec![
                p.name.clone().into(),
                p.number.into(),
                format!("ServiceEntry {} ({})", o.full_name(), se.hosts.join(", ")).into(),
                declared.to_string().into(),
                format!("port number {} (HTTPS by convention)", p.number).into(),
                "TLS".into(),
                "sidecars send plaintext HTTP to a server that expects TLS (connection reset or 400)".into(),
                "declare protocol: TLS (clients speak TLS themselves), or keep HTTP and add a DestinationRule with tls.mode: SIMPLE for the host so the sidecar originates TLS".into(),
            ]);
        }
    }
}

/// Runs the analyzer.
pub fn run(ctx: &Context<'_>, out: &mut Reporter) {
    services(ctx, out);
    service_entries(ctx, out);
}

//! Service, Endpoints and EndpointSlice checks: ports, port names, protocols and addresses,
//! which decide how the mesh routes (a port's name selects its protocol in Istio).

use super::{is_iana_svc_name, selector};
use crate::validation::{Validator, rules};
use k8s_openapi::api::core::v1::{Endpoints, ServiceSpec};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeSet;

const PROTOCOLS: [&str; 3] = ["TCP", "UDP", "SCTP"];
const TYPES: [&str; 4] = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];

fn protocol(v: &mut Validator<'_>, p: &Option<String>) {
    if let Some(p) = p
        && !PROTOCOLS.contains(&p.as_str())
    {
        v.error_at("protocol", format!("Unsupported value: {p:?}: supported values: \"SCTP\", \"TCP\", \"UDP\""));
    }
}

fn target_port(v: &mut Validator<'_>, t: &IntOrString) {
    target_port_named(v, "targetPort", t);
}

/// A port given as a number or a named container port.
pub(super) fn target_port_named(v: &mut Validator<'_>, field: &str, t: &IntOrString) {
    match t {
        IntOrString::Int(n) => v.field(field, |v| rules::port(v, u32::try_from(*n).unwrap_or(0))),
        IntOrString::String(s) if !is_iana_svc_name(s) => v.error_at(
            field,
            format!("Invalid value: {s:?}: must be a port number or a port name (at most 15 lowercase alphanumerics or '-', with a letter)"),
        ),
        IntOrString::String(_) => {}
    }
}

/// Validates a Service spec.
pub(super) fn service_spec(v: &mut Validator<'_>, spec: &ServiceSpec) {
    let ty = spec.type_.as_deref().unwrap_or("ClusterIP");
    if !TYPES.contains(&ty) {
        v.error_at("type", format!("Unsupported value: {ty:?}: supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""));
    }
    if ty == "ExternalName" && spec.external_name.as_deref().is_none_or(str::is_empty) {
        v.required("externalName");
    }
    let headless = spec.cluster_ip.as_deref() == Some("None");
    let ports = spec.ports.as_deref().unwrap_or_default();
    if ports.is_empty() && ty != "ExternalName" && !headless {
        v.required("ports");
    }
    let mut names = BTreeSet::new();
    let mut keys = BTreeSet::new();
    v.each("ports", ports, |v, p| {
        v.field("port", |v| rules::port(v, u32::try_from(p.port).unwrap_or(0)));
        match p.name.as_deref() {
            None | Some("") if ports.len() > 1 => v.required("name"),
            Some(n) if !n.is_empty() && !names.insert(n.to_string()) => v.error_at("name", format!("Duplicate value: {n:?}")),
            Some(n) if !n.is_empty() && !rules::is_k8s_dns1123_label(n) => {
                v.error_at("name", format!("Invalid value: {n:?}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'"))
            }
            _ => {}
        }
        protocol(v, &p.protocol);
        if !keys.insert((p.port, p.protocol.clone().unwrap_or_else(|| "TCP".into()))) {
            v.error_at("port", format!("Duplicate value: {} (each port and protocol pair must be unique)", p.port));
        }
        if let Some(t) = &p.target_port {
            target_port(v, t);
        }
        if let Some(np) = p.node_port
            && np != 0
            && !(1..=65535).contains(&np)
        {
            v.error_at("nodePort", format!("port must be between 1-65535, got {np}"));
        }
    });
    if let Some(sel) = &spec.selector {
        v.field("selector", |v| selector(v, sel));
    }
}

/// Validates Endpoints: IPs and ports of each subset.
pub(super) fn endpoints(e: &Endpoints, v: &mut Validator<'_>) {
    v.each("subsets", e.subsets.as_deref().unwrap_or_default(), |v, s| {
        for field in ["addresses", "notReadyAddresses"] {
            let list = if field == "addresses" { &s.addresses } else { &s.not_ready_addresses };
            v.each(field, list.as_deref().unwrap_or_default(), |v, a| {
                if a.ip.parse::<std::net::IpAddr>().is_err() {
                    v.error_at("ip", format!("Invalid value: {:?}: must be a valid IP address", a.ip));
                }
            });
        }
        v.each("ports", s.ports.as_deref().unwrap_or_default(), |v, p| {
            v.field("port", |v| rules::port(v, u32::try_from(p.port).unwrap_or(0)));
            protocol(v, &p.protocol);
        });
    });
}

/// Validates an EndpointSlice: address type, addresses matching it, ports.
pub(super) fn endpoint_slice(e: &EndpointSlice, v: &mut Validator<'_>) {
    let ty = e.address_type.as_str();
    if !["IPv4", "IPv6", "FQDN"].contains(&ty) {
        v.error_at("addressType", format!("Unsupported value: {ty:?}: supported values: \"FQDN\", \"IPv4\", \"IPv6\""));
    }
    v.each("endpoints", &e.endpoints, |v, ep| {
        if ep.addresses.is_empty() {
            v.error_at("addresses", "Required value: must contain at least 1 address");
        }
        v.each("addresses", &ep.addresses, |v, a| {
            let ok = match ty {
                "IPv4" => a.parse::<std::net::Ipv4Addr>().is_ok(),
                "IPv6" => a.parse::<std::net::Ipv6Addr>().is_ok(),
                _ => rules::check_fqdn(a).is_ok(),
            };
            if !ok {
                v.error(format!("Invalid value: {a:?}: must be a valid {ty} address"));
            }
        });
    });
    v.each("ports", e.ports.as_deref().unwrap_or_default(), |v, p| {
        if let Some(port) = p.port {
            v.field("port", |v| rules::port(v, u32::try_from(port).unwrap_or(0)));
        }
        protocol(v, &p.protocol);
    });
}

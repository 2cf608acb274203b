//! Mirrors Istio's `annotations.K8sAnalyzer` and `maturity.AlphaAnalyzer` on Namespaces,
//! Services, Pods and Deployments. K8sAnalyzer: an Istio annotation (`*istio.io/*`, and
//! `kubernetes.io/ingress.class`) Istio does not define (IST0108), one on a kind it does not
//! belong on (IST0107), a deprecated one (IST0135, unless `sidecar.istio.io/inject` is also a
//! label), and a value the injector would refuse (IST0125). AlphaAnalyzer (not part of a
//! default run, as in `istioctl analyze`): annotations of alpha features (IST0136), skipping
//! those istio-cni sets itself on pods without an `istio-init` container.

use super::annotation_catalogue::{self as catalogue, Status};
use crate::codes::istio;
use crate::context::{Context, Reporter};
use crate::input::Obj;
use std::net::IpAddr;

/// Annotations Istio sets itself; never reported.
const ALWAYS_IGNORED: &[&str] = &["sidecar.istio.io/status", "gateway.istio.io/controller-version", "istio.io/rev"];

/// Annotations istio-cni sets on every pod; not reported as alpha on CNI pods.
const SET_BY_CNI: &[&str] = &[
    "sidecar.istio.io/interceptionMode",
    "traffic.sidecar.istio.io/includeInboundPorts",
    "traffic.sidecar.istio.io/excludeInboundPorts",
    "traffic.sidecar.istio.io/includeOutboundIPRanges",
];

fn is_istio_annotation(name: &str) -> bool {
    name == "kubernetes.io/ingress.class" || name.split('/').next().is_some_and(|p| p.ends_with("istio.io"))
}

/// The objects whose annotations are checked, with the kind name Istio's catalogue uses.
fn annotated<'a>(ctx: &Context<'a>) -> impl Iterator<Item = &'a Obj> + 'a {
    ctx.input.objects.iter().filter(|o| matches!(o.kind.as_str(), "Namespace" | "Service" | "Pod" | "Deployment"))
}

fn ports(value: &str) -> Result<(), String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(());
    }
    for p in value.split(',') {
        p.trim().parse::<u16>().map_err(|e| format!("failed parsing port '{p}': {e}"))?;
    }
    Ok(())
}

fn cidrs(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    for c in value.split(',') {
        let ok = c.split_once('/').is_some_and(|(ip, bits)| {
            let max = match ip.parse::<IpAddr>() {
                Ok(IpAddr::V4(_)) => 32,
                Ok(IpAddr::V6(_)) => 128,
                Err(_) => return false,
            };
            bits.parse::<u8>().is_ok_and(|b| b <= max)
        });
        if !ok {
            return Err(format!("failed parsing cidr '{c}'"));
        }
    }
    Ok(())
}

/// A Kubernetes resource quantity (`100m`, `1.5Gi`, `2e3`).
fn quantity(value: &str) -> Result<(), String> {
    let number_end = value.trim_start_matches(['+', '-']);
    let digits = number_end.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
    let suffix_ok = matches!(
        digits,
        "" | "m" | "k" | "M" | "G" | "T" | "P" | "E" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" | "n" | "u"
    ) || (digits.starts_with(['e', 'E'])
        && digits[1..].trim_start_matches(['+', '-']).parse::<u32>().is_ok());
    let number = &number_end[..number_end.len() - digits.len()];
    let number_ok = !number.is_empty() && number != "." && number.matches('.').count() <= 1;
    if suffix_ok && number_ok {
        Ok(())
    } else {
        Err("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'".into())
    }
}

/// Istio's injector validation of annotation values (`inject.AnnotationValidation`).
fn validate(name: &str, value: &str) -> Result<(), String> {
    match name {
        "sidecar.istio.io/interceptionMode" => match value {
            "REDIRECT" | "TPROXY" | "NONE" => Ok(()),
            _ => Err(format!("interceptionMode invalid, use REDIRECT,TPROXY,NONE: {value}")),
        },
        "status.sidecar.istio.io/port" => {
            value.trim().parse::<u16>().map(|_| ()).map_err(|e| format!("excludeInboundPorts invalid: {e}"))
        }
        "readiness.status.sidecar.istio.io/initialDelaySeconds"
        | "readiness.status.sidecar.istio.io/periodSeconds"
        | "readiness.status.sidecar.istio.io/failureThreshold" => {
            value.parse::<u32>().map(|_| ()).map_err(|e| format!("strconv.ParseUint: parsing {value:?}: {e}"))
        }
        "traffic.sidecar.istio.io/includeOutboundIPRanges" if value == "*" => Ok(()),
        "traffic.sidecar.istio.io/includeOutboundIPRanges" | "traffic.sidecar.istio.io/excludeOutboundIPRanges" => {
            cidrs(value)
        }
        "traffic.sidecar.istio.io/includeInboundPorts" if value == "*" => Ok(()),
        "traffic.sidecar.istio.io/includeInboundPorts"
        | "traffic.sidecar.istio.io/excludeInboundPorts"
        | "traffic.sidecar.istio.io/excludeOutboundPorts" => ports(value),
        "traffic.sidecar.istio.io/excludeInterfaces"
        | "traffic.sidecar.istio.io/kubevirtInterfaces"
        | "istio.io/reroute-virtual-interfaces" => {
            let bad = value.split(',').find(|i| i.is_empty() || i.len() > 15 || i.contains(['/', ' ']));
            bad.map_or(Ok(()), |i| Err(format!("invalid interface name {i:?}")))
        }
        "prometheus.istio.io/merge-metrics" => match value {
            "1" | "t" | "T" | "TRUE" | "true" | "True" | "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(()),
            _ => Err(format!("strconv.ParseBool: parsing {value:?}: invalid syntax")),
        },
        "proxy.istio.io/config" => proxy_config(value),
        "sidecar.istio.io/proxyCPU"
        | "sidecar.istio.io/proxyMemory"
        | "sidecar.istio.io/proxyCPULimit"
        | "sidecar.istio.io/proxyMemoryLimit" => quantity(value),
        _ => Ok(()),
    }
}

/// `proxy.istio.io/config` must be ProxyConfig YAML.
fn proxy_config(value: &str) -> Result<(), String> {
    let docs = strait_config::yaml::parse_stream(value);
    let Some(doc) = docs.into_iter().next() else { return Ok(()) };
    let doc = doc.map_err(|e| e.message)?;
    serde_json::from_value::<strait_model::mesh::ProxyConfig>(doc.value)
        .map(|_| ())
        .map_err(|e| format!("failed to convert to apply proxy config: {e}"))
}

/// Runs `annotations.K8sAnalyzer`.
pub fn run(ctx: &Context<'_>, out: &mut Reporter) {
    for o in annotated(ctx) {
        for (name, value) in o.annotations() {
            if !is_istio_annotation(name) || ALWAYS_IGNORED.contains(&name.as_str()) {
                continue;
            }
            let line = o.annotation_line(name);
            let Some(def) = catalogue::lookup(name) else {
                out.report(&istio::UNKNOWN_ANNOTATION, o, line, vec![name.clone().into()]);
                continue;
            };
            if def.deprecated && !(name == "sidecar.istio.io/inject" && o.labels().contains_key(name)) {
                let extra = if name == "sidecar.istio.io/inject" {
                    " in favor of the \"sidecar.istio.io/inject\" label"
                } else {
                    ""
                };
                out.report(&istio::DEPRECATED_ANNOTATION, o, line, vec![name.clone().into(), extra.into()]);
            }
            if def.resources.contains(&"Any") {
                continue;
            }
            if !def.resources.contains(&o.kind.as_str()) {
                out.report(
                    &istio::MISPLACED_ANNOTATION,
                    o,
                    line,
                    vec![name.clone().into(), def.resources.join(", ").into()],
                );
                continue;
            }
            if let Err(problem) = validate(name, value) {
                out.report(&istio::INVALID_ANNOTATION, o, line, vec![name.clone().into(), problem.into()]);
            }
        }
    }
}

/// Runs `maturity.AlphaAnalyzer`.
pub fn run_alpha(ctx: &Context<'_>, out: &mut Reporter) {
    for o in annotated(ctx) {
        let cni = match &o.resource {
            strait_model::Resource::Pod(p) => {
                !p.spec.iter().flat_map(|s| s.init_containers.iter().flatten()).any(|c| c.name == "istio-init")
            }
            _ => false,
        };
        for name in o.annotations().keys() {
            if !is_istio_annotation(name) || ALWAYS_IGNORED.contains(&name.as_str()) {
                continue;
            }
            let Some(def) = catalogue::lookup(name).filter(|d| d.status == Status::Alpha) else { continue };
            if cni && SET_BY_CNI.contains(&def.name) {
                continue;
            }
            out.report(&istio::ALPHA_ANNOTATION, o, o.annotation_line(name), vec![name.clone().into()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert!(validate("readiness.status.sidecar.istio.io/initialDelaySeconds", "bar").is_err());
        assert!(validate("readiness.status.sidecar.istio.io/periodSeconds", "10").is_ok());
        assert!(validate("traffic.sidecar.istio.io/includeOutboundIPRanges", "10.0.0.0/8,fd00::/8").is_ok());
        assert!(validate("traffic.sidecar.istio.io/excludeOutboundIPRanges", "10.0.0.0").is_err());
        assert!(validate("traffic.sidecar.istio.io/excludeInboundPorts", "15020, 80").is_ok());
        assert!(validate("sidecar.istio.io/proxyCPU", "100m").is_ok());
        assert!(validate("sidecar.istio.io/proxyMemory", "1.5Gi").is_ok());
        assert!(validate("sidecar.istio.io/proxyMemory", "lots").is_err());
        assert!(validate("proxy.istio.io/config", "{}").is_ok());
        assert!(validate("proxy.istio.io/config", "holdApplicationUntilProxyStarts: true").is_ok());
        assert!(validate("proxy.istio.io/config", "noSuchField: 1").is_err());
    }
}

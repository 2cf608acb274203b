//! STR0007: external hosts without a ServiceEntry under REGISTRY_ONLY (seed: "Unable to
//! connect to services outside", `BlackHoleCluster` and `UH` in the access log). With
//! `outboundTrafficPolicy: REGISTRY_ONLY` (mesh-wide, or the workload's Sidecar) a sidecar only
//! lets traffic out to hosts a Service or ServiceEntry registers *and exports to the caller's
//! namespace*. What config reveals of the hosts a workload calls: URLs in its env, args and
//! command (and in ConfigMaps it loads with `envFrom`), and host names in variables named
//! `*_HOST`, `*_ADDR`, `*_URL`, `*_ENDPOINT`, `*_SERVER`. Hosts that VirtualServices or
//! DestinationRules name are Istio's IST0101/IST0174, not repeated here.

use crate::codes::strait;
use crate::context::{Context, Reporter, Workload};
use crate::util::selects;
use k8s_openapi::api::core::v1::Container;
use std::collections::BTreeSet;
use strait_model::Resource;
use strait_model::mesh::OutboundMode;

const HOST_VARIABLES: &[&str] = &["HOST", "HOSTNAME", "ADDR", "ADDRESS", "SERVER", "ENDPOINT", "URL", "URI", "DOMAIN"];

/// A DNS name that leaves the cluster: dotted, valid labels, an alphabetic top-level label, not
/// a cluster-local suffix.
fn external_name(host: &str) -> Option<String> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    let valid = labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        && labels.last().is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
    let local = [".svc", ".cluster.local", ".local", ".localhost"].iter().any(|s| host.ends_with(s));
    (valid && !local).then_some(host)
}

/// `host` of `scheme://[user@]host[:port]/…`.
fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    Some(hostport.rsplit_once(':').filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit())).map_or(hostport, |(h, _)| h))
}

/// Hosts named in a value: every URL, and the whole value when the variable names an address.
fn hosts_in(var: Option<&str>, value: &str) -> Vec<String> {
    let mut out: Vec<String> = value
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '"' | '\'' | '(' | ')'))
        .filter(|t| t.contains("://"))
        .filter_map(url_host)
        .filter_map(external_name)
        .collect();
    let names_address = var.is_some_and(|v| {
        let v = v.to_ascii_uppercase();
        HOST_VARIABLES.iter().any(|s| v == *s || v.ends_with(&format!("_{s}")))
    });
    if out.is_empty() && names_address && !value.contains("://") {
        let host = value
            .trim()
            .rsplit_once(':')
            .filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit()))
            .map_or(value.trim(), |(h, _)| h);
        out.extend(external_name(host));
    }
    out
}

/// (host, where) pairs a container names.
fn container_hosts(ctx: &Context<'_>, ns: &str, c: &Container) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in c.env.iter().flatten() {
        for h in hosts_in(Some(&e.name), e.value.as_deref().unwrap_or_default()) {
            out.push((h, format!("env {} of container {:?}", e.name, c.name)));
        }
    }
    for (what, list) in [("args", &c.args), ("command", &c.command)] {
        for a in list.iter().flatten() {
            out.extend(hosts_in(None, a).into_iter().map(|h| (h, format!("{what} of container {:?}", c.name))));
        }
    }
    for from in c.env_from.iter().flatten() {
        let Some(name) = from.config_map_ref.as_ref().map(|r| r.name.as_str()) else { continue };
        let Some(Resource::ConfigMap(cm)) = ctx.find("ConfigMap", ns, name).map(|o| &o.resource) else { continue };
        for (k, v) in cm.data.iter().flatten() {
            out.extend(hosts_in(Some(k), v).into_iter().map(|h| (h, format!("{k} from ConfigMap {name}"))));
        }
    }
    out
}

/// True when `host` is `service.namespace` of a Service in the input.
fn service_short_form(ctx: &Context<'_>, host: &str) -> bool {
    let mut parts = host.splitn(3, '.');
    let (Some(name), Some(ns), None) = (parts.next(), parts.next(), parts.next()) else { return false };
    ctx.services().any(|(o, _)| o.name == name && o.namespace == ns) || ctx.namespace(ns).is_some()
}

/// The outbound mode for a workload: its Sidecar's (selected, else the namespace's, else the
/// root namespace's), else the mesh's.
fn outbound_mode(ctx: &Context<'_>, w: &Workload<'_>) -> OutboundMode {
    let root = ctx.mesh.effective_root_namespace();
    let sidecars: Vec<_> = ctx.sidecars().collect();
    let unselected = |s: &strait_model::networking::sidecar::Sidecar| {
        s.workload_selector.as_ref().is_none_or(|ws| ws.labels.is_empty())
    };
    let chosen = sidecars
        .iter()
        .find(|(o, s)| {
            o.namespace == w.namespace
                && s.workload_selector.as_ref().is_some_and(|ws| !ws.labels.is_empty() && selects(&ws.labels, w.labels))
        })
        .or_else(|| sidecars.iter().find(|(o, s)| o.namespace == w.namespace && unselected(s)))
        .or_else(|| sidecars.iter().find(|(o, s)| o.namespace == root && unselected(s)));
    match chosen.and_then(|(_, s)| s.outbound_traffic_policy.as_ref()) {
        Some(p) => p.mode.unwrap_or(OutboundMode::RegistryOnly),
        None => ctx.mesh.effective_outbound_mode(),
    }
}

/// Runs the analyzer.
pub fn run(ctx: &Context<'_>, out: &mut Reporter) {
    let hosts = ctx.host_map();
    for w in ctx.workloads() {
        if outbound_mode(ctx, w) != OutboundMode::RegistryOnly
            || !ctx.in_mesh(w.namespace, w.labels, w.annotations, w.spec)
        {
            continue;
        }
        let mut seen = BTreeSet::new();
        for c in w.spec.into_iter().flat_map(|s| s.containers.iter()) {
            for (host, place) in container_hosts(ctx, w.namespace, c) {
                if hosts.destination(w.namespace, &[], &host).is_some() || service_short_form(ctx, &host) {
                    continue;
                }
                if seen.insert(host.clone()) {
                    out.report(
                        &strait::EXTERNAL_HOST_NOT_REGISTERED,
                        w.obj,
                        None,
                        vec![
                            format!("{} {}", w.obj.kind, w.obj.full_name()).into(),
                            host.clone().into(),
                            place.into(),
                            w.namespace.into(),
                            host.into(),
                            w.namespace.into(),
                        ],
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_hosts_in_values() {
        assert_eq!(hosts_in(None, "--db=postgres://u:p@db.example.com:5432/x"), vec!["db.example.com"]);
        assert_eq!(
            hosts_in(Some("DB_HOST"), "dev701-db.eu-central-1.rds.amazonaws.com"),
            vec!["dev701-db.eu-central-1.rds.amazonaws.com"]
        );
        assert_eq!(hosts_in(Some("API_URL"), "http://reviews.bookinfo.svc.cluster.local:9080/"), Vec::<String>::new());
        assert_eq!(hosts_in(Some("DB_HOST"), "mysql"), Vec::<String>::new());
        assert_eq!(hosts_in(Some("LOG_LEVEL"), "api.example.com"), Vec::<String>::new());
        assert_eq!(hosts_in(Some("SERVER"), "10.0.0.1:80"), Vec::<String>::new());
    }
}

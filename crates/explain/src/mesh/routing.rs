//! Causes about where traffic was sent: BlackHoleCluster under REGISTRY_ONLY (and the
//! ServiceEntry that is missing, not exported, or on another port), PassthroughCluster, DNS
//! auto-allocated addresses, missing clusters (subsets no DestinationRule defines), missing
//! routes, inbound filter chains, and traffic the config should have routed but the proxy did
//! not have yet (start-up races, propagation).

use super::rank::Ctx;
use super::{Cause, Confidence, Mesh, cidr_contains};
use strait_model::Object;
use strait_model::mesh::OutboundMode;
use strait_model::networking::service_entry::ServiceEntry;
use strait_model::networking::virtual_service::VirtualService;
use strait_registry::store::{name_of, namespace_of};
use strait_registry::{Protocol, hosts};

pub(super) fn rules(c: &Ctx<'_>, out: &mut Vec<Cause>) {
    black_hole(c, out);
    passthrough(c, out);
    dns_auto_allocated(c, out);
    no_cluster(c, out);
    super::no_route::rules(c, out);
    filter_chain(c, out);
    super::gateway::rules(c, out);
}

/// `Kind ns/name`.
pub(super) fn obj<S>(kind: &str, o: &Object<S>) -> String {
    format!("{kind} {}/{}", namespace_of(o), name_of(o))
}

/// What the line says the destination was: its name (SNI, authority) and address.
fn destination_words(c: &Ctx<'_>) -> String {
    let addr = c.f.line.downstream_local.clone();
    let name = c.f.host.clone().filter(|h| addr.as_deref().is_none_or(|a| !a.starts_with(h.as_str())));
    match (name, addr) {
        (Some(n), Some(a)) => format!("{n} ({a})"),
        (Some(n), None) => c.f.port.map_or(n.clone(), |p| format!("{n}:{p}")),
        (None, Some(a)) => a,
        (None, None) => "the destination".into(),
    }
}

/// ServiceEntries that name the line's host, or declare its port.
fn entries_for<'m>(m: &'m Mesh, host: Option<&str>, port: Option<u32>) -> Vec<(&'m Object<ServiceEntry>, bool)> {
    let by_host =
        |se: &&Object<ServiceEntry>| host.is_some_and(|h| se.spec.hosts.iter().any(|p| hosts::host_matches(p, h)));
    let by_port = |se: &&Object<ServiceEntry>| port.is_some_and(|p| se.spec.ports.iter().any(|sp| sp.number == p));
    let ses = &m.registry.config.service_entries;
    let mut found: Vec<_> = ses.iter().filter(by_host).map(|s| (s, true)).collect();
    if found.is_empty() {
        found = ses.iter().filter(by_port).map(|s| (s, false)).collect();
    }
    found
}

fn black_hole(c: &Ctx<'_>, out: &mut Vec<Cause>) {
    if !c.f.black_hole {
        return;
    }
    let dest = destination_words(c);
    let summary = format!(
        "{dest} matched no Service or ServiceEntry the sidecar knows, and outboundTrafficPolicy is REGISTRY_ONLY, \
         so the sidecar sent it to BlackHoleCluster and closed it"
    );
    let fix = "Declare the destination: a ServiceEntry with its hosts, the port with its protocol and a \
               resolution, exported to the client's namespace (exportTo); or allow unknown destinations \
               (outboundTrafficPolicy.mode: ALLOW_ANY)";
    let Some(m) = c.mesh else {
        out.push(Cause::new("registry-only", Confidence::Likely, 75, summary).fix(fix));
        return;
    };
    let (mode, source) = m.outbound_mode(c.client);
    let host = c.f.host.as_deref().filter(|h| h.parse::<std::net::IpAddr>().is_err());
    for (se, by_host) in entries_for(m, host, c.f.port) {
        entry_problem(c, m, se, by_host, out);
    }
    if let Some(svc) = c.service {
        let ns = c.client_ns().unwrap_or("the client's namespace");
        if c.client_ns().is_some_and(|n| !svc.visibility.visible_to(n)) {
            let s = format!(
                "{} exists, but its exportTo hides it from {ns}, so it is not in that sidecar's registry",
                svc.hostname
            );
            out.push(
                Cause::new("host-not-exported", Confidence::Confirmed, 93, s)
                    .fix("Export it to the client's namespace"),
            );
        }
    }
    let (confidence, score, evidence) = match mode {
        OutboundMode::RegistryOnly => {
            (Confidence::Confirmed, 90, format!("outboundTrafficPolicy REGISTRY_ONLY ({source})"))
        }
        _ => (
            Confidence::Likely,
            55,
            format!(
                "the config says {mode:?} ({source}); the proxy that logged this ran with REGISTRY_ONLY, so it had \
                 other config (a Sidecar in the client's namespace?)"
            ),
        ),
    };
    out.push(Cause::new("registry-only", confidence, score, summary).evidence(evidence).fix(fix));
}

/// A ServiceEntry that should have covered a blackholed destination: why it did not.
fn entry_problem(c: &Ctx<'_>, m: &Mesh, se: &Object<ServiceEntry>, by_host: bool, out: &mut Vec<Cause>) {
    let name = obj("ServiceEntry", se);
    let default = &m.registry.mesh.default_service_export_to;
    let visibility = strait_registry::build::visibility(&se.spec.export_to, default, namespace_of(se));
    let port = c.f.port;
    let has_port = port.is_some_and(|p| se.spec.ports.iter().any(|sp| sp.number == p));
    let exported = || format!("{:?}", se.spec.export_to);
    match c.client_ns() {
        Some(ns) if !visibility.visible_to(ns) => {
            let s = format!(
                "{name} declares {} but exports it only to {}, and the client is in namespace {ns}: its sidecar \
                 never sees the entry",
                se.spec.hosts.join(", "),
                exported()
            );
            let fix = format!("Add {ns} (or \"*\") to {name}'s exportTo");
            out.push(Cause::new("service-entry-not-exported", Confidence::Confirmed, 95, s).fix(fix));
        }
        None if !matches!(visibility, strait_registry::Visibility::Public) => {
            let s = format!(
                "{name} declares {} but exports it only to {}: a client in another namespace gets BlackHoleCluster",
                se.spec.hosts.join(", "),
                exported()
            );
            out.push(
                Cause::new("service-entry-not-exported", Confidence::Likely, 80, s)
                    .fix("Export it to the client's namespace"),
            );
        }
        _ => {}
    }
    if by_host
        && !has_port
        && let Some(p) = port
    {
        let ports: Vec<String> = se.spec.ports.iter().map(|sp| sp.number.to_string()).collect();
        let s = format!("{name} names the host but only ports [{}], not {p}", ports.join(", "));
        out.push(
            Cause::new("service-entry-port-mismatch", Confidence::Confirmed, 92, s)
                .fix(format!("Add port {p} to {name}")),
        );
    }
    let tcp = |sp: &strait_model::networking::service_entry::ServicePort| {
        !Protocol::parse(sp.protocol.as_deref().unwrap_or("TCP")).is_http()
    };
    let tcp_port = se.spec.ports.iter().any(|sp| Some(sp.number) == port && tcp(sp));
    let dest_ip = c.f.destination().map(|(ip, _)| ip);
    let address_covers = dest_ip.is_some_and(|ip| se.spec.addresses.iter().any(|a| a == ip || cidr_contains(a, ip)));
    if has_port && tcp_port && !address_covers && !by_host {
        let ip = dest_ip.unwrap_or("the destination address");
        let s = format!(
            "{name} declares port {} for {} but its addresses do not include {ip}: plain TCP is matched by \
             destination IP, and nothing maps {ip} to those hosts",
            port.unwrap_or_default(),
            se.spec.hosts.join(", ")
        );
        let fix = format!(
            "List the IPs or CIDRs the app connects to in {name}'s addresses, or let DNS capture \
                           auto-allocate an address and connect by name"
        );
        out.push(Cause::new("service-entry-needs-address", Confidence::Likely, 82, s).fix(fix));
    }
}

fn passthrough(c: &Ctx<'_>, out: &mut Vec<Cause>) {
    if !c.f.passthrough {
        return;
    }
    let dest = destination_words(c);
    let s = format!(
        "{dest} is in no Service or ServiceEntry the sidecar knows; with ALLOW_ANY it passed the traffic through \
         unmanaged (PassthroughCluster): no VirtualService, DestinationRule, retries or mTLS applied, and any \
         failure came from the destination itself"
    );
    let mut cause = Cause::new("passthrough", Confidence::Likely, 60, s)
        .fix("Declare the destination with a ServiceEntry to get routing, TLS origination, retries and metrics");
    if let Some(svc) = c.service {
        cause = cause.evidence(format!(
            "the config does declare {} — the proxy did not match it (port not declared, config not pushed yet, or \
             the first request arrived before the listener)",
            svc.hostname
        ));
    }
    out.push(cause);
}

fn dns_auto_allocated(c: &Ctx<'_>, out: &mut Vec<Cause>) {
    let Some((ip, port)) = c.f.destination() else { return };
    if !(cidr_contains("240.240.0.0/16", ip) || cidr_contains("2001:2::/48", ip)) {
        return;
    }
    let host = c.f.line.requested_server_name.clone().or_else(|| c.f.line.authority.clone());
    let host = host.unwrap_or_else(|| "its host".into());
    let real = c.f.line.upstream_host.as_deref().map(|u| format!(" (the connection went to {u})")).unwrap_or_default();
    let s = format!(
        "{ip} is an address Istio's DNS proxy auto-allocated for {host}: the app resolved the name through its \
         sidecar and connected to that virtual IP, port {port}{real}. Traffic is matched by that VIP and the \
         ServiceEntry's ports; connections the app makes to the service's real IPs (without the name) match only \
         a ServiceEntry that lists those addresses"
    );
    if c.f.black_hole {
        let s = format!(
            "A ServiceEntry for {host} exists somewhere in the mesh (the DNS proxy allocated {ip} for it), but this \
             sidecar has no listener for it: the entry is not exported to the client's namespace, or does not \
             declare port {port}"
        );
        let fix = "Export the ServiceEntry to the client's namespace (exportTo) and declare the port the app uses";
        out.push(Cause::new("service-entry-not-exported", Confidence::Likely, 80, s).fix(fix));
    }
    let mut cause = Cause::new("dns-auto-allocated", Confidence::Confirmed, 58, s).fix(
        "To reach the service by IP or an IP range, list the ranges in a ServiceEntry's addresses (resolution \
         STATIC or NONE) and export it to the calling namespaces",
    );
    if let Some(m) = c.mesh {
        for (se, _) in entries_for(m, Some(&host), Some(port)) {
            let addrs = if se.spec.addresses.is_empty() { "no addresses".into() } else { se.spec.addresses.join(", ") };
            cause = cause.evidence(format!("{} for {}: {addrs}", obj("ServiceEntry", se), se.spec.hosts.join(", ")));
        }
    }
    out.push(cause);
}

/// (VirtualService, subset) for every destination of `vs` that names `fqdn` with a subset.
pub(super) fn subset_routes<'m>(m: &Mesh, vs: &'m Object<VirtualService>, fqdn: &str) -> Vec<&'m str> {
    let ns = namespace_of(vs);
    let http = vs.spec.http.iter().flat_map(|r| r.route.iter().filter_map(|d| d.destination.as_ref()));
    let l4 = vs.spec.tcp.iter().flat_map(|r| r.route.iter()).chain(vs.spec.tls.iter().flat_map(|r| r.route.iter()));
    http.chain(l4.filter_map(|d| d.destination.as_ref()))
        .filter(|d| hosts::fqdn(&d.host, ns, m.domain()) == fqdn)
        .filter_map(|d| d.subset.as_deref())
        .collect()
}

fn no_cluster(c: &Ctx<'_>, out: &mut Vec<Cause>) {
    if !(c.f.has("NC") || c.f.line.details.as_deref() == Some("cluster_not_found")) {
        return;
    }
    let target = c.f.target();
    let (Some(m), Some(fqdn)) = (c.mesh, c.fqdn()) else {
        let s = format!(
            "The route for {target} names a cluster the proxy does not have: most often a VirtualService \
             destination.subset that no DestinationRule defines"
        );
        out.push(
            Cause::new("subset-not-defined", Confidence::Likely, 80, s)
                .fix("Define the subset in a DestinationRule for the host"),
        );
        return;
    };
    let drs = m.destination_rules(fqdn);
    let mut found = false;
    for vs in m.virtual_services(fqdn) {
        for subset in subset_routes(m, vs, fqdn) {
            found = true;
            subset_cause(c, m, &obj("VirtualService", vs), fqdn, subset, &drs, out);
        }
    }
    if let Some(subset) = c.f.subset.as_deref().filter(|_| !found) {
        subset_cause(c, m, "the route", fqdn, subset, &drs, out);
    }
}

/// Why `subset` of `fqdn` has no cluster: no DestinationRule, none defining it, or not exported.
pub(super) fn subset_cause(
    c: &Ctx<'_>,
    m: &Mesh,
    who: &str,
    fqdn: &str,
    subset: &str,
    drs: &[&Object<strait_model::networking::destination_rule::DestinationRule>],
    out: &mut Vec<Cause>,
) {
    let defining: Vec<_> = drs.iter().filter(|d| d.spec.subsets.iter().any(|s| s.name == subset)).collect();
    if drs.is_empty() {
        let s = format!("{who} routes {fqdn} to subset {subset}, but no DestinationRule for {fqdn} exists");
        let fix = format!("Create a DestinationRule for {fqdn} with subset {subset} (its labels select the pods)");
        out.push(Cause::new("subset-not-defined", Confidence::Confirmed, 95, s).fix(fix));
    } else if defining.is_empty() {
        let names: Vec<String> = drs.iter().map(|d| obj("DestinationRule", d)).collect();
        let subsets: Vec<&str> = drs.iter().flat_map(|d| d.spec.subsets.iter().map(|s| s.name.as_str())).collect();
        let s = format!(
            "{who} routes {fqdn} to subset {subset}, but {} defines only [{}]",
            names.join(" and "),
            subsets.join(", ")
        );
        out.push(
            Cause::new("subset-not-defined", Confidence::Confirmed, 95, s)
                .fix(format!("Add subset {subset} to {}", names[0])),
        );
    } else if let Some(ns) = c.client_ns()
        && !defining.iter().any(|d| m.dr_visible(d, ns))
    {
        let s = format!(
            "{} defines subset {subset}, but its exportTo hides it from namespace {ns}",
            obj("DestinationRule", defining[0])
        );
        out.push(
            Cause::new("destination-rule-not-exported", Confidence::Confirmed, 92, s)
                .fix("Export it to the client's namespace"),
        );
    } else {
        let s = format!(
            "The config defines subset {subset} of {fqdn} ({}), so the proxy ran older config: the VirtualService \
             arrived before the DestinationRule during an update, or the proxy is not SYNCED",
            obj("DestinationRule", defining[0])
        );
        out.push(Cause::new("config-push-order", Confidence::Likely, 65, s).fix(
            "Apply DestinationRules before the VirtualServices that use their subsets; check strait proxy-status",
        ));
    }
}

fn filter_chain(c: &Ctx<'_>, out: &mut Vec<Cause>) {
    let details = c.f.line.details.as_deref().unwrap_or_default();
    if !(details == "filter_chain_not_found" || (c.f.has("NR") && c.f.line.is_tcp())) {
        return;
    }
    let strict =
        c.mesh.zip(c.server).map(|(m, w)| m.mtls_mode(&w.namespace, &w.labels, c.f.destination().map(|d| d.1)));
    let s = "A client without a sidecar (or whose pod lacks the label security.istio.io/tlsMode: istio) sent \
             plaintext to a workload that only accepts mTLS, so no filter chain of the inbound listener matched";
    let fix =
        "Inject the client (or label it), or relax the server's PeerAuthentication (PERMISSIVE, or portLevelMtls)";
    match strict {
        Some((strait_model::security::peer_authentication::MtlsMode::Strict, pa)) => {
            let by = pa.unwrap_or_default();
            out.push(
                Cause::new("plaintext-to-strict", Confidence::Confirmed, 88, s)
                    .evidence(format!("{by} sets STRICT"))
                    .fix(fix),
            );
        }
        Some(_) => {
            let s = "The connection's port or protocol matched no filter chain: the port is not declared by a Service \
                     selecting this workload (nor a Sidecar ingress), or the VirtualService/DestinationRule for it \
                     is invalid";
            out.push(Cause::new("port-not-declared", Confidence::Likely, 70, s));
        }
        None => out.push(Cause::new("plaintext-to-strict", Confidence::Likely, 62, s).fix(fix)),
    }
}

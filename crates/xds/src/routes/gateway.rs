//! RDS for gateways (router proxies), as Istio's `buildGatewayHTTPRouteConfig`: which Gateway
//! servers a router serves (the Gateways whose `selector` labels the proxy carries, from any
//! namespace), the route config each HTTP server uses (`http.PORT` shared by every plain HTTP
//! server on a port, `https.PORT.PORTNAME.GATEWAY.NS` per terminated HTTPS server), and its
//! virtual hosts: one per host in the intersection of a server's hosts and the hosts of a
//! VirtualService bound to the gateway (`HOST:PORT`, domain `HOST`, ports ignored when matching
//! as in Istio), with the VirtualService's HTTP rules translated like a sidecar's. A server with
//! `httpsRedirect` makes its hosts answer 301 to https (`require_tls: ALL`). A route config
//! without virtual hosts gets Istio's `blackhole:PORT` host (404 for everything).
//!
//! The server and VirtualService selection here is shared with the gateway listeners.

use super::action::Ctx;
use super::virtual_hosts::{dns_domain, fqdn};
use envoy_types::pb::envoy::config::route::v3::{RouteConfiguration, VirtualHost, virtual_host::TlsRequirementType};
use envoy_types::pb::google::protobuf::BoolValue;
use std::collections::BTreeMap;
use strait_model::Object;
use strait_model::networking::gateway::{Gateway, Server, TlsMode};
use strait_model::networking::listener::Protocol as GwProtocol;
use strait_model::networking::virtual_service::{HttpRoute, VirtualService};
use strait_registry::store::{name_of, namespace_of};

use crate::scope::Scope;

/// One server of a Gateway that applies to the router.
#[derive(Clone, Copy)]
pub(crate) struct GwServer<'a> {
    /// The Gateway.
    pub gateway: &'a Object<Gateway>,
    /// The server.
    pub server: &'a Server,
}

/// What a server does with its connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Plain HTTP (HTTP, HTTP2, GRPC, GRPC-WEB): an HCM with `http.PORT`.
    Http,
    /// HTTPS terminated here (SIMPLE, MUTUAL, OPTIONAL_MUTUAL): TLS then an HCM.
    Https,
    /// TLS terminated here, then TCP routes.
    TlsTerminate,
    /// TLS routed by SNI without terminating (PASSTHROUGH).
    Passthrough,
    /// Opaque TCP (TCP, MONGO, MYSQL, REDIS).
    Tcp,
}

impl<'a> GwServer<'a> {
    /// `NS/NAME` of the gateway, the form VirtualServices bind to.
    pub fn key(&self) -> String {
        format!("{}/{}", namespace_of(self.gateway), name_of(self.gateway))
    }

    /// The server port number (0 when missing).
    pub fn port(&self) -> u32 {
        self.server.port.as_ref().map_or(0, |p| p.number)
    }

    /// What the server does; `None` for what routers cannot serve (UDP, ISTIO_MUTUAL,
    /// AUTO_PASSTHROUGH, unknown protocols).
    pub fn kind(&self) -> Option<Kind> {
        let protocol = self.server.port.as_ref()?.parsed_protocol()?;
        let mode = self.server.tls.as_ref().map(|t| t.effective_mode());
        Some(match protocol {
            p if p.is_http() => Kind::Http,
            GwProtocol::Https | GwProtocol::Tls => match mode {
                Some(TlsMode::Simple | TlsMode::Mutual | TlsMode::OptionalMutual) if protocol == GwProtocol::Https => {
                    Kind::Https
                }
                Some(TlsMode::Simple | TlsMode::Mutual | TlsMode::OptionalMutual) => Kind::TlsTerminate,
                Some(TlsMode::Passthrough) => Kind::Passthrough,
                _ => return None,
            },
            GwProtocol::Udp => return None,
            _ => Kind::Tcp,
        })
    }

    /// The route config name (Istio's `gatewayRDSRouteName`), for HTTP and HTTPS servers.
    pub fn route_name(&self) -> Option<String> {
        let port = self.server.port.as_ref()?;
        let bind = self.server.bind.as_deref().filter(|b| !b.is_empty()).map(|b| format!(".{b}")).unwrap_or_default();
        match self.kind()? {
            Kind::Http => Some(format!("http.{}{bind}", port.number)),
            Kind::Https => Some(format!(
                "https.{}.{}.{}.{}{bind}",
                port.number,
                port.name,
                name_of(self.gateway),
                namespace_of(self.gateway)
            )),
            _ => None,
        }
    }

    /// The server's hosts as seen by a VirtualService in `vs_ns` (Istio's `NamesForNamespace`:
    /// `ns/host` only for that namespace or `*`; `./host` means the gateway's namespace).
    pub fn hosts_for(&self, vs_ns: &str) -> Vec<String> {
        let gw_ns = namespace_of(self.gateway);
        self.server
            .hosts
            .iter()
            .filter_map(|h| match h.split_once('/') {
                Some((ns, host)) => {
                    let ns = if ns == "." { gw_ns } else { ns };
                    (ns == "*" || ns == vs_ns).then(|| host.to_ascii_lowercase())
                }
                None => Some(h.to_ascii_lowercase()),
            })
            .collect()
    }

    /// The server's hosts without namespaces (for SNI matching).
    pub fn bare_hosts(&self) -> Vec<String> {
        let mut out: Vec<String> =
            self.server.hosts.iter().map(|h| h.rsplit('/').next().unwrap_or(h).to_ascii_lowercase()).collect();
        out.sort();
        out.dedup();
        out
    }
}

/// The servers of the Gateways that select this proxy (every `selector` label on the proxy;
/// any namespace), in (namespace, name) then server order.
pub(crate) fn servers<'a>(scope: &Scope<'a>) -> Vec<GwServer<'a>> {
    let labels = &scope.proxy.labels;
    let mut gateways: Vec<_> = scope
        .registry
        .config
        .gateways
        .iter()
        .filter(|g| g.spec.selector.iter().all(|(k, v)| labels.get(k) == Some(v)))
        .collect();
    gateways.sort_by(|a, b| (namespace_of(a), name_of(a)).cmp(&(namespace_of(b), name_of(b))));
    gateways
        .into_iter()
        .flat_map(|gateway| gateway.spec.servers.iter().map(move |server| GwServer { gateway, server }))
        .collect()
}

/// Resolves a `gateways` entry written in namespace `ns` to `NS/NAME` (`None` for `mesh`).
fn gateway_ref(entry: &str, ns: &str) -> Option<String> {
    if entry == "mesh" {
        return None;
    }
    Some(if entry.contains('/') { entry.to_string() } else { format!("{ns}/{entry}") })
}

/// True when `gateways` (written in namespace `ns`) names `key`.
pub(crate) fn names_gateway(gateways: &[String], ns: &str, key: &str) -> bool {
    gateways.iter().any(|g| gateway_ref(g, ns).as_deref() == Some(key))
}

/// VirtualServices bound to the gateway `key` (`NS/NAME`) and exported to the proxy's
/// namespace, in (namespace, name) order.
pub(crate) fn virtual_services<'a>(scope: &Scope<'a>, key: &str) -> Vec<&'a Object<VirtualService>> {
    let proxy_ns = &scope.proxy.id.namespace;
    let mut out: Vec<_> = scope
        .registry
        .config
        .virtual_services
        .iter()
        .filter(|vs| names_gateway(&vs.spec.gateways, namespace_of(vs), key))
        .filter(|vs| {
            let own = namespace_of(vs);
            let e = &vs.spec.export_to;
            e.is_empty() || e.iter().any(|x| x == "*" || x == proxy_ns || (x == "." && own == proxy_ns))
        })
        .collect();
    out.sort_by(|a, b| (namespace_of(a), name_of(a)).cmp(&(namespace_of(b), name_of(b))));
    out
}

/// Istio's `Name.SubsetOf`: every name `a` covers is covered by `b`.
pub fn subset_of(a: &str, b: &str) -> bool {
    if b == "*" {
        return true;
    }
    match (a.strip_prefix('*'), b.strip_prefix('*')) {
        (Some(sa), Some(sb)) => sa.ends_with(sb),
        (None, Some(sb)) => a.ends_with(sb),
        (Some(_), None) => false,
        (None, None) => a.eq_ignore_ascii_case(b),
    }
}

/// Istio's `Names.Intersection`: for each pair where one covers the other, the narrower one.
pub fn intersection(server: &[String], vs: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in server {
        for v in vs {
            let narrower = if subset_of(s, v) {
                s
            } else if subset_of(v, s) {
                v
            } else {
                continue;
            };
            if !out.contains(narrower) {
                out.push(narrower.clone());
            }
        }
    }
    out
}

/// The VirtualService's hosts, short names completed in its namespace, lowercase.
pub(crate) fn vs_hosts(scope: &Scope<'_>, vs: &Object<VirtualService>) -> Vec<String> {
    let ns = namespace_of(vs);
    vs.spec.hosts.iter().map(|h| fqdn(h, ns, dns_domain(scope)).to_ascii_lowercase()).collect()
}

/// Builds every gateway route config of the router, sorted by name.
pub fn build(scope: &Scope<'_>) -> Vec<RouteConfiguration> {
    let mut by_route: BTreeMap<String, Vec<GwServer<'_>>> = BTreeMap::new();
    for s in servers(scope) {
        if let Some(name) = s.route_name() {
            by_route.entry(name).or_default().push(s);
        }
    }
    by_route.into_iter().map(|(name, servers)| route_config(scope, name, &servers)).collect()
}

/// One route config from the servers sharing it.
fn route_config(scope: &Scope<'_>, name: String, servers: &[GwServer<'_>]) -> RouteConfiguration {
    let mut vhosts: BTreeMap<String, VirtualHost> = BTreeMap::new();
    for s in servers {
        add_server_hosts(scope, s, &mut vhosts);
    }
    let mut virtual_hosts: Vec<VirtualHost> = vhosts.into_values().collect();
    virtual_hosts.sort_by(|a, b| a.name.cmp(&b.name));
    if virtual_hosts.is_empty() {
        let port = servers.first().map_or(0, GwServer::port);
        virtual_hosts.push(VirtualHost {
            name: format!("blackhole:{port}"),
            domains: vec!["*".into()],
            ..Default::default()
        });
    }
    RouteConfiguration {
        name,
        virtual_hosts,
        validate_clusters: Some(BoolValue { value: false }),
        ignore_port_in_host_matching: true,
        ..Default::default()
    }
}

/// Adds the virtual hosts of one server (merged by hostname with earlier servers').
fn add_server_hosts(scope: &Scope<'_>, s: &GwServer<'_>, vhosts: &mut BTreeMap<String, VirtualHost>) {
    let port = s.port();
    let redirect = s.server.tls.as_ref().and_then(|t| t.https_redirect).unwrap_or(false);
    let key = s.key();
    for vs in virtual_services(scope, &key) {
        let hosts = intersection(&s.hosts_for(namespace_of(vs)), &vs_hosts(scope, vs));
        if hosts.is_empty() {
            continue;
        }
        let routes = vs_routes(scope, vs, &key, port);
        for host in hosts {
            let vh = vhosts.entry(host.clone()).or_insert_with(|| new_vhost(&host, port));
            vh.routes.extend(routes.iter().cloned());
        }
    }
    if redirect {
        for host in s.hosts_for(namespace_of(s.gateway)) {
            vhosts.entry(host.clone()).or_insert_with(|| new_vhost(&host, port)).require_tls =
                TlsRequirementType::All as i32;
        }
    }
}

fn new_vhost(host: &str, port: u32) -> VirtualHost {
    VirtualHost {
        name: format!("{host}:{port}"),
        domains: vec![host.to_string()],
        include_request_attempt_count: true,
        ..Default::default()
    }
}

/// The Envoy routes of one VirtualService on gateway `key`.
fn vs_routes(
    scope: &Scope<'_>,
    vs: &Object<VirtualService>,
    key: &str,
    port: u32,
) -> Vec<envoy_types::pb::envoy::config::route::v3::Route> {
    let ns = namespace_of(vs);
    let ctx = Ctx { scope, namespace: ns, port };
    vs.spec
        .http
        .iter()
        .filter(|h| h.delegate.is_none())
        .filter_map(|h| for_gateway(h, ns, key))
        .flat_map(|h| super::http_routes(&ctx, name_of(vs), &h))
        .collect()
}

/// The rule with only the matches that apply on gateway `key` (a match naming gateways applies
/// only on those); `gateways` cleared so the sidecar translation's mesh check passes. `None`
/// when no match is left.
fn for_gateway(http: &HttpRoute, ns: &str, key: &str) -> Option<HttpRoute> {
    let mut out = http.clone();
    if out.match_.is_empty() {
        return Some(out);
    }
    out.match_.retain(|m| m.gateways.is_empty() || names_gateway(&m.gateways, ns, key));
    for m in &mut out.match_ {
        m.gateways.clear();
    }
    (!out.match_.is_empty()).then_some(out)
}

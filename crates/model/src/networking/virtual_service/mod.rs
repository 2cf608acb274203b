//! Istio `VirtualService` (networking.istio.io; v1, v1beta1 and v1alpha3 share one schema): the
//! typed model of every field of istio/api `networking/v1alpha3/virtual_service.proto` and the
//! checks of Istio's `ValidateVirtualService`, in Istio's wording.
//!
//! This file owns the top-level spec and the rules that need the whole document (delegate
//! shape, hosts against gateways, JWT-claim routing, `exportTo`). The parts live next door:
//! `http` (HTTP routes), `actions` (redirect, direct response, rewrite, delegate, mirrors),
//! `matching` (HTTP match requests and string matches), `policy` (retries, fault injection,
//! CORS), `headers` (header manipulation), `destination` (destinations and weights), `l4` (TLS
//! and TCP routes), `hosts` (host, SNI and gateway-name syntax) and `unreachable` (warnings
//! for rules that can never match).

mod actions;
mod destination;
mod headers;
mod hosts;
mod http;
mod l4;
mod matching;
mod policy;

pub use hosts::host_matches;
pub use policy::{GRPC_STATUS, grpc_status_code};
mod unreachable;

pub use crate::types::{Percent, PortSelector, StringMatch};
pub use actions::{
    Delegate, HttpBody, HttpDirectResponse, HttpMirrorPolicy, HttpRedirect, HttpRewrite, RedirectPortSelection,
    RegexRewrite,
};
pub use destination::{Destination, RouteDestination};
pub use headers::{HeaderOperations, Headers};
pub use http::{HttpRoute, HttpRouteDestination};
pub use l4::{L4MatchAttributes, TcpRoute, TlsMatchAttributes, TlsRoute};
pub use matching::HttpMatchRequest;
pub use policy::{Abort, CorsPolicy, Delay, HttpFaultInjection, HttpRetry, UnmatchedPreflights};

use crate::validation::{Validate, Validator, rules};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The reserved gateway name that stands for every sidecar in the mesh.
pub const MESH_GATEWAY: &str = "mesh";

/// `VirtualService` spec: traffic routing rules for a set of hosts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VirtualService {
    /// Destination hosts the rules apply to (FQDN, short name, wildcard prefix or IP). Empty
    /// means this is a delegate VirtualService, only used through another one's `delegate`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Gateways and sidecars that apply the routes: `mesh`, `<namespace>/<name>` or a legacy
    /// FQDN. Empty means `mesh`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    /// Ordered HTTP routes; the first match wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<HttpRoute>,
    /// Ordered routes for unterminated TLS/HTTPS traffic, matched on SNI.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tls: Vec<TlsRoute>,
    /// Ordered routes for opaque TCP traffic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tcp: Vec<TcpRoute>,
    /// Namespaces the VirtualService is visible to (`.`, `*` or names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub export_to: Vec<String>,
}

impl VirtualService {
    /// True for a delegate VirtualService (no hosts): it is only reachable from another
    /// VirtualService's `http[].delegate`.
    pub fn is_delegate(&self) -> bool {
        self.hosts.is_empty()
    }

    /// True when the sidecars apply the routes (no gateways, or `mesh` among them).
    pub fn applies_to_mesh(&self) -> bool {
        self.gateways.is_empty() || self.lists_mesh()
    }

    /// True when only gateways apply the routes (gateways listed, `mesh` not among them).
    pub fn bound_to_gateway_only(&self) -> bool {
        !self.gateways.is_empty() && !self.lists_mesh()
    }

    fn lists_mesh(&self) -> bool {
        self.gateways.iter().any(|g| g == MESH_GATEWAY)
    }

    /// True when some TLS match names SNI hosts (Istio then accepts the auto-generated
    /// `outbound_.<port>_._.<host>` names as hosts on gateways).
    fn has_sni_hosts(&self) -> bool {
        self.tls.iter().any(|t| t.match_.iter().any(|m| !m.sni_hosts.is_empty()))
    }

    /// Delegates carry only HTTP routes: Istio has no TLS/TCP delegation, and the root decides
    /// the gateways.
    fn validate_delegate_shape(&self, v: &mut Validator<'_>) {
        if !self.is_delegate() {
            return;
        }
        if !self.gateways.is_empty() {
            v.error_at("gateways", "delegate virtual service must have no gateways specified");
        }
        if !self.tls.is_empty() {
            v.error_at("tls", "delegate virtual service must have no tls route specified");
        }
        if !self.tcp.is_empty() {
            v.error_at("tcp", "delegate virtual service must have no tcp route specified");
        }
    }

    /// `@request.auth.claims.*` header matches need a gateway that ran JWT authentication;
    /// sidecars never see the claims, so Istio rejects them when the mesh applies the routes.
    fn validate_jwt_claim_routes(&self, v: &mut Validator<'_>) {
        if self.bound_to_gateway_only() {
            return;
        }
        let gateways = format!("[{}]", self.gateways.join(" "));
        v.each("http", &self.http, |v, route| {
            v.each("match", &route.match_, |v, m| {
                for (field, map) in [("headers", &m.headers), ("withoutHeaders", &m.without_headers)] {
                    jwt_claims_in(v, field, map, &gateways);
                }
            });
        });
    }
}

fn jwt_claims_in(v: &mut Validator<'_>, field: &str, map: &BTreeMap<String, StringMatch>, gateways: &str) {
    for key in map.keys().filter(|k| matching::is_jwt_claim(k)) {
        v.field(field, |v| {
            v.key(key, |v| {
                v.error(format!(
                    "JWT claim based routing (key: {key}) is only supported for gateway, found no gateways: {gateways}"
                ))
            })
        });
    }
}

impl Validate for VirtualService {
    fn validate(&self, v: &mut Validator<'_>) {
        self.validate_delegate_shape(v);
        v.each("gateways", &self.gateways, |v, g| hosts::gateway_name(v, g));
        self.validate_jwt_claim_routes(v);
        hosts::validate_hosts(v, self);
        if self.http.is_empty() && self.tcp.is_empty() && self.tls.is_empty() {
            v.error("http, tcp or tls must be provided in virtual service");
        }
        let delegate = self.is_delegate();
        v.each("http", &self.http, |v, route| route.validate_in(v, delegate));
        v.each("tls", &self.tls, |v, route| route.validate_in(v, self));
        v.each("tcp", &self.tcp, |v, route| route.validate(v));
        rules::export_to(v, &self.export_to, false);
        unreachable::analyze(v, self);
    }
}

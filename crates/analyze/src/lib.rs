//! `strait analyze`: Istio's config analyzers that apply to Strait, with Istio's codes and
//! message format, plus analyzers for the pitfalls users hit in practice (Strait's `STRnnnn`
//! codes). A pure library: it takes a set of resources ([`Input`], read from files by
//! [`input::load`]) plus optional runtime facts ([`RuntimeFacts`]: what running workloads
//! listen on) and returns [`Message`]s. It does no I/O besides that loader, and depends only
//! on the model and the loader (no envoy-types, tonic, hyper or kube). Checking the running
//! local mesh (`strait up`, issue 5) will mean building the same [`Input`] from the mesh's
//! registry and filling [`RuntimeFacts`] from its processes.
//!
//! Output matches `istioctl analyze`:
//! `Error [IST0101] (VirtualService default/reviews vs.yaml:12) Referenced host not found: "x"`,
//! sorted and de-duplicated as Istio does ([`message::sorted_deduped`]); [`output`] renders
//! the JSON and YAML forms (`code`, `level`, `origin`, `reference`, `message`,
//! `documentationUrl`).
//!
//! # Istio's analyzers
//!
//! One module per analyzer under [`analyzers`], each naming the analyzer it mirrors. The
//! conformance test (`tests/istio_analyzers.rs`) runs every case of Istio's analyzer test grid
//! for the analyzers below and compares (code, origin) multisets.
//!
//! | analyzer | codes |
//! |---|---|
//! | `annotations.K8sAnalyzer` | IST0107, IST0108, IST0125, IST0135 |
//! | `maturity.AlphaAnalyzer` (not in a default run, as in istioctl) | IST0136 |
//! | `authz.AuthorizationPoliciesAnalyzer` | IST0101, IST0127 |
//! | `deployment.ServiceAssociationAnalyzer` | IST0116, IST0137 |
//! | `deployment.ApplicationUIDAnalyzer` | IST0144 |
//! | `destinationrule.CaCertificateAnalyzer` | IST0128, IST0129 |
//! | `destinationrule.PodNotSelectedAnalyzer` | IST0173, IST0174 |
//! | `deprecation.FieldAnalyzer` | IST0002 |
//! | `gateway.IngressGatewayPortAnalyzer` | IST0101, IST0162 |
//! | `gateway.CertificateAnalyzer` | IST0138 |
//! | `gateway.SecretAnalyzer` | IST0101, IST0161 |
//! | `gateway.ConflictingGatewayAnalyzer` | IST0101, IST0145 |
//! | `service.PortNameAnalyzer` | IST0118, IST0150 |
//! | `sidecar.SelectorAnalyzer` | IST0101, IST0110, IST0111, IST0167 |
//! | `virtualservice.ConflictingMeshGatewayHostsAnalyzer` | IST0109 |
//! | `virtualservice.DestinationHostAnalyzer` | IST0101, IST0112, IST0140 |
//! | `virtualservice.DestinationRuleAnalyzer` | IST0101 |
//! | `virtualservice.GatewayAnalyzer` | IST0101, IST0132, IST0165 |
//! | `virtualservice.JWTClaimRouteAnalyzer` | IST0149 |
//! | `serviceentry.ProtocolAddressesAnalyzer` | IST0134 |
//! | `serviceentry.ConflictingServiceEntryProtocolAnalyzer` | IST0177 |
//! | `schemaValidation.CollectionValidationAnalyzer` | IST0106, IST0133, IST0130, IST0131 |
//!
//! Not run, because what they check does not exist in Strait (the list, with reasons, is
//! [`analyzers::NOT_APPLICABLE`], and the conformance table prints it):
//! `authn.BlockedCIDRsAnalyzer` (istiod's Deployment),
//! `conditions.ConditionAnalyzer` (controller-written status), `envoyfilter.*`,
//! `telemetry.*`, `k8sgateway.*` (kinds Strait does not support),
//! `externalcontrolplane.*`, `webhook.*`, `injection.*` (webhooks and the sidecar injector),
//! `multicluster.MeshNetworksAnalyzer` (meshNetworks).
//!
//! # Strait's pitfall analyzers
//!
//! From the field notes in `../shared/seeds`. A pitfall message is not emitted for an object
//! and cause that an Istio message already reports (IST0140 covers gateway routes around
//! subsets when the hosts are spelled alike, IST0138 shared certificates on gateways with
//! nested selectors); the `STR` analyzers cover what those miss.
//!
//! | code | name | level | what |
//! |---|---|---|---|
//! | STR0001 | PortProtocolMismatch | Warning | a port's name/appProtocol selects a protocol the config shows it does not speak: `http` on a container port named `https`/`grpc`/`tls`, `http` on 443, a ServiceEntry `HTTP` port 443 |
//! | STR0002 | ServerFirstProtocolSniffed | Warning | an unnamed port of a server-first protocol (PostgreSQL, Redis, …): every connection waits for the sniffing timeout |
//! | STR0003 | UnusedDestinationRuleSubset | Warning | a DestinationRule subset no VirtualService route sends traffic to (its policy never applies) |
//! | STR0004 | GatewayRouteBypassesSubsets | Warning | a gateway VirtualService routes to a host without subset while a mesh VirtualService routes that host by subset (hosts spelled differently, which IST0140 misses) |
//! | STR0005 | TlsModeConflictsWithPeerAuthentication | Error | a DestinationRule TLS mode the destination's PeerAuthentication refuses (DISABLE or SIMPLE against STRICT, ISTIO_MUTUAL against DISABLE) |
//! | STR0006 | CertificateSharedAcrossGateways | Warning | Gateways that select the same workload with different selectors share a certificate |
//! | STR0007 | ExternalHostNotRegistered | Error | under REGISTRY_ONLY, an external host a workload's env/args or a mesh VirtualService's hosts name, with no ServiceEntry visible in that namespace |
//! | STR0008 | Http10Upstream | Warning | config that makes a proxy in front of the mesh speak HTTP/1.0 (nginx `proxy_pass` without `proxy_http_version 1.1`) |
//! | STR0009 | AppListensOnLocalhost | Error | runtime: the app listens on 127.0.0.1/::1 only while its sidecar forwards to the pod address |
//! | STR0010 | AppListenerAddressMismatch | Error | runtime: the app listens on one address family (IPv4 only) or on another address than the one its sidecar forwards to |
//! | STR0011 | AppNotListening | Warning | runtime: nothing listens on a Service's target port |

pub mod analyzers;
pub mod codes;
pub mod context;
pub mod input;
pub mod message;
pub mod output;
pub mod pitfalls;
pub mod runtime;
pub mod util;

pub use context::{Context, Options};
pub use input::{Input, LoadOptions, Obj, load};
pub use message::{Level, Message, MessageType};
pub use runtime::RuntimeFacts;

use context::Reporter;

/// Runs every analyzer (Istio's and the pitfalls) on `input`; messages sorted and
/// de-duplicated as `istioctl analyze` prints them.
pub fn analyze(input: &Input, options: &Options) -> Vec<Message> {
    let all: Vec<&analyzers::Analyzer> = analyzers::ALL.iter().chain(pitfalls::ALL.iter()).collect();
    analyze_with(input, options, &all)
}

/// Runs the given analyzers only.
pub fn analyze_with(input: &Input, options: &Options, which: &[&analyzers::Analyzer]) -> Vec<Message> {
    let ctx = Context::new(input, options);
    let mut messages = Vec::new();
    for a in which {
        let mut out = Reporter::new(a.name);
        (a.run)(&ctx, &mut out);
        messages.extend(out.messages);
    }
    message::sorted_deduped(messages)
}

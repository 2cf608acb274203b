//! Strait's codes for the pitfalls of `../shared/seeds` that Istio's analyzers miss. Each text
//! says what is wrong, which objects, and what to do. A pitfall message is never emitted for an
//! object and cause an Istio message already reports (see the crate docs).

use crate::message::{Level, MessageType};

pub const PORT_PROTOCOL_MISMATCH: MessageType = MessageType::new(
    "STR0001",
    "PortProtocolMismatch",
    Level::Warning,
    "Port %q (%d) of %s selects protocol %s, but %s says it speaks %s: %s. Fix: %s.",
);
pub const SERVER_FIRST_PROTOCOL_SNIFFED: MessageType = MessageType::new(
    "STR0002",
    "ServerFirstProtocolSniffed",
    Level::Warning,
    "Port %s (%d) of %s declares no protocol, so sidecars sniff it, but %s is a server-first protocol: every new connection waits %s for bytes the client never sends before it is treated as TCP. Fix: name the port %q (or set appProtocol: tcp).",
);
pub const UNUSED_DESTINATION_RULE_SUBSET: MessageType = MessageType::new(
    "STR0003",
    "UnusedDestinationRuleSubset",
    Level::Warning,
    "Subset %q of DestinationRule %s (host %s) is not the destination of any VirtualService route, so %s. Fix: route to it (destination host %s, subset %q) or remove it.",
);
pub const GATEWAY_ROUTE_BYPASSES_SUBSETS: MessageType = MessageType::new(
    "STR0004",
    "GatewayRouteBypassesSubsets",
    Level::Warning,
    "VirtualService %s (gateway %s) routes to %s without a subset, so the subset routing of VirtualService %s does not apply to requests that enter through the gateway: they are balanced across every version. Fix: add the subset to this route, or bind %s to the gateway as well.",
);
pub const TLS_MODE_CONFLICTS_WITH_PEER_AUTHENTICATION: MessageType = MessageType::new(
    "STR0005",
    "TlsModeConflictsWithPeerAuthentication",
    Level::Error,
    "DestinationRule %s sets TLS mode %s for %s, but PeerAuthentication %s makes the workloads behind it (%s) accept %s: requests fail with 503 (upstream connect error, flag UF). Fix: %s.",
);
pub const CERTIFICATE_SHARED_ACROSS_GATEWAYS: MessageType = MessageType::new(
    "STR0006",
    "CertificateSharedAcrossGateways",
    Level::Warning,
    "Gateways %s serve the same workload (%s) with the same certificate %s: browsers reuse one HTTP/2 connection for every host the certificate covers and get 404 from the Gateway that does not route the host. Fix: serve these hosts from one Gateway (a wildcard host) or give each Gateway its own certificate.",
);
pub const EXTERNAL_HOST_NOT_REGISTERED: MessageType = MessageType::new(
    "STR0007",
    "ExternalHostNotRegistered",
    Level::Error,
    "%s sends traffic to %s (%s), but outboundTrafficPolicy is REGISTRY_ONLY and no ServiceEntry visible in namespace %q defines that host: its sidecar sends the traffic to BlackHoleCluster (502, or a reset with flag UH). Fix: add a ServiceEntry for %s exported to %q.",
);
pub const HTTP10_UPSTREAM: MessageType = MessageType::new(
    "STR0008",
    "Http10Upstream",
    Level::Warning,
    "%s makes %s send HTTP/1.0 to its upstreams (%s): sidecars answer HTTP/1.0 with 426 Upgrade Required on HTTP ports, and treat it as opaque TCP (no routing) on ports they sniff. Fix: %s.",
);
pub const APP_LISTENS_ON_LOCALHOST: MessageType = MessageType::new(
    "STR0009",
    "AppListensOnLocalhost",
    Level::Error,
    "%s listens on %s only, but its sidecar forwards inbound traffic for port %d (%s) to %s: connections are refused and callers get 503 (flag UF, connection refused). Fix: make the app listen on %s or on all addresses.",
);
pub const APP_LISTENER_ADDRESS_MISMATCH: MessageType = MessageType::new(
    "STR0010",
    "AppListenerAddressMismatch",
    Level::Error,
    "%s listens for port %d on %s only (%s), but its sidecar forwards inbound traffic (%s) to %s (%s): connections are refused and callers get 503 (flag UF). Fix: listen on [::] (dual-stack) or on %s.",
);
pub const APP_NOT_LISTENING: MessageType = MessageType::new(
    "STR0011",
    "AppNotListening",
    Level::Warning,
    "%s does not listen on port %d, the target of %s: its sidecar's connections are refused and callers get 503 (flag UF, delayed_connect_error:_111). Fix: point the Service's targetPort at the port the app listens on, or make the app listen on %d.",
);

/// Every Strait message type.
pub const ALL: &[&MessageType] = &[
    &PORT_PROTOCOL_MISMATCH,
    &SERVER_FIRST_PROTOCOL_SNIFFED,
    &UNUSED_DESTINATION_RULE_SUBSET,
    &GATEWAY_ROUTE_BYPASSES_SUBSETS,
    &TLS_MODE_CONFLICTS_WITH_PEER_AUTHENTICATION,
    &CERTIFICATE_SHARED_ACROSS_GATEWAYS,
    &EXTERNAL_HOST_NOT_REGISTERED,
    &HTTP10_UPSTREAM,
    &APP_LISTENS_ON_LOCALHOST,
    &APP_LISTENER_ADDRESS_MISMATCH,
    &APP_NOT_LISTENING,
];

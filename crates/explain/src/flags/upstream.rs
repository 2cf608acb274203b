//! Response flags about connections, routing and the upstream: no healthy host, connect
//! failures, resets, overflow, no route or cluster, timeouts, protocol errors, DNS, drops.

use super::{CLUSTERS_JSON, ENDPOINTS, Flag, ROUTES_JSON, STATUS, Scope};

/// The flags of this theme, in Envoy's order.
pub(super) static FLAGS: [Flag; 15] = [
    Flag {
        short: "UH",
        long: "NoHealthyUpstream",
        scope: Scope::HttpAndTcp,
        status: "503 `no healthy upstream` (TCP: connection closed)",
        meaning: "The upstream cluster had no healthy endpoint to send to, so the proxy answered by itself \
                  without contacting any upstream.",
        causes: &[
            "no ready pod behind the service (not Ready, crash-looping, scaled to zero, or a gap during a rollout)",
            "the DestinationRule subset's labels select no pods",
            "every endpoint was ejected by outlier detection",
            "BlackHoleCluster: the destination is in no registry and outboundTrafficPolicy is REGISTRY_ONLY",
            "the proxy did not have the endpoints yet (sidecar start-up, endpoint push lag)",
        ],
        checks: &[
            ENDPOINTS,
            "strait proxy-config clusters {proxy}   # {cluster} must be listed",
            "strait analyze -f {dir}   # IST0173: a DestinationRule subset selects no pods",
            STATUS,
        ],
        fields: &[
            "Service.spec.selector",
            "DestinationRule.spec.subsets[].labels",
            "DestinationRule.spec.trafficPolicy.outlierDetection",
            "Pod status.conditions[type=Ready]",
        ],
    },
    Flag {
        short: "UT",
        long: "UpstreamRequestTimeout",
        scope: Scope::Http,
        status: "504 `upstream request timeout`",
        meaning: "The route's timeout (or the per-try timeout of its retries) fired before the upstream \
                  answered, so the proxy gave up and answered 504.",
        causes: &[
            "the VirtualService timeout is shorter than the upstream's response time",
            "retries.perTryTimeout fired on every attempt",
            "the upstream is slow or stuck (overloaded, or waiting on its own dependency)",
        ],
        checks: &[
            "strait proxy-config routes {proxy} -o json   # timeout and retry_policy.per_try_timeout of the route \
             to {cluster}",
            "the upstream's own latency: istio_request_duration_milliseconds for {host}",
        ],
        fields: &["VirtualService.spec.http[].timeout", "VirtualService.spec.http[].retries.perTryTimeout"],
    },
    Flag {
        short: "LR",
        long: "LocalReset",
        scope: Scope::Http,
        status: "503 `… reset reason: local reset`",
        meaning: "The proxy reset the stream itself (a local codec reset), not the upstream.",
        causes: &[
            "the proxy detected an HTTP protocol violation (headers too large, invalid frames)",
            "the proxy was draining or shutting down",
            "an overload action reset the stream",
        ],
        checks: &[CLUSTERS_JSON, "the proxy's own log around the line's start time: `resetting stream`"],
        fields: &["DestinationRule.spec.trafficPolicy.connectionPool.http.h2UpgradePolicy"],
    },
    Flag {
        short: "UR",
        long: "UpstreamRemoteReset",
        scope: Scope::Http,
        status: "503 `… reset reason: remote reset`",
        meaning: "The upstream reset the stream (HTTP/2 RST_STREAM, or a TCP reset) before the response was \
                  complete.",
        causes: &[
            "the app crashed or was killed mid-request (OOM, restart, deploy)",
            "the app's HTTP/2 server refused the stream (max concurrent streams)",
            "the port's declared protocol does not match what the app speaks (http2/grpc against HTTP/1.1)",
        ],
        checks: &[
            "the restarts and logs of the upstream pod {upstream}",
            "strait proxy-config clusters {proxy} -o json   # does {cluster} speak HTTP/2 to the app?",
        ],
        fields: &[
            "Service.spec.ports[].name / appProtocol",
            "DestinationRule.spec.trafficPolicy.connectionPool.http.h2UpgradePolicy",
        ],
    },
    Flag {
        short: "UF",
        long: "UpstreamConnectionFailure",
        scope: Scope::HttpAndTcp,
        status: "503 `upstream connect error or disconnect/reset before headers. reset reason: connection failure`",
        meaning: "Connecting to the upstream failed (refused, timed out, or the TLS handshake failed) before \
                  any request was sent.",
        causes: &[
            "nothing listens on the endpoint: the app is not up yet, listens on another port (targetPort), only \
             on 127.0.0.1, or only on IPv4 while the pod IP is IPv6",
            "a TLS mismatch: the DestinationRule's tls.mode against the server's PeerAuthentication, or mTLS to \
             a server without a sidecar",
            "the endpoint is gone or unreachable (stale endpoint after a restart, NetworkPolicy, firewall) and \
             connectTimeout expired",
            "the proxy ran out of file descriptors (ulimit -n 1024)",
        ],
        checks: &[
            "strait proxy-config endpoints {proxy}   # is {upstream} still an endpoint of {cluster}, and healthy?",
            "strait proxy-config clusters {proxy} -o json   # the transport_socket of {cluster}: mTLS or plaintext",
            "strait analyze -f {dir}   # DestinationRule TLS modes against PeerAuthentication",
        ],
        fields: &[
            "DestinationRule.spec.trafficPolicy.tls.mode",
            "PeerAuthentication.spec.mtls.mode",
            "DestinationRule.spec.trafficPolicy.connectionPool.tcp.connectTimeout",
            "Service.spec.ports[].targetPort",
            "Pod spec.containers[].ports[].containerPort",
        ],
    },
    Flag {
        short: "UC",
        long: "UpstreamConnectionTermination",
        scope: Scope::Http,
        status: "503 `… reset reason: connection termination`",
        meaning: "The upstream connection was closed while the request was on it, before a response came back.",
        causes: &[
            "a keep-alive race: the app closed an idle pooled connection just as the proxy reused it (the app's \
             keep-alive timeout is shorter than the proxy's idle timeout, 1h by default)",
            "a TLS mode conflict: right after a DestinationRule changed tls, the client side sends what the \
             server side refuses",
            "the app crashed, or closes connections under load",
            "the port's protocol is wrong (HTTP/2 to an HTTP/1.1-only app)",
        ],
        checks: &[
            "strait proxy-config clusters {proxy} -o json   # idle_timeout and transport_socket of {cluster}",
            "strait analyze -f {dir}   # DestinationRule TLS modes against PeerAuthentication",
            "the app server's keep-alive (idle) timeout",
        ],
        fields: &[
            "DestinationRule.spec.trafficPolicy.connectionPool.http.idleTimeout",
            "DestinationRule.spec.trafficPolicy.tls.mode",
            "PeerAuthentication.spec.mtls.mode",
            "VirtualService.spec.http[].retries.retryOn (add `reset`)",
        ],
    },
    Flag {
        short: "UO",
        long: "UpstreamOverflow",
        scope: Scope::HttpAndTcp,
        status: "503 `… reset reason: overflow`",
        meaning: "A circuit breaker of the upstream cluster was full (connections, pending requests, requests \
                  or retries), so the proxy rejected the request without trying.",
        causes: &[
            "DestinationRule connectionPool limits are lower than the traffic (maxConnections, \
             http1MaxPendingRequests, http2MaxRequests, maxRetries)",
            "the upstream is slow, so requests pile up to the limit",
            "a retry storm used up maxRetries",
        ],
        checks: &[
            "strait proxy-config clusters {proxy} -o json   # circuit_breakers.thresholds of {cluster}",
            "the proxy's admin /stats: cluster.{cluster}.upstream_rq_pending_overflow and upstream_cx_overflow",
        ],
        fields: &[
            "DestinationRule.spec.trafficPolicy.connectionPool.tcp.maxConnections",
            "DestinationRule.spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests",
            "DestinationRule.spec.trafficPolicy.connectionPool.http.http2MaxRequests",
            "DestinationRule.spec.trafficPolicy.connectionPool.http.maxRetries",
        ],
    },
    Flag {
        short: "NR",
        long: "NoRouteFound",
        scope: Scope::HttpAndTcp,
        status: "404 (TCP: connection closed, details `filter_chain_not_found`)",
        meaning: "No route matched: for HTTP no virtual host or route matched the request's authority and path; \
                  for TCP no filter chain matched the connection.",
        causes: &[
            "no VirtualService or Service defines the host:port the client used (typo, wrong port, a short name \
             from another namespace)",
            "the VirtualService's routes all have match conditions and none matches this request",
            "the host is hidden from the client's namespace (exportTo, Sidecar egress hosts)",
            "the proxy did not have the config yet (sidecar start-up, a push during a VirtualService update)",
            "inbound `filter_chain_not_found`: a plaintext client to a STRICT mTLS workload, or a port the \
             workload's Service does not declare",
        ],
        checks: &[
            "strait proxy-config routes {proxy}   # a virtual host whose domains include {authority}",
            "strait proxy-config listeners {proxy}   # a listener for port {port}",
            "strait analyze -f {dir}   # IST0101 referenced host not found, IST0132 host not in gateway",
            STATUS,
        ],
        fields: &[
            "VirtualService.spec.hosts",
            "VirtualService.spec.http[].match",
            "VirtualService.spec.exportTo",
            "Sidecar.spec.egress[].hosts",
            "PeerAuthentication.spec.mtls.mode",
        ],
    },
    Flag {
        short: "URX",
        long: "UpstreamRetryLimitExceeded",
        scope: Scope::HttpAndTcp,
        status: "503 `… retried and the latest reset reason: …`",
        meaning: "The proxy retried and the last attempt failed too (Istio's default: 2 retries on \
                  connect-failure, refused-stream, unavailable, cancelled, retriable-status-codes); for TCP, the \
                  connect attempts were used up. The other flag on the line says what failed each time.",
        causes: &[
            "every attempt failed the same way (see the companion flag: UF, UC, UT…)",
            "all endpoints are down or unreachable, so retrying another host did not help",
        ],
        checks: &[
            "strait proxy-config routes {proxy} -o json   # retry_policy of the route to {cluster}",
            "strait proxy-config endpoints {proxy}   # are there several healthy endpoints to retry on?",
        ],
        fields: &[
            "VirtualService.spec.http[].retries.attempts",
            "VirtualService.spec.http[].retries.retryOn",
            "VirtualService.spec.http[].retries.perTryTimeout",
        ],
    },
    Flag {
        short: "DT",
        long: "DurationTimeout",
        scope: Scope::HttpAndTcp,
        status: "the connection or stream is closed",
        meaning: "The connection or stream reached its maximum duration (max_connection_duration / \
                  max_downstream_connection_duration) and was closed.",
        causes: &[
            "DestinationRule connectionPool.tcp.maxConnectionDuration is set",
            "a long-lived stream or TCP connection outlived the configured limit",
        ],
        checks: &[
            "strait proxy-config clusters {proxy} -o json   # max_connection_duration of {cluster}",
            "strait proxy-config listeners {proxy} -o json   # max_downstream_connection_duration",
        ],
        fields: &["DestinationRule.spec.trafficPolicy.connectionPool.tcp.maxConnectionDuration"],
    },
    Flag {
        short: "UPE",
        long: "UpstreamProtocolError",
        scope: Scope::Http,
        status: "502 `… reset reason: protocol error`",
        meaning: "The upstream's response was not valid HTTP for the protocol the proxy spoke to it.",
        causes: &[
            "the app speaks TLS on a port the mesh treats as plaintext HTTP (name it https or tls)",
            "the app speaks HTTP/1.1 on a port declared http2/grpc, or a non-HTTP protocol on an http port",
            "the app sent malformed headers or an invalid response",
        ],
        checks: &[
            "strait proxy-config clusters {proxy} -o json   # protocol options and transport_socket of {cluster}",
            "strait analyze -f {dir}   # IST0118: port names that do not declare the protocol",
        ],
        fields: &[
            "Service.spec.ports[].name",
            "Service.spec.ports[].appProtocol",
            "DestinationRule.spec.trafficPolicy.tls.mode",
        ],
    },
    Flag {
        short: "NC",
        long: "NoClusterFound",
        scope: Scope::HttpAndTcp,
        status: "503 (empty body, details `cluster_not_found`)",
        meaning: "The matched route names an upstream cluster the proxy does not have.",
        causes: &[
            "the VirtualService routes to a subset that no DestinationRule defines (cluster outbound|PORT|SUBSET|HOST)",
            "the DestinationRule exists but is not visible here (exportTo) or names another host",
            "the VirtualService reached the proxy before the DestinationRule (ordering during a config update)",
        ],
        checks: &[
            "strait proxy-config clusters {proxy}   # is the cluster the route names listed?",
            ROUTES_JSON,
            "strait analyze -f {dir}   # IST0101: referenced subset not found",
        ],
        fields: &[
            "VirtualService.spec.http[].route[].destination.subset",
            "DestinationRule.spec.subsets[].name",
            "DestinationRule.spec.host",
            "DestinationRule.spec.exportTo",
        ],
    },
    Flag {
        short: "DF",
        long: "DnsResolutionFailed",
        scope: Scope::Http,
        status: "503",
        meaning: "Resolving the upstream host's DNS name failed, so the request could not be sent.",
        causes: &[
            "the host does not resolve (typo, or the external DNS is down)",
            "a ServiceEntry with resolution DNS or DYNAMIC_DNS for a name the proxy cannot resolve",
        ],
        checks: &[
            "strait proxy-config clusters {proxy} -o json   # the DNS settings of the cluster for {host}",
            "resolve {host} from the pod (dig / nslookup)",
        ],
        fields: &[
            "ServiceEntry.spec.resolution",
            "ServiceEntry.spec.hosts",
            "meshConfig.outboundTrafficPolicy.mode: ALLOW_ANY_DYNAMIC_DNS",
        ],
    },
    Flag {
        short: "DO",
        long: "DropOverload",
        scope: Scope::Http,
        status: "503",
        meaning: "The request was dropped by the cluster's drop_overloads (load shedding sent with the endpoints).",
        causes: &[
            "the control plane sent drop_overloads in the endpoints of this cluster",
            "too few healthy endpoints relative to the overprovisioning factor",
        ],
        checks: &["strait proxy-config endpoints {proxy} -o json   # policy.drop_overloads of {cluster}"],
        fields: &["EDS ClusterLoadAssignment.policy.drop_overloads (Istio does not set it)"],
    },
    Flag {
        short: "UDO",
        long: "UnconditionalDropOverload",
        scope: Scope::Http,
        status: "503",
        meaning: "The request was dropped unconditionally: the cluster's drop_overloads is set to 100%.",
        causes: &["drop_overloads at 100% in the cluster's endpoints (the cluster was switched off on purpose)"],
        checks: &["strait proxy-config endpoints {proxy} -o json   # policy.drop_overloads of {cluster}"],
        fields: &["EDS ClusterLoadAssignment.policy.drop_overloads (Istio does not set it)"],
    },
];

//! Response flags about the request itself and the filters it passed: local health checks,
//! fault injection, rate limits, authorization, clients that went away, idle and duration
//! limits, protocol errors from the client, cache, ECDS and overload.

use super::{ANALYZE, Flag, LISTENERS_JSON, Scope};

/// The flags of this theme, in Envoy's order.
pub(super) static FLAGS: [Flag; 15] = [
    Flag {
        short: "LH",
        long: "FailedLocalHealthCheck",
        scope: Scope::Http,
        status: "503",
        meaning: "The local service failed its health check, so the proxy refused the request itself.",
        causes: &[
            "the app in this pod is failing the health check the proxy runs (or its readiness)",
            "the health-check filter points at the wrong path or port",
        ],
        checks: &[LISTENERS_JSON, "the app's readiness probe and logs in the pod that logged this line"],
        fields: &["Pod spec.containers[].readinessProbe"],
    },
    Flag {
        short: "DI",
        long: "DelayInjected",
        scope: Scope::Http,
        status: "the upstream's status, late",
        meaning: "A fault-injection delay was added to this request on purpose; the duration includes it.",
        causes: &["a VirtualService fault.delay rule matched this request (a test, or one left behind)"],
        checks: &["strait proxy-config routes {proxy} -o json   # envoy.filters.http.fault on the route to {cluster}"],
        fields: &[
            "VirtualService.spec.http[].fault.delay.fixedDelay",
            "VirtualService.spec.http[].fault.delay.percentage",
        ],
    },
    Flag {
        short: "FI",
        long: "FaultInjected",
        scope: Scope::Http,
        status: "the configured status, body `fault filter abort`",
        meaning: "A fault-injection abort answered this request with a configured status; no upstream was called.",
        causes: &["a VirtualService fault.abort rule matched this request (a test, or one left behind)"],
        checks: &["strait proxy-config routes {proxy} -o json   # envoy.filters.http.fault on the route to {cluster}"],
        fields: &[
            "VirtualService.spec.http[].fault.abort.httpStatus",
            "VirtualService.spec.http[].fault.abort.percentage",
            "VirtualService.spec.http[].match",
        ],
    },
    Flag {
        short: "RL",
        long: "RateLimited",
        scope: Scope::Http,
        status: "429 (`local_rate_limited`)",
        meaning: "A rate limit (local token bucket or the global rate-limit service) rejected the request.",
        causes: &[
            "a local rate limit's token bucket is empty (EnvoyFilter with envoy.filters.http.local_ratelimit)",
            "the global rate-limit service said the client is over its limit",
        ],
        checks: &[
            "strait proxy-config listeners {proxy} -o json   # local_ratelimit / ratelimit filters and their buckets",
            "the proxy's admin /stats: *.http_local_rate_limit.rate_limited",
        ],
        fields: &["EnvoyFilter (envoy.filters.http.local_ratelimit token_bucket)"],
    },
    Flag {
        short: "UAEX",
        long: "UnauthorizedExternalService",
        scope: Scope::Http,
        status: "403 (or what the ext-authz server answered)",
        meaning: "The external authorization service (ext_authz) denied the request.",
        causes: &[
            "an AuthorizationPolicy with action CUSTOM sent the request to its ext-authz provider, which said no",
            "the ext-authz service is unreachable and the filter fails closed",
        ],
        checks: &[
            "strait proxy-config listeners {proxy} -o json   # envoy.filters.http.ext_authz and its cluster",
            ANALYZE,
        ],
        fields: &[
            "AuthorizationPolicy.spec.action: CUSTOM",
            "AuthorizationPolicy.spec.provider.name",
            "meshConfig.extensionProviders[]",
        ],
    },
    Flag {
        short: "RLSE",
        long: "RateLimitServiceError",
        scope: Scope::Http,
        status: "500",
        meaning: "The rate-limit service could not be reached or answered an error, and the filter fails closed.",
        causes: &["the global rate-limit service is down or unreachable", "the filter has failure_mode_deny: true"],
        checks: &["strait proxy-config clusters {proxy}   # the rate-limit service's cluster and its endpoints"],
        fields: &["EnvoyFilter (envoy.filters.http.ratelimit failure_mode_deny)"],
    },
    Flag {
        short: "DC",
        long: "DownstreamConnectionTermination",
        scope: Scope::Http,
        status: "often 0 (no response was sent)",
        meaning: "The client closed its connection before the response was complete.",
        causes: &[
            "the client's own timeout is shorter than the time the upstream needs",
            "the client crashed, restarted, or the user cancelled",
            "an intermediate load balancer's idle timeout closed the connection",
        ],
        checks: &[
            "compare the line's duration with the client's timeout",
            "strait proxy-config routes {proxy} -o json   # the route timeout towards {cluster}",
        ],
        fields: &["VirtualService.spec.http[].timeout"],
    },
    Flag {
        short: "SI",
        long: "StreamIdleTimeout",
        scope: Scope::Http,
        status: "408 `stream timeout` (504 when the response had started)",
        meaning: "No bytes moved on the stream for the stream idle timeout, so the proxy ended it.",
        causes: &[
            "a long-poll, streaming or WebSocket request idle longer than the idle timeout",
            "the upstream stopped sending in the middle of a response",
        ],
        checks: &[
            "strait proxy-config listeners {proxy} -o json   # stream_idle_timeout of the HTTP connection manager",
            "strait proxy-config routes {proxy} -o json   # idle_timeout of the route",
        ],
        fields: &[
            "VirtualService.spec.http[].timeout",
            "DestinationRule.spec.trafficPolicy.connectionPool.http.idleTimeout",
        ],
    },
    Flag {
        short: "IH",
        long: "InvalidEnvoyRequestHeaders",
        scope: Scope::Http,
        status: "400",
        meaning: "A request header the proxy checks strictly (an `x-envoy-*` header such as x-envoy-max-retries) \
                  had an invalid value.",
        causes: &["the client or a proxy in front of it sent a malformed x-envoy-* header"],
        checks: &["the request's x-envoy-* headers as the client sends them (curl -v)"],
        fields: &["the client's request headers"],
    },
    Flag {
        short: "DPE",
        long: "DownstreamProtocolError",
        scope: Scope::Http,
        status: "400 `Bad Request` (or a reset)",
        meaning: "The client's bytes were not valid HTTP for this listener (details `http1.codec_error`, \
                  `http2.…`).",
        causes: &[
            "the client sent TLS to a port the mesh treats as plaintext HTTP",
            "the client speaks another protocol on a port whose name declares http",
            "malformed or oversized headers, or a request-smuggling attempt",
        ],
        checks: &[
            "strait proxy-config listeners {proxy}   # the listener for port {port} and the protocol it expects",
            "strait analyze -f {dir}   # IST0118: port names that do not declare the protocol",
        ],
        fields: &["Service.spec.ports[].name", "Service.spec.ports[].appProtocol"],
    },
    Flag {
        short: "UMSDR",
        long: "UpstreamMaxStreamDurationReached",
        scope: Scope::Http,
        status: "408 (or a reset when the response had started)",
        meaning: "The upstream stream reached its maximum duration (max_stream_duration) and was ended.",
        causes: &["a max_stream_duration shorter than this long request or stream (gRPC streams, downloads)"],
        checks: &[
            "strait proxy-config routes {proxy} -o json   # max_stream_duration of the route",
            "strait proxy-config clusters {proxy} -o json   # common_http_protocol_options.max_stream_duration",
        ],
        fields: &["EnvoyFilter setting max_stream_duration", "VirtualService.spec.http[].timeout"],
    },
    Flag {
        short: "RFCF",
        long: "ResponseFromCacheFilter",
        scope: Scope::Http,
        status: "the cached status",
        meaning: "The response was served by the HTTP cache filter, not by the upstream.",
        causes: &["an HTTP cache filter is configured (EnvoyFilter) and this response was cached"],
        checks: &["strait proxy-config listeners {proxy} -o json   # envoy.filters.http.cache"],
        fields: &["EnvoyFilter (envoy.filters.http.cache)"],
    },
    Flag {
        short: "NFCF",
        long: "NoFilterConfigFound",
        scope: Scope::Http,
        status: "500",
        meaning: "A filter whose config comes from the control plane (ECDS: a Wasm plugin or extension) had no \
                  config, so the request was rejected.",
        causes: &[
            "a WasmPlugin or extension config failed to fetch or was rejected",
            "the proxy started serving before the extension config arrived",
        ],
        checks: &[
            "strait proxy-status   # the ECDS column for {proxy}",
            "strait proxy-config listeners {proxy} -o json   # config_discovery of the filter",
        ],
        fields: &["WasmPlugin.spec.url", "WasmPlugin.spec.failStrategy"],
    },
    Flag {
        short: "OM",
        long: "OverloadManagerTerminated",
        scope: Scope::Http,
        status: "503 `envoy overloaded`",
        meaning: "The proxy's overload manager rejected the request (memory or connection limits reached).",
        causes: &[
            "the proxy is near its memory limit (a big config, many connections) for the resources it has",
            "the global downstream connection limit was reached",
        ],
        checks: &[
            "the proxy's admin /memory and /stats overload.*",
            "strait proxy-config clusters {proxy}   # thousands of clusters: scope the config with a Sidecar",
        ],
        fields: &["Sidecar.spec.egress[].hosts", "annotation sidecar.istio.io/proxyMemoryLimit"],
    },
    Flag {
        short: "DR",
        long: "DownstreamRemoteReset",
        scope: Scope::Http,
        status: "whatever had been sent (often 0)",
        meaning: "The client reset the stream (HTTP/2 or HTTP/3 RST_STREAM) before it completed.",
        causes: &[
            "the client cancelled the request (a gRPC deadline, a user cancel, a page navigation)",
            "the client's HTTP/2 stack hit a protocol error",
        ],
        checks: &["compare the line's duration with the client's deadline", "the client's own logs"],
        fields: &["VirtualService.spec.http[].timeout"],
    },
];

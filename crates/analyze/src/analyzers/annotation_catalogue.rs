//! Istio's annotation catalogue (istio/api `annotation/annotations.gen.go`,
//! `AllResourceAnnotations`): each annotation's name, feature status, deprecation and the
//! resource kinds it belongs on. Data for the annotation analyzers.

/// Feature maturity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Status {
    Alpha,
    Beta,
    Stable,
}

/// One annotation Istio defines.
#[derive(Debug)]
pub struct Annotation {
    /// `sidecar.istio.io/inject`, …
    pub name: &'static str,
    /// Feature status.
    pub status: Status,
    /// Deprecated.
    pub deprecated: bool,
    /// Kinds it may be set on (`Any` for every kind).
    pub resources: &'static [&'static str],
}

/// Every annotation, in istio/api's order.
pub const ALL: &[Annotation] = &[
    Annotation {
        name: "alpha.istio.io/canonical-serviceaccounts",
        status: Status::Alpha,
        deprecated: true,
        resources: &["Service"],
    },
    Annotation {
        name: "alpha.istio.io/kubernetes-serviceaccounts",
        status: Status::Alpha,
        deprecated: true,
        resources: &["Service"],
    },
    Annotation {
        name: "ambient.istio.io/bypass-inbound-capture",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Pod"],
    },
    Annotation { name: "ambient.istio.io/dns-capture", status: Status::Alpha, deprecated: false, resources: &["Pod"] },
    Annotation { name: "ambient.istio.io/redirection", status: Status::Beta, deprecated: false, resources: &["Pod"] },
    Annotation {
        name: "ambient.istio.io/waypoint-inbound-binding",
        status: Status::Alpha,
        deprecated: false,
        resources: &["GatewayClass", "Gateway"],
    },
    Annotation {
        name: "galley.istio.io/analyze-suppress",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Any"],
    },
    Annotation {
        name: "gateway.istio.io/controller-version",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Any"],
    },
    Annotation {
        name: "gateway.istio.io/name-override",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Gateway"],
    },
    Annotation {
        name: "gateway.istio.io/service-account",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Gateway"],
    },
    Annotation { name: "inject.istio.io/templates", status: Status::Alpha, deprecated: false, resources: &["Pod"] },
    Annotation {
        name: "istio.io/autoRegistrationGroup",
        status: Status::Alpha,
        deprecated: false,
        resources: &["WorkloadEntry"],
    },
    Annotation {
        name: "istio.io/connectedAt",
        status: Status::Alpha,
        deprecated: false,
        resources: &["WorkloadEntry"],
    },
    Annotation {
        name: "istio.io/disconnectedAt",
        status: Status::Alpha,
        deprecated: false,
        resources: &["WorkloadEntry"],
    },
    Annotation {
        name: "istio.io/dry-run",
        status: Status::Alpha,
        deprecated: false,
        resources: &["AuthorizationPolicy"],
    },
    Annotation {
        name: "istio.io/reroute-virtual-interfaces",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Pod"],
    },
    Annotation { name: "istio.io/rev", status: Status::Alpha, deprecated: false, resources: &["Pod"] },
    Annotation {
        name: "istio.io/use-waypoint-canary-weight",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Service", "ServiceEntry", "Namespace"],
    },
    Annotation {
        name: "istio.io/workloadController",
        status: Status::Alpha,
        deprecated: false,
        resources: &["WorkloadEntry"],
    },
    Annotation {
        name: "kubernetes.io/ingress.class",
        status: Status::Stable,
        deprecated: false,
        resources: &["Ingress"],
    },
    Annotation {
        name: "networking.istio.io/exportTo",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Service"],
    },
    Annotation {
        name: "networking.istio.io/service-type",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Gateway"],
    },
    Annotation {
        name: "networking.istio.io/traffic-distribution",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Namespace", "Service", "ServiceEntry"],
    },
    Annotation {
        name: "prometheus.istio.io/merge-metrics",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Pod"],
    },
    Annotation { name: "proxy.istio.io/config", status: Status::Beta, deprecated: false, resources: &["Pod"] },
    Annotation { name: "proxy.istio.io/overrides", status: Status::Alpha, deprecated: false, resources: &["Pod"] },
    Annotation {
        name: "readiness.status.sidecar.istio.io/applicationPorts",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Pod"],
    },
    Annotation {
        name: "readiness.status.sidecar.istio.io/failureThreshold",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Pod"],
    },
    Annotation {
        name: "readiness.status.sidecar.istio.io/initialDelaySeconds",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Pod"],
    },
    Annotation {
        name: "readiness.status.sidecar.istio.io/periodSeconds",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Pod"],
    },
    Annotation {
        name: "sidecar.istio.io/agentLogLevel",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Pod"],
    },
    Annotation {
        name: "sidecar.istio.io/bootstrapOverride",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Pod"],
    },
    Annotation {
        name: "sidecar.istio.io/componentLogLevel",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Pod"],
    },
    Annotation {
        name: "sidecar.istio.io/discoveryAddress",
        status: Status::Alpha,
        deprecated: true,
        resources: &["Pod"],
    },
    Annotation { name: "sidecar.istio.io/extraStatTags", status: Status::Alpha, deprecated: true, resources: &["Pod"] },
    Annotation { name: "sidecar.istio.io/inject", status: Status::Beta, deprecated: true, resources: &["Pod"] },
    Annotation {
        name: "sidecar.istio.io/interceptionMode",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Pod"],
    },
    Annotation { name: "sidecar.istio.io/logLevel", status: Status::Alpha, deprecated: false, resources: &["Pod"] },
    Annotation {
        name: "sidecar.istio.io/nativeSidecar",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Pod"],
    },
    Annotation { name: "sidecar.istio.io/proxyCPU", status: Status::Alpha, deprecated: false, resources: &["Pod"] },
    Annotation {
        name: "sidecar.istio.io/proxyCPULimit",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Pod"],
    },
    Annotation { name: "sidecar.istio.io/proxyImage", status: Status::Alpha, deprecated: false, resources: &["Pod"] },
    Annotation {
        name: "sidecar.istio.io/proxyImageType",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Pod"],
    },
    Annotation { name: "sidecar.istio.io/proxyMemory", status: Status::Alpha, deprecated: false, resources: &["Pod"] },
    Annotation {
        name: "sidecar.istio.io/proxyMemoryLimit",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Pod"],
    },
    Annotation {
        name: "sidecar.istio.io/rewriteAppHTTPProbers",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Pod"],
    },
    Annotation {
        name: "sidecar.istio.io/statsCompression",
        status: Status::Alpha,
        deprecated: true,
        resources: &["Pod"],
    },
    Annotation {
        name: "sidecar.istio.io/statsEvictionInterval",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Pod"],
    },
    Annotation {
        name: "sidecar.istio.io/statsFlushInterval",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Pod"],
    },
    Annotation {
        name: "sidecar.istio.io/statsHistogramBins",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Pod"],
    },
    Annotation {
        name: "sidecar.istio.io/statsHistogramBuckets",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Pod"],
    },
    Annotation {
        name: "sidecar.istio.io/statsInclusionPrefixes",
        status: Status::Alpha,
        deprecated: true,
        resources: &["Pod"],
    },
    Annotation {
        name: "sidecar.istio.io/statsInclusionRegexps",
        status: Status::Alpha,
        deprecated: true,
        resources: &["Pod"],
    },
    Annotation {
        name: "sidecar.istio.io/statsInclusionSuffixes",
        status: Status::Alpha,
        deprecated: true,
        resources: &["Pod"],
    },
    Annotation { name: "sidecar.istio.io/status", status: Status::Alpha, deprecated: false, resources: &["Pod"] },
    Annotation { name: "sidecar.istio.io/userVolume", status: Status::Alpha, deprecated: false, resources: &["Pod"] },
    Annotation {
        name: "sidecar.istio.io/userVolumeMount",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Pod"],
    },
    Annotation { name: "status.sidecar.istio.io/port", status: Status::Alpha, deprecated: false, resources: &["Pod"] },
    Annotation {
        name: "topology.istio.io/controlPlaneClusters",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Namespace"],
    },
    Annotation {
        name: "traffic.istio.io/nodeSelector",
        status: Status::Stable,
        deprecated: false,
        resources: &["Service"],
    },
    Annotation {
        name: "traffic.sidecar.istio.io/excludeInboundPorts",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Pod"],
    },
    Annotation {
        name: "traffic.sidecar.istio.io/excludeInterfaces",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Pod"],
    },
    Annotation {
        name: "traffic.sidecar.istio.io/excludeOutboundIPRanges",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Pod"],
    },
    Annotation {
        name: "traffic.sidecar.istio.io/excludeOutboundPorts",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Pod"],
    },
    Annotation {
        name: "traffic.sidecar.istio.io/includeInboundPorts",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Pod"],
    },
    Annotation {
        name: "traffic.sidecar.istio.io/includeOutboundIPRanges",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Pod"],
    },
    Annotation {
        name: "traffic.sidecar.istio.io/includeOutboundPorts",
        status: Status::Alpha,
        deprecated: false,
        resources: &["Pod"],
    },
    Annotation {
        name: "traffic.sidecar.istio.io/kubevirtInterfaces",
        status: Status::Alpha,
        deprecated: true,
        resources: &["Pod"],
    },
];

/// The annotation called `name`.
pub fn lookup(name: &str) -> Option<&'static Annotation> {
    ALL.iter().find(|a| a.name == name)
}

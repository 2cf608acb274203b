//! Istio's message types, all of them (including those of analyzers Strait does not run),
//! exactly as `analyzer-messages.yaml` (istio/istio `pkg/config/analysis/msg/messages.yaml`)
//! defines them.

use crate::message::{Level, MessageType};

pub const INTERNAL_ERROR: MessageType =
    MessageType::new("IST0001", "InternalError", Level::Error, "Internal error: %v");
pub const DEPRECATED: MessageType = MessageType::new("IST0002", "Deprecated", Level::Warning, "Deprecated: %s");
pub const REFERENCED_RESOURCE_NOT_FOUND: MessageType =
    MessageType::new("IST0101", "ReferencedResourceNotFound", Level::Error, "Referenced %s not found: %q");
pub const NAMESPACE_NOT_INJECTED: MessageType = MessageType::new(
    "IST0102",
    "NamespaceNotInjected",
    Level::Info,
    "The namespace is not enabled for Istio injection. Run 'kubectl label namespace %s istio-injection=enabled' to enable it, or 'kubectl label namespace %s istio-injection=disabled' to explicitly mark it as not needing injection.",
);
pub const POD_MISSING_PROXY: MessageType = MessageType::new(
    "IST0103",
    "PodMissingProxy",
    Level::Warning,
    "The pod %s is missing the Istio proxy. This can often be resolved by restarting or redeploying the workload.",
);
pub const SCHEMA_VALIDATION_ERROR: MessageType =
    MessageType::new("IST0106", "SchemaValidationError", Level::Error, "Schema validation error: %v");
pub const MISPLACED_ANNOTATION: MessageType = MessageType::new(
    "IST0107",
    "MisplacedAnnotation",
    Level::Warning,
    "Misplaced annotation: %s can only be applied to %s",
);
pub const UNKNOWN_ANNOTATION: MessageType =
    MessageType::new("IST0108", "UnknownAnnotation", Level::Warning, "Unknown annotation: %s");
pub const CONFLICTING_MESH_GATEWAY_VIRTUAL_SERVICE_HOSTS: MessageType = MessageType::new(
    "IST0109",
    "ConflictingMeshGatewayVirtualServiceHosts",
    Level::Error,
    "The VirtualServices %s associated with mesh gateway define the same host %s which can lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a single resource.",
);
pub const CONFLICTING_SIDECAR_WORKLOAD_SELECTORS: MessageType = MessageType::new(
    "IST0110",
    "ConflictingSidecarWorkloadSelectors",
    Level::Error,
    "The Sidecars %v in namespace %q select the same workload pod %q, which can lead to undefined behavior.",
);
pub const MULTIPLE_SIDECARS_WITHOUT_WORKLOAD_SELECTORS: MessageType = MessageType::new(
    "IST0111",
    "MultipleSidecarsWithoutWorkloadSelectors",
    Level::Error,
    "The Sidecars %v in namespace %q have no workload selector, which can lead to undefined behavior.",
);
pub const VIRTUAL_SERVICE_DESTINATION_PORT_SELECTOR_REQUIRED: MessageType = MessageType::new(
    "IST0112",
    "VirtualServiceDestinationPortSelectorRequired",
    Level::Error,
    "This VirtualService routes to a service %q that exposes multiple ports %v. Specifying a port in the destination is required to disambiguate.",
);
pub const DEPLOYMENT_ASSOCIATED_TO_MULTIPLE_SERVICES: MessageType = MessageType::new(
    "IST0116",
    "DeploymentAssociatedToMultipleServices",
    Level::Warning,
    "This deployment %s is associated with multiple services using port %d but different protocols: %v",
);
pub const PORT_NAME_IS_NOT_UNDER_NAMING_CONVENTION: MessageType = MessageType::new(
    "IST0118",
    "PortNameIsNotUnderNamingConvention",
    Level::Info,
    "Port name %s (port: %d, targetPort: %s) doesn't follow the naming convention of Istio port.",
);
pub const NAMESPACE_MULTIPLE_INJECTION_LABELS: MessageType = MessageType::new(
    "IST0123",
    "NamespaceMultipleInjectionLabels",
    Level::Warning,
    "The namespace has more than one type of injection labels %v, which may lead to undefined behavior. Make sure only one injection label exists.",
);
pub const INVALID_ANNOTATION: MessageType =
    MessageType::new("IST0125", "InvalidAnnotation", Level::Warning, "Invalid annotation %s: %s");
pub const UNKNOWN_MESH_NETWORKS_SERVICE_REGISTRY: MessageType = MessageType::new(
    "IST0126",
    "UnknownMeshNetworksServiceRegistry",
    Level::Error,
    "Unknown service registry %s in network %s",
);
pub const NO_MATCHING_WORKLOADS_FOUND: MessageType = MessageType::new(
    "IST0127",
    "NoMatchingWorkloadsFound",
    Level::Warning,
    "No matching workloads for this resource with the following labels: %s",
);
pub const NO_SERVER_CERTIFICATE_VERIFICATION_DESTINATION_LEVEL: MessageType = MessageType::new(
    "IST0128",
    "NoServerCertificateVerificationDestinationLevel",
    Level::Warning,
    "DestinationRule %s in namespace %s has TLS mode set to %s but no caCertificates are set to validate server identity for host: %s",
);
pub const NO_SERVER_CERTIFICATE_VERIFICATION_PORT_LEVEL: MessageType = MessageType::new(
    "IST0129",
    "NoServerCertificateVerificationPortLevel",
    Level::Warning,
    "DestinationRule %s in namespace %s has TLS mode set to %s but no caCertificates are set to validate server identity for host: %s at port %s",
);
pub const VIRTUAL_SERVICE_UNREACHABLE_RULE: MessageType = MessageType::new(
    "IST0130",
    "VirtualServiceUnreachableRule",
    Level::Warning,
    "VirtualService rule %v not used (%s).",
);
pub const VIRTUAL_SERVICE_INEFFECTIVE_MATCH: MessageType = MessageType::new(
    "IST0131",
    "VirtualServiceIneffectiveMatch",
    Level::Info,
    "VirtualService rule %v match %v is not used (duplicate/overlapping match in rule %v).",
);
pub const VIRTUAL_SERVICE_HOST_NOT_FOUND_IN_GATEWAY: MessageType = MessageType::new(
    "IST0132",
    "VirtualServiceHostNotFoundInGateway",
    Level::Warning,
    "one or more host %v defined in VirtualService %s not found in Gateway %s.",
);
pub const SCHEMA_WARNING: MessageType =
    MessageType::new("IST0133", "SchemaWarning", Level::Warning, "Schema validation warning: %v");
pub const SERVICE_ENTRY_ADDRESSES_REQUIRED: MessageType = MessageType::new(
    "IST0134",
    "ServiceEntryAddressesRequired",
    Level::Warning,
    "ServiceEntry addresses are required for this protocol.",
);
pub const DEPRECATED_ANNOTATION: MessageType = MessageType::new(
    "IST0135",
    "DeprecatedAnnotation",
    Level::Info,
    "Annotation %q has been deprecated%s and may not work in future Istio versions.",
);
pub const ALPHA_ANNOTATION: MessageType = MessageType::new(
    "IST0136",
    "AlphaAnnotation",
    Level::Info,
    "Annotation %q is part of an alpha-phase feature and may be incompletely supported.",
);
pub const DEPLOYMENT_CONFLICTING_PORTS: MessageType = MessageType::new(
    "IST0137",
    "DeploymentConflictingPorts",
    Level::Warning,
    "This deployment %s is associated with multiple services %v using targetPort %q but different ports: %v.",
);
pub const GATEWAY_DUPLICATE_CERTIFICATE: MessageType = MessageType::new(
    "IST0138",
    "GatewayDuplicateCertificate",
    Level::Warning,
    "Duplicate certificate in multiple gateways %v may cause 404s if clients re-use HTTP2 connections.",
);
pub const INVALID_WEBHOOK: MessageType = MessageType::new("IST0139", "InvalidWebhook", Level::Error, "%v");
pub const INGRESS_ROUTE_RULES_NOT_AFFECTED: MessageType = MessageType::new(
    "IST0140",
    "IngressRouteRulesNotAffected",
    Level::Warning,
    "Subset in virtual service %s has no effect on ingress gateway %s requests",
);
pub const INSUFFICIENT_PERMISSIONS: MessageType = MessageType::new(
    "IST0141",
    "InsufficientPermissions",
    Level::Error,
    "Missing required permission to create resource %v (%v)",
);
pub const UNSUPPORTED_KUBERNETES_VERSION: MessageType = MessageType::new(
    "IST0142",
    "UnsupportedKubernetesVersion",
    Level::Error,
    "The Kubernetes Version %q is lower than the minimum version: %v",
);
pub const LOCALHOST_LISTENER: MessageType = MessageType::new(
    "IST0143",
    "LocalhostListener",
    Level::Error,
    "Port %v is exposed in a Service but listens on localhost. It will not be exposed to other pods.",
);
pub const INVALID_APPLICATION_UID: MessageType = MessageType::new(
    "IST0144",
    "InvalidApplicationUID",
    Level::Warning,
    "User ID (UID) 1337 is reserved for the sidecar proxy.",
);
pub const CONFLICTING_GATEWAYS: MessageType = MessageType::new(
    "IST0145",
    "ConflictingGateways",
    Level::Error,
    "Conflict with gateways %s (workload selector %s, port %s, hosts %v).",
);
pub const IMAGE_AUTO_WITHOUT_INJECTION_WARNING: MessageType = MessageType::new(
    "IST0146",
    "ImageAutoWithoutInjectionWarning",
    Level::Warning,
    "%s %s contains `image: auto` but does not match any Istio injection webhook selectors.",
);
pub const IMAGE_AUTO_WITHOUT_INJECTION_ERROR: MessageType = MessageType::new(
    "IST0147",
    "ImageAutoWithoutInjectionError",
    Level::Error,
    "%s %s contains `image: auto` but does not match any Istio injection webhook selectors.",
);
pub const NAMESPACE_INJECTION_ENABLED_BY_DEFAULT: MessageType = MessageType::new(
    "IST0148",
    "NamespaceInjectionEnabledByDefault",
    Level::Info,
    "is enabled for Istio injection, as Istio is installed with enableNamespacesByDefault as true.",
);
pub const JWT_CLAIM_BASED_ROUTING_WITHOUT_REQUEST_AUTH_N: MessageType = MessageType::new(
    "IST0149",
    "JwtClaimBasedRoutingWithoutRequestAuthN",
    Level::Error,
    "The virtual service uses the JWT claim based routing (key: %s) but found no request authentication for the gateway (%s) pod (%s). The request authentication must first be applied for the gateway pods to validate the JWT token and make the claims available for routing.",
);
pub const EXTERNAL_NAME_SERVICE_TYPE_INVALID_PORT_NAME: MessageType = MessageType::new(
    "IST0150",
    "ExternalNameServiceTypeInvalidPortName",
    Level::Warning,
    "Port name for ExternalName service is invalid. Proxy may prevent tcp named ports and unmatched traffic for ports serving TCP protocol from being forwarded correctly",
);
pub const ENVOY_FILTER_USES_RELATIVE_OPERATION: MessageType = MessageType::new(
    "IST0151",
    "EnvoyFilterUsesRelativeOperation",
    Level::Warning,
    "This EnvoyFilter does not have a priority and has a relative patch operation set which can cause the EnvoyFilter not to be applied. Using the INSERT_FIRST of ADD option or setting the priority may help in ensuring the EnvoyFilter is applied correctly.",
);
pub const ENVOY_FILTER_USES_REPLACE_OPERATION_INCORRECTLY: MessageType = MessageType::new(
    "IST0152",
    "EnvoyFilterUsesReplaceOperationIncorrectly",
    Level::Error,
    "The REPLACE operation is only valid for HTTP_FILTER and NETWORK_FILTER.",
);
pub const ENVOY_FILTER_USES_ADD_OPERATION_INCORRECTLY: MessageType = MessageType::new(
    "IST0153",
    "EnvoyFilterUsesAddOperationIncorrectly",
    Level::Error,
    "The ADD operation will be ignored when applyTo is set to ROUTE_CONFIGURATION, or HTTP_ROUTE.",
);
pub const ENVOY_FILTER_USES_REMOVE_OPERATION_INCORRECTLY: MessageType = MessageType::new(
    "IST0154",
    "EnvoyFilterUsesRemoveOperationIncorrectly",
    Level::Error,
    "The REMOVE operation will be ignored when applyTo is set to ROUTE_CONFIGURATION, or HTTP_ROUTE.",
);
pub const ENVOY_FILTER_USES_RELATIVE_OPERATION_WITH_PROXY_VERSION: MessageType = MessageType::new(
    "IST0155",
    "EnvoyFilterUsesRelativeOperationWithProxyVersion",
    Level::Warning,
    "This EnvoyFilter does not have a priority and has a relative patch operation (NSTERT_BEFORE/AFTER, REPLACE, MERGE, DELETE) and proxyVersion set which can cause the EnvoyFilter not to be applied during an upgrade. Using the INSERT_FIRST or ADD option or setting the priority may help in ensuring the EnvoyFilter is applied correctly.",
);
pub const UNSUPPORTED_GATEWAY_API_VERSION: MessageType = MessageType::new(
    "IST0156",
    "UnsupportedGatewayAPIVersion",
    Level::Error,
    "The Gateway API CRD version %v is lower than the minimum version: %v",
);
pub const FUTURE_UNSUPPORTED_GATEWAY_API_VERSION: MessageType = MessageType::new(
    "IST0172",
    "FutureUnsupportedGatewayAPIVersion",
    Level::Warning,
    "The Gateway API CRD version %v is lower than the minimum version: %v",
);
pub const INVALID_TELEMETRY_PROVIDER: MessageType = MessageType::new(
    "IST0157",
    "InvalidTelemetryProvider",
    Level::Warning,
    "The Telemetry %v in namespace %q with empty providers will be ignored.",
);
pub const PODS_ISTIO_PROXY_IMAGE_MISMATCH_IN_NAMESPACE: MessageType = MessageType::new(
    "IST0158",
    "PodsIstioProxyImageMismatchInNamespace",
    Level::Warning,
    "The Istio proxy images of the pods running in the namespace do not match the image defined in the injection configuration (pod names: %v). This often happens after upgrading the Istio control-plane and can be fixed by redeploying the pods.",
);
pub const CONFLICTING_TELEMETRY_WORKLOAD_SELECTORS: MessageType = MessageType::new(
    "IST0159",
    "ConflictingTelemetryWorkloadSelectors",
    Level::Error,
    "The Telemetries %v in namespace %q select the same workload pod %q, which can lead to undefined behavior.",
);
pub const MULTIPLE_TELEMETRIES_WITHOUT_WORKLOAD_SELECTORS: MessageType = MessageType::new(
    "IST0160",
    "MultipleTelemetriesWithoutWorkloadSelectors",
    Level::Error,
    "The Telemetries %v in namespace %q have no workload selector, which can lead to undefined behavior.",
);
pub const INVALID_GATEWAY_CREDENTIAL: MessageType = MessageType::new(
    "IST0161",
    "InvalidGatewayCredential",
    Level::Error,
    "The credential referenced by the Gateway %s in namespace %s is invalid, which can cause the traffic not to work as expected.",
);
pub const GATEWAY_PORT_NOT_DEFINED_ON_SERVICE: MessageType = MessageType::new(
    "IST0162",
    "GatewayPortNotDefinedOnService",
    Level::Warning,
    "The gateway is listening on a target port (port %d) that is not defined in the Service associated with its workload instances (Pod selector %s). If you need to access the gateway port through the gateway Service, it will not be available.",
);
pub const INVALID_EXTERNAL_CONTROL_PLANE_CONFIG: MessageType = MessageType::new(
    "IST0163",
    "InvalidExternalControlPlaneConfig",
    Level::Warning,
    "The hostname (%s) that was provided for the webhook (%s) to reach the ingress gateway on the external control plane cluster %s. Traffic may not flow properly.",
);
pub const EXTERNAL_CONTROL_PLANE_ADDRESS_IS_NOT_A_HOSTNAME: MessageType = MessageType::new(
    "IST0164",
    "ExternalControlPlaneAddressIsNotAHostname",
    Level::Info,
    "The address (%s) that was provided for the webhook (%s) to reach the ingress gateway on the external control plane cluster is an IP address. This is not recommended for a production environment.",
);
pub const REFERENCED_INTERNAL_GATEWAY: MessageType = MessageType::new(
    "IST0165",
    "ReferencedInternalGateway",
    Level::Warning,
    "Gateway reference in VirtualService %s is to an implementation-generated internal Gateway: %s.",
);
pub const INEFFECTIVE_SELECTOR: MessageType = MessageType::new(
    "IST0166",
    "IneffectiveSelector",
    Level::Warning,
    "Ineffective selector on Kubernetes Gateway %s. Use the TargetRef field instead.",
);
pub const INEFFECTIVE_POLICY: MessageType =
    MessageType::new("IST0167", "IneffectivePolicy", Level::Warning, "The policy has no impact: %s.");
pub const UNKNOWN_UPGRADE_COMPATIBILITY: MessageType = MessageType::new(
    "IST0168",
    "UnknownUpgradeCompatibility",
    Level::Warning,
    "The configuration %q changed in release %s, but compatibility cannot be automatically detected: %s. Or, install with `--set compatibilityVersion=%s` to retain the old default.",
);
pub const UPDATE_INCOMPATIBILITY: MessageType = MessageType::new(
    "IST0169",
    "UpdateIncompatibility",
    Level::Warning,
    "The configuration %q changed in release %s: %s. Or, install with `--set compatibilityVersion=%s` to retain the old default.",
);
pub const MULTI_CLUSTER_INCONSISTENT_SERVICE: MessageType = MessageType::new(
    "IST0170",
    "MultiClusterInconsistentService",
    Level::Warning,
    "The service %v in namespace %q is inconsistent across clusters %q, which can lead to undefined behaviors. The inconsistent behaviors are: %v.",
);
pub const NEGATIVE_CONDITION_STATUS: MessageType = MessageType::new(
    "IST0171",
    "NegativeConditionStatus",
    Level::Warning,
    "A condition with a negative status is present: type=%s, reason=%s, message=%s.",
);
pub const DESTINATION_RULE_SUBSET_NOT_SELECT_PODS: MessageType = MessageType::new(
    "IST0173",
    "DestinationRuleSubsetNotSelectPods",
    Level::Error,
    "The Subset %s defined in the DestinationRule does not select any pods. Which may lead to 503 UH (NoHealthyUpstream).",
);
pub const UNKNOWN_DESTINATION_RULE_HOST: MessageType = MessageType::new(
    "IST0174",
    "UnknownDestinationRuleHost",
    Level::Warning,
    "The host %s defined in the DestinationRule does not match any services in the mesh.",
);
pub const JWKS_URI_FETCH_UNRESTRICTED: MessageType = MessageType::new(
    "IST0175",
    "JwksUriFetchUnrestricted",
    Level::Warning,
    "BLOCKED_CIDRS_IN_JWKS_URIS is not configured but %d RequestAuthentication resource(s) exist (%s). Consider configuring it to restrict JWKS URI fetches to trusted networks.",
);
pub const GATEWAY_API_CRD_VERSION_BELOW_MINIMUM: MessageType = MessageType::new(
    "IST0176",
    "GatewayAPICRDVersionBelowMinimum",
    Level::Warning,
    "Gateway API CRD %q is at version %q but Istio requires at least %q; resources of this kind will not be processed. Upgrade the Gateway API CRDs to satisfy the minimum version.",
);
pub const CONFLICTING_SERVICE_ENTRY_PROTOCOL: MessageType = MessageType::new(
    "IST0177",
    "ConflictingServiceEntryProtocol",
    Level::Warning,
    "Multiple ServiceEntries (%s) define the same host %q and port %d with conflicting protocols (%s).",
);

/// Every Istio message type, in the YAML file's order.
pub const ALL: &[&MessageType] = &[
    &INTERNAL_ERROR,
    &DEPRECATED,
    &REFERENCED_RESOURCE_NOT_FOUND,
    &NAMESPACE_NOT_INJECTED,
    &POD_MISSING_PROXY,
    &SCHEMA_VALIDATION_ERROR,
    &MISPLACED_ANNOTATION,
    &UNKNOWN_ANNOTATION,
    &CONFLICTING_MESH_GATEWAY_VIRTUAL_SERVICE_HOSTS,
    &CONFLICTING_SIDECAR_WORKLOAD_SELECTORS,
    &MULTIPLE_SIDECARS_WITHOUT_WORKLOAD_SELECTORS,
    &VIRTUAL_SERVICE_DESTINATION_PORT_SELECTOR_REQUIRED,
    &DEPLOYMENT_ASSOCIATED_TO_MULTIPLE_SERVICES,
    &PORT_NAME_IS_NOT_UNDER_NAMING_CONVENTION,
    &NAMESPACE_MULTIPLE_INJECTION_LABELS,
    &INVALID_ANNOTATION,
    &UNKNOWN_MESH_NETWORKS_SERVICE_REGISTRY,
    &NO_MATCHING_WORKLOADS_FOUND,
    &NO_SERVER_CERTIFICATE_VERIFICATION_DESTINATION_LEVEL,
    &NO_SERVER_CERTIFICATE_VERIFICATION_PORT_LEVEL,
    &VIRTUAL_SERVICE_UNREACHABLE_RULE,
    &VIRTUAL_SERVICE_INEFFECTIVE_MATCH,
    &VIRTUAL_SERVICE_HOST_NOT_FOUND_IN_GATEWAY,
    &SCHEMA_WARNING,
    &SERVICE_ENTRY_ADDRESSES_REQUIRED,
    &DEPRECATED_ANNOTATION,
    &ALPHA_ANNOTATION,
    &DEPLOYMENT_CONFLICTING_PORTS,
    &GATEWAY_DUPLICATE_CERTIFICATE,
    &INVALID_WEBHOOK,
    &INGRESS_ROUTE_RULES_NOT_AFFECTED,
    &INSUFFICIENT_PERMISSIONS,
    &UNSUPPORTED_KUBERNETES_VERSION,
    &LOCALHOST_LISTENER,
    &INVALID_APPLICATION_UID,
    &CONFLICTING_GATEWAYS,
    &IMAGE_AUTO_WITHOUT_INJECTION_WARNING,
    &IMAGE_AUTO_WITHOUT_INJECTION_ERROR,
    &NAMESPACE_INJECTION_ENABLED_BY_DEFAULT,
    &JWT_CLAIM_BASED_ROUTING_WITHOUT_REQUEST_AUTH_N,
    &EXTERNAL_NAME_SERVICE_TYPE_INVALID_PORT_NAME,
    &ENVOY_FILTER_USES_RELATIVE_OPERATION,
    &ENVOY_FILTER_USES_REPLACE_OPERATION_INCORRECTLY,
    &ENVOY_FILTER_USES_ADD_OPERATION_INCORRECTLY,
    &ENVOY_FILTER_USES_REMOVE_OPERATION_INCORRECTLY,
    &ENVOY_FILTER_USES_RELATIVE_OPERATION_WITH_PROXY_VERSION,
    &UNSUPPORTED_GATEWAY_API_VERSION,
    &FUTURE_UNSUPPORTED_GATEWAY_API_VERSION,
    &INVALID_TELEMETRY_PROVIDER,
    &PODS_ISTIO_PROXY_IMAGE_MISMATCH_IN_NAMESPACE,
    &CONFLICTING_TELEMETRY_WORKLOAD_SELECTORS,
    &MULTIPLE_TELEMETRIES_WITHOUT_WORKLOAD_SELECTORS,
    &INVALID_GATEWAY_CREDENTIAL,
    &GATEWAY_PORT_NOT_DEFINED_ON_SERVICE,
    &INVALID_EXTERNAL_CONTROL_PLANE_CONFIG,
    &EXTERNAL_CONTROL_PLANE_ADDRESS_IS_NOT_A_HOSTNAME,
    &REFERENCED_INTERNAL_GATEWAY,
    &INEFFECTIVE_SELECTOR,
    &INEFFECTIVE_POLICY,
    &UNKNOWN_UPGRADE_COMPATIBILITY,
    &UPDATE_INCOMPATIBILITY,
    &MULTI_CLUSTER_INCONSISTENT_SERVICE,
    &NEGATIVE_CONDITION_STATUS,
    &DESTINATION_RULE_SUBSET_NOT_SELECT_PODS,
    &UNKNOWN_DESTINATION_RULE_HOST,
    &JWKS_URI_FETCH_UNRESTRICTED,
    &GATEWAY_API_CRD_VERSION_BELOW_MINIMUM,
    &CONFLICTING_SERVICE_ENTRY_PROTOCOL,
];

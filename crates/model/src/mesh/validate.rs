//! Istio `ValidateMeshConfig` for the fields a mesh config sets: ports, durations, trust
//! domains, service settings, TLS settings, retry policies and trust roots, in Istio's wording.
//! A mesh config is an overlay on Istio's defaults, so an absent field is never an error.
//!
//! Extension providers get warnings only: Istio logs their problems ("can be ignored if the
//! given extension provider is not used") instead of rejecting the mesh config.

use super::{ExtensionProvider, LabelSelector, MeshConfig, TlsConfig};
use crate::networking::listener;
use crate::networking::server_tls;
use crate::networking::virtual_service::HttpRetry;
use crate::types::Duration;
use crate::validation::{Severity, Validate, Validator, rules};
use std::collections::BTreeSet;

/// Upper bound Istio puts on `connectTimeout`.
const CONNECT_TIMEOUT_MAX: std::time::Duration = std::time::Duration::from_secs(3600);

/// Istio `ValidateDuration`: at least 1ms, whole milliseconds.
pub(super) fn check_duration(d: Duration) -> Result<(), String> {
    let d = d.get();
    if d < std::time::Duration::from_millis(1) {
        return Err("duration must be greater than 1ms".into());
    }
    if !d.subsec_nanos().is_multiple_of(1_000_000) {
        return Err("only durations to ms precision are supported".into());
    }
    Ok(())
}

/// Records `check` failures as errors prefixed with Istio's context text.
pub(super) fn prefixed(v: &mut Validator<'_>, prefix: &str, check: Result<(), String>) {
    if let Err(e) = check {
        v.error(format!("{prefix}: {e}"));
    }
}

/// Runs `f` and records its errors as warnings: for checks Istio only logs, so a mesh config
/// it accepts is never rejected here.
pub(super) fn as_warnings(v: &mut Validator<'_>, f: impl FnOnce(&mut Validator<'_>)) {
    let mut inner = Validator::new(v.ctx, v.path().clone());
    f(&mut inner);
    v.extend(inner.into_issues().into_iter().map(|mut i| {
        i.severity = Severity::Warning;
        i
    }));
}

fn connect_timeout(v: &mut Validator<'_>, d: Duration) {
    let check = check_duration(d).and_then(|()| {
        if d.get() > CONNECT_TIMEOUT_MAX { Err(format!("time {d} must be >1ms and <1h0m0s")) } else { Ok(()) }
    });
    prefixed(v, "invalid connect timeout", check);
}

fn protocol_detection_timeout(v: &mut Validator<'_>, d: Duration) {
    // 0s turns the timeout off.
    if !d.get().is_zero() && !d.get().subsec_nanos().is_multiple_of(1_000_000) {
        v.error("invalid protocol detection timeout: only durations to ms precision are supported");
    }
}

/// Istio `ValidateTrustDomain`: DNS labels separated by dots (a trailing dot is allowed).
fn check_trust_domain(domain: &str) -> Result<(), String> {
    if domain.is_empty() {
        return Err("empty domain name not allowed".into());
    }
    let trimmed = domain.strip_suffix('.').unwrap_or(domain);
    if trimmed.split('.').all(rules::is_dns1123_label) {
        Ok(())
    } else {
        Err(format!("trust domain name {domain:?} invalid"))
    }
}

/// `meshMTLS` takes no ECDH curves; both TLS blocks get cipher and curve warnings.
fn tls_config(v: &mut Validator<'_>, tls: &TlsConfig, is_mesh_mtls: bool) {
    if is_mesh_mtls && !tls.ecdh_curves.is_empty() {
        v.error_at("ecdhCurves", "mesh TLS does not support ECDH curves configuration");
    } else {
        server_tls::ecdh_curves(v, &tls.ecdh_curves);
    }
    server_tls::cipher_suites(v, &tls.cipher_suites);
}

/// Istio `validateMeshConfigDefaultInboundHTTPRetryPolicy`: the HTTPRetry rules, plus what an
/// inbound route ignores.
fn inbound_retry(v: &mut Validator<'_>, retry: &HttpRetry) {
    retry.validate(v);
    if retry.attempts.unwrap_or(0) == 0 && retry.backoff.is_some() {
        v.error_at(
            "backoff",
            "invalid default inbound http retry policy: backoff configured when attempts are set to 0 (disabled)",
        );
    }
    let ignored = [
        ("perTryTimeout", retry.per_try_timeout.is_some()),
        ("retryRemoteLocalities", retry.retry_remote_localities.is_some()),
        ("retryIgnorePreviousHosts", retry.retry_ignore_previous_hosts.is_some()),
    ];
    for (field, set) in ignored {
        if set {
            v.field(field, |v| v.warn(format!("{field} is ignored by the default inbound http retry policy")));
        }
    }
}

fn export_to_defaults(v: &mut Validator<'_>, field: &str, list: &[String]) {
    v.each(field, list, |v, e| {
        if !matches!(e.as_str(), "." | "*" | "~") && !rules::is_k8s_dns1123_label(e) {
            v.warn(format!("only .(current namespace), *(all namespaces), ~(none) or a namespace name may be used in exportTo, got {e:?}"));
        }
    });
}

fn discovery_selector(v: &mut Validator<'_>, selector: &LabelSelector) {
    v.each("matchExpressions", &selector.match_expressions, |v, e| {
        let needs_values = matches!(e.operator.as_str(), "In" | "NotIn");
        if !needs_values && !matches!(e.operator.as_str(), "Exists" | "DoesNotExist") {
            v.field("operator", |v| {
                v.warn(format!("{:?} is not a valid label selector operator (In, NotIn, Exists, DoesNotExist); istiod ignores this selector", e.operator))
            });
        } else if needs_values == e.values.is_empty() {
            let what = if needs_values { "must have values" } else { "must not have values" };
            v.field("values", |v| v.warn(format!("operator {} {what}; istiod ignores this selector", e.operator)));
        }
    });
}

impl MeshConfig {
    fn validate_ports_and_durations(&self, v: &mut Validator<'_>) {
        let ports = [
            ("proxyListenPort", "invalid proxy listen port", self.proxy_listen_port),
            ("proxyInboundListenPort", "invalid proxy inbound listen port", self.proxy_inbound_listen_port),
            // 0 leaves the HTTP proxy port off.
            ("proxyHttpPort", "invalid proxy http port", self.proxy_http_port.filter(|p| *p != 0)),
        ];
        for (field, prefix, port) in ports {
            if let Some(port) = port {
                v.field(field, |v| prefixed(v, prefix, listener::check_port(i64::from(port))));
            }
        }
        v.opt("connectTimeout", &self.connect_timeout, |v, d| connect_timeout(v, *d));
        v.opt("protocolDetectionTimeout", &self.protocol_detection_timeout, |v, d| protocol_detection_timeout(v, *d));
        v.opt("dnsRefreshRate", &self.dns_refresh_rate, |v, d| {
            // Envoy requires a refresh rate above 1ms.
            if d.get() <= std::time::Duration::from_millis(1) {
                v.error(format!("invalid dns refresh rate: duration must be greater than 1ms, got {d}"));
            }
        });
    }

    fn validate_identity(&self, v: &mut Validator<'_>) {
        v.opt("trustDomain", &self.trust_domain, |v, td| prefixed(v, "trustDomain", check_trust_domain(td)));
        v.each("trustDomainAliases", &self.trust_domain_aliases, |v, td| {
            prefixed(v, &format!("trustDomainAliases, domain `{td}`"), check_trust_domain(td));
        });
        v.each("caCertificates", &self.ca_certificates, |v, c| {
            let set = usize::from(c.pem.is_some()) + usize::from(c.spiffe_bundle_url.is_some());
            if set > 1 {
                v.error("only one of pem or spiffeBundleUrl may be set");
            }
        });
        v.opt("meshMTLS", &self.mesh_mtls, |v, t| tls_config(v, t, true));
        v.opt("tlsDefaults", &self.tls_defaults, |v, t| tls_config(v, t, false));
        if !self.certificates.is_empty() {
            v.field("certificates", |v| {
                v.warn("certificates is deprecated; use cert-manager or an external CA for DNS certificates")
            });
        }
        if self.verify_certificate_at_client.is_some() {
            v.field("verifyCertificateAtClient", |v| v.warn("verifyCertificateAtClient is deprecated; server certificates are always verified when caCertificates are set"));
        }
    }

    fn validate_scoping(&self, v: &mut Validator<'_>) {
        v.each("serviceSettings", &self.service_settings, |v, s| {
            v.each("hosts", &s.hosts, |v, h| {
                if let Err(e) = rules::check_wildcard_domain_strict(h) {
                    v.error(e);
                }
            });
        });
        v.opt("rootNamespace", &self.root_namespace, |v, ns| {
            if !rules::is_k8s_dns1123_label(ns) {
                v.warn(format!("rootNamespace {ns:?} is not a valid namespace name"));
            }
        });
        export_to_defaults(v, "defaultServiceExportTo", &self.default_service_export_to);
        export_to_defaults(v, "defaultVirtualServiceExportTo", &self.default_virtual_service_export_to);
        export_to_defaults(v, "defaultDestinationRuleExportTo", &self.default_destination_rule_export_to);
        v.each("discoverySelectors", &self.discovery_selectors, discovery_selector);
    }
}

impl MeshConfig {
    /// Load balancing and the default traffic policy use DestinationRule's rules (Istio
    /// validates mesh-wide locality settings as if outlier detection were configured). Istio
    /// does not validate the TLS settings of remote services; they get advice only.
    fn validate_traffic(&self, v: &mut Validator<'_>) {
        v.opt("localityLbSetting", &self.locality_lb_setting, |v, l| l.validate(v));
        v.opt("zoneAwareLbSetting", &self.zone_aware_lb_setting, |v, z| z.validate(v));
        v.opt("defaultTrafficPolicy", &self.default_traffic_policy, |v, p| {
            v.opt("connectionPool", &p.connection_pool, |v, c| c.validate(v));
            v.opt("outlierDetection", &p.outlier_detection, |v, o| o.validate(v));
        });
        v.opt("outboundTrafficPolicy", &self.outbound_traffic_policy, |v, p| {
            v.opt("tls", &p.tls, |v, t| as_warnings(v, |v| t.validate(v)));
        });
        v.opt("ca", &self.ca, |v, ca| v.opt("tlsSettings", &ca.tls_settings, |v, t| as_warnings(v, |v| t.validate(v))));
        v.each("configSources", &self.config_sources, |v, s| {
            v.opt("tlsSettings", &s.tls_settings, |v, t| as_warnings(v, |v| t.validate(v)));
        });
    }
}

impl Validate for MeshConfig {
    /// Istio `ValidateMeshConfig` over the fields that are set.
    fn validate(&self, v: &mut Validator<'_>) {
        self.validate_ports_and_durations(v);
        for field in self.removed_fields() {
            v.field(field, |v| v.warn(format!("{field} was removed from Istio's MeshConfig and is ignored")));
        }
        v.opt("defaultConfig", &self.default_config, |v, pc| pc.validate(v));
        self.validate_identity(v);
        self.validate_scoping(v);
        self.validate_traffic(v);
        extension_providers(v, &self.extension_providers);
        // Istio does not validate the default retry policy; report its problems as advice.
        v.opt("defaultHttpRetryPolicy", &self.default_http_retry_policy, |v, r| as_warnings(v, |v| r.validate(v)));
        v.opt("defaultInboundHttpRetryPolicy", &self.default_inbound_http_retry_policy, inbound_retry);
    }
}

/// Names must be set and unique; each provider sets exactly one kind.
fn extension_providers(v: &mut Validator<'_>, providers: &[ExtensionProvider]) {
    let mut names = BTreeSet::new();
    v.each("extensionProviders", providers, |v, p| {
        as_warnings(v, |v| {
            if p.name.is_empty() {
                v.error_at("name", "invalid extension provider: empty extension provider name");
            } else if !names.insert(p.name.clone()) {
                v.error_at(
                    "name",
                    format!("invalid extension provider {}: duplicate extension provider name {}", p.name, p.name),
                );
            }
            super::provider_validate::provider(v, p);
        });
        super::provider_validate::one_of(v, p);
        if p.lightstep.is_some() || p.opencensus.is_some() {
            v.warn(format!(
                "extension provider {}: lightstep and opencensus are deprecated; use opentelemetry",
                p.name
            ));
        }
    });
}

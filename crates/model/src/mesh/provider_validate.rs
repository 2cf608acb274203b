//! Istio's extension-provider checks (`validateExtensionProvider` and the per-kind functions of
//! `extensionprovider.go`): a `[namespace/]host` service, a port, ext_authz's `statusOnError`
//! and `pathPrefix`, Lightstep's token, OpenTelemetry's transport. Istio only logs these
//! problems, so the caller records them as warnings; setting several provider kinds is a real
//! error (a protobuf one-of).

use super::{ExtAuthzHttp, ExtensionProvider, LogFormat};
use crate::networking::listener;
use crate::validation::{Validator, rules};

/// Envoy `type.v3.StatusCode` values, the only statuses ext_authz can return on error.
const ENVOY_STATUS_CODES: &[i64] = &[
    0, 100, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401, 402,
    403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 421, 422, 423, 424, 426, 428, 429, 431,
    500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
];

/// Records an error unless exactly one provider kind is set.
pub(super) fn one_of(v: &mut Validator<'_>, p: &ExtensionProvider) {
    let kinds = p.kinds();
    if kinds.len() > 1 {
        v.error(format!(
            "invalid extension provider {}: only one provider kind may be set, got {}",
            p.name,
            kinds.join(", ")
        ));
    }
}

/// Istio `validateExtensionProviderService`: a `[namespace/]host` or an IP.
fn service(v: &mut Validator<'_>, name: &str, service: &str) {
    let prefix = format!("invalid extension provider {name}");
    v.field("service", |v| {
        if service.is_empty() {
            v.error(format!("{prefix}: service must not be empty"));
        } else if service.contains('/') {
            let mut inner = Validator::new(v.ctx, v.path().clone());
            listener::namespace_host(&mut inner, service, false);
            for issue in inner.into_issues() {
                v.error(format!("{prefix}: {}", issue.message));
            }
        } else if rules::check_fqdn_strict(service).is_err()
            && let Err(e) = listener::check_ip_address(service)
        {
            v.error(format!("{prefix}: invalid service fmt {service}: {e}"));
        }
    });
}

fn port(v: &mut Validator<'_>, name: &str, port: u32, label: &str) {
    if let Err(e) = listener::check_port(i64::from(port)) {
        v.error_at("port", format!("invalid extension provider {name}: {label}{e}"));
    }
}

/// A service and port, the common shape of every remote provider.
fn endpoint(v: &mut Validator<'_>, name: &str, svc: &str, p: u32) {
    service(v, name, svc);
    port(v, name, p, "invalid service port: ");
}

fn status_on_error(v: &mut Validator<'_>, name: &str, status: Option<&str>) {
    let Some(status) = status.filter(|s| !s.is_empty()) else { return };
    let msg = match status.parse::<i64>() {
        Err(_) => format!("invalid statusOnError value {status}: not a number"),
        Ok(code) if !ENVOY_STATUS_CODES.contains(&code) => {
            format!("unsupported statusOnError value {status}: it must be an HTTP status code Envoy knows")
        }
        Ok(_) => return,
    };
    v.error_at("statusOnError", format!("invalid extension provider {name}: {msg}"));
}

fn ext_authz_http(v: &mut Validator<'_>, name: &str, http: &ExtAuthzHttp) {
    port(v, name, http.port, "");
    service(v, name, &http.service);
    status_on_error(v, name, http.status_on_error.as_deref());
    if let Some(prefix) = http.path_prefix.as_deref().filter(|p| !p.is_empty() && !p.starts_with('/')) {
        v.error_at(
            "pathPrefix",
            format!("invalid extension provider {name}: pathPrefix should begin with `/` but found {prefix:?}"),
        );
    }
    if !http.include_headers_in_check.is_empty() {
        v.field("includeHeadersInCheck", |v| {
            v.warn("includeHeadersInCheck is deprecated; use includeRequestHeadersInCheck")
        });
    }
}

fn log_format(v: &mut Validator<'_>, name: &str, format: &Option<LogFormat>) {
    if format.as_ref().is_some_and(|f| f.text.is_some() && f.labels.is_some()) {
        v.error_at("logFormat", format!("invalid extension provider {name}: only one of text or labels may be set"));
    }
}

/// The per-kind checks of one provider, at the provider's path.
pub(super) fn provider(v: &mut Validator<'_>, p: &ExtensionProvider) {
    let name = p.name.as_str();
    if p.kinds().is_empty() {
        v.error(format!("invalid extension provider {name}: unsupported provider: no provider kind is set"));
    }
    v.opt("envoyExtAuthzHttp", &p.envoy_ext_authz_http, |v, h| ext_authz_http(v, name, h));
    v.opt("envoyExtAuthzGrpc", &p.envoy_ext_authz_grpc, |v, g| {
        endpoint(v, name, &g.service, g.port);
        status_on_error(v, name, g.status_on_error.as_deref());
    });
    v.opt("zipkin", &p.zipkin, |v, z| endpoint(v, name, &z.service, z.port));
    v.opt("lightstep", &p.lightstep, |v, l| {
        endpoint(v, name, &l.service, l.port);
        if l.access_token.as_deref().is_none_or(str::is_empty) {
            v.error_at("accessToken", format!("invalid extension provider {name}: access token is required"));
        }
    });
    v.opt("datadog", &p.datadog, |v, d| endpoint(v, name, &d.service, d.port));
    v.opt("opencensus", &p.opencensus, |v, o| endpoint(v, name, &o.service, o.port));
    v.opt("skywalking", &p.skywalking, |v, s| endpoint(v, name, &s.service, s.port));
    v.opt("opentelemetry", &p.opentelemetry, |v, o| {
        port(v, name, o.port, "");
        service(v, name, &o.service);
        if o.grpc.is_some() && o.http.is_some() {
            v.error(format!(
                "invalid extension provider {name}: OpenTelemetryTracingProvider cannot specify both grpc and http"
            ));
        }
    });
    v.opt("envoyFileAccessLog", &p.envoy_file_access_log, |v, f| log_format(v, name, &f.log_format));
    v.opt("envoyHttpAls", &p.envoy_http_als, |v, a| {
        port(v, name, a.port, "");
        service(v, name, &a.service);
    });
    v.opt("envoyTcpAls", &p.envoy_tcp_als, |v, a| {
        port(v, name, a.port, "");
        service(v, name, &a.service);
    });
    v.opt("envoyOtelAls", &p.envoy_otel_als, |v, a| {
        port(v, name, a.port, "");
        service(v, name, &a.service);
        log_format(v, name, &a.log_format);
    });
}

//! What `%RESPONSE_CODE_DETAILS%`, the reset reason inside it and
//! `%UPSTREAM_TRANSPORT_FAILURE_REASON%` say, and the one [`Failure`] class the explainer
//! reasons with. Envoy writes details with spaces as `_`
//! (`upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_111}`),
//! so everything here is matched with `_` and spaces treated alike, case-insensitively.

use serde::Serialize;

/// The kind of failure a line shows, from its details and transport failure reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Failure {
    /// Connection refused (errno 111): nothing listens there.
    Refused,
    /// No route to host / host unreachable (errno 113, 101).
    Unreachable,
    /// The connect timed out (errno 110, `connection timeout`).
    ConnectTimeout,
    /// Too many open files (errno 24, 23).
    FdExhausted,
    /// TLS spoken to plaintext or the reverse (`WRONG_VERSION_NUMBER`, `http request`).
    TlsVersusPlaintext,
    /// The peer's certificate expired.
    CertExpired,
    /// The peer's certificate is not trusted, or its name/SAN does not match.
    CertUntrusted,
    /// Another TLS handshake failure (alerts, unknown CA, no client certificate).
    TlsHandshake,
    /// The upstream closed the connection (`connection_termination`).
    Termination,
    /// The connection was reset by the peer.
    PeerReset,
    /// A circuit breaker overflowed.
    Overflow,
    /// The peer broke the HTTP protocol.
    ProtocolError,
}

impl Failure {
    /// Plain words for the class.
    pub fn words(self) -> &'static str {
        match self {
            Failure::Refused => "the connection was refused: nothing listens on that address and port",
            Failure::Unreachable => "the address was unreachable (no route to host)",
            Failure::ConnectTimeout => "the connect attempt timed out",
            Failure::FdExhausted => "the proxy ran out of file descriptors (too many open files)",
            Failure::TlsVersusPlaintext => "one side spoke TLS and the other plaintext (WRONG_VERSION_NUMBER)",
            Failure::CertExpired => "a certificate in the TLS handshake had expired",
            Failure::CertUntrusted => "a certificate was not trusted or did not match the expected name",
            Failure::TlsHandshake => "the TLS handshake failed",
            Failure::Termination => "the upstream closed the connection",
            Failure::PeerReset => "the peer reset the connection",
            Failure::Overflow => "a circuit breaker was full",
            Failure::ProtocolError => "the peer broke the HTTP protocol",
        }
    }

    /// True for TLS-level failures.
    pub fn is_tls(self) -> bool {
        matches!(
            self,
            Failure::TlsVersusPlaintext | Failure::CertExpired | Failure::CertUntrusted | Failure::TlsHandshake
        )
    }
}

/// `delayed_connect_error:_111` → `delayed connect error: 111`, lowercased.
fn norm(s: &str) -> String {
    s.replace('_', " ").to_ascii_lowercase()
}

/// The failure class of a line, from its details and transport failure reason.
pub fn classify(details: Option<&str>, transport: Option<&str>) -> Option<Failure> {
    let text = format!("{} {}", norm(details.unwrap_or_default()), norm(transport.unwrap_or_default()));
    let errno = |n: &str| {
        text.match_indices(n).any(|(i, _)| {
            let before = text[..i].chars().next_back();
            let after = text[i + n.len()..].chars().next();
            matches!(before, Some(' ' | ':')) && !after.is_some_and(|c| c.is_ascii_digit())
        })
    };
    let has = |needle: &str| text.contains(needle);
    let class = if has("too many open files") || (has("connect error") && (errno("24") || errno("23"))) {
        Failure::FdExhausted
    } else if has("wrong version number") || has("http request") || has("packet length too long") {
        Failure::TlsVersusPlaintext
    } else if has("certificate expired") || has("certificate_expired") || has("cert expired") {
        Failure::CertExpired
    } else if has("certificate verify failed") || has("unknown ca") || has("bad certificate") {
        Failure::CertUntrusted
    } else if has("tls error") || has("ssl routines") || has("handshake") {
        Failure::TlsHandshake
    } else if has("connection refused") || (has("connect error") && errno("111")) {
        Failure::Refused
    } else if has("no route to host") || has("unreachable") || (has("connect error") && (errno("113") || errno("101")))
    {
        Failure::Unreachable
    } else if has("timed out") || has("connection timeout") || (has("connect error") && errno("110")) {
        Failure::ConnectTimeout
    } else if has("overflow") {
        Failure::Overflow
    } else if has("protocol error") {
        Failure::ProtocolError
    } else if has("connection termination") {
        Failure::Termination
    } else if has("connection reset") || has("remote reset") {
        Failure::PeerReset
    } else {
        return None;
    };
    Some(class)
}

/// Known `%RESPONSE_CODE_DETAILS%` values (prefix match) and what they mean.
const DETAILS: &[(&str, &str)] = &[
    ("via_upstream", "the upstream (the app) sent this status and the proxy passed it on"),
    ("route_not_found", "no route matched the request's host and path"),
    ("cluster_not_found", "the route names a cluster the proxy does not have"),
    ("no_healthy_upstream", "the cluster had no healthy endpoint"),
    ("upstream_reset_before_response_started", "the upstream connection failed or was reset before any response byte"),
    ("upstream_reset_after_response_started", "the upstream reset the stream after the response had started"),
    ("upstream_response_timeout", "the route timeout fired before the upstream answered"),
    ("upstream_per_try_timeout", "the per-try timeout of the retry policy fired"),
    ("upstream_per_try_idle_timeout", "the per-try idle timeout fired"),
    ("upstream_max_stream_duration_reached", "the stream reached its maximum duration"),
    ("response_payload_too_large", "the response body was larger than a buffering filter allows"),
    ("request_payload_too_large", "the request body was larger than a buffering filter allows"),
    ("fault_filter_abort", "the fault-injection filter aborted the request"),
    ("rbac_access_denied_matched_policy", "an AuthorizationPolicy denied the request"),
    ("rbac_access_denied", "an AuthorizationPolicy denied the request"),
    ("jwt_authn_access_denied", "the request's JWT was missing or invalid (RequestAuthentication)"),
    ("ext_authz_denied", "the external authorization service denied the request"),
    ("ext_authz_error", "the external authorization service failed"),
    ("local_rate_limited", "the local rate limit rejected the request"),
    ("request_rate_limited", "the rate-limit service rejected the request"),
    (
        "direct_response",
        "a route answered directly without an upstream (REGISTRY_ONLY `block_all`, or a VS directResponse)",
    ),
    ("upgrade_failed", "the request's Upgrade header names an upgrade the route does not allow"),
    ("low_version", "the client spoke HTTP/1.0, which the proxy refuses by default (426)"),
    ("http1.codec_error", "the client's HTTP/1 request could not be parsed"),
    ("http2.", "the client's HTTP/2 stream broke the protocol"),
    ("stream_idle_timeout", "no bytes moved on the stream for the idle timeout"),
    ("filter_chain_not_found", "no filter chain of the listener matched the connection"),
    ("downstream_remote_disconnect", "the client disconnected"),
    ("downstream_local_disconnect", "the proxy closed the client connection"),
    ("overload_manager", "the overload manager rejected the request"),
    ("duration_timeout", "the connection reached its maximum duration"),
    ("maintenance_mode", "the cluster is in maintenance mode"),
    ("missing_host_header", "the request had no Host/:authority"),
    ("admin_filter_response", "the proxy's admin answered"),
    ("internal_redirect", "the proxy followed an internal redirect"),
];

/// What a details value means (None when Envoy's list does not have it).
pub fn details_meaning(details: &str) -> Option<&'static str> {
    let d = details.to_ascii_lowercase();
    DETAILS.iter().find(|(k, _)| d.starts_with(k)).map(|(_, m)| *m)
}

/// The reset reason inside `upstream_reset_…{REASON,…}`, in plain words.
pub fn reset_reason(details: &str) -> Option<String> {
    let inner = details.split_once('{')?.1.trim_end_matches('}');
    let first = inner.split(',').next().unwrap_or_default();
    let words = match first {
        "connection_failure" | "remote_connection_failure" => "the connection to the upstream failed",
        "local_connection_failure" => {
            "the proxy could not open a connection (a local failure, e.g. no file descriptors)"
        }
        "connection_termination" => "the upstream connection was closed mid-request",
        "connection_timeout" => "connecting to the upstream timed out",
        "overflow" => "a circuit breaker was full",
        "remote_reset" => "the upstream reset the stream",
        "remote_refused_stream_reset" => "the upstream refused the stream",
        "local_reset" => "the proxy reset the stream",
        "local_refused_stream_reset" => "the proxy refused the stream",
        "protocol_error" => "the upstream broke the HTTP protocol",
        "overload_manager" => "the overload manager reset the stream",
        _ => return Some(inner.replace('_', " ")),
    };
    let rest: Vec<String> = inner.split(',').skip(1).map(|s| s.replace('_', " ")).collect();
    Some(if rest.is_empty() { words.to_string() } else { format!("{words} ({})", rest.join(", ")) })
}

/// The policy an RBAC denial names: `ns[foo]-policy[deny-all]-rule[0]` → (ns, name, rule).
pub fn rbac_policy(details: &str) -> Option<(String, String, Option<String>)> {
    let inner = details.strip_prefix("rbac_access_denied_matched_policy[")?.strip_suffix(']')?;
    let ns = inner.strip_prefix("ns[")?.split_once(']')?;
    let policy = ns.1.strip_prefix("-policy[")?.split_once(']')?;
    let rule = policy.1.strip_prefix("-rule[").and_then(|r| r.strip_suffix(']')).map(str::to_string);
    Some((ns.0.to_string(), policy.0.to_string(), rule))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_real_details() {
        let c = |d: &str, t: &str| classify(Some(d), Some(t));
        let refused = "upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_111}";
        assert_eq!(c(refused, "delayed_connect_error:_111"), Some(Failure::Refused));
        assert_eq!(c("-", "delayed_connect_error:_Connection_refused"), Some(Failure::Refused));
        let tls = "TLS_error:|268435703:SSL_routines:OPENSSL_internal:WRONG_VERSION_NUMBER:TLS_error_end";
        assert_eq!(
            c("upstream_reset_before_response_started{connection_failure}", tls),
            Some(Failure::TlsVersusPlaintext)
        );
        assert_eq!(c("x", "TLS_error:|SSLV3_ALERT_CERTIFICATE_EXPIRED"), Some(Failure::CertExpired));
        assert_eq!(c("upstream_reset_before_response_started{connection_termination}", ""), Some(Failure::Termination));
        assert_eq!(c("upstream_reset_before_response_started{overflow}", ""), Some(Failure::Overflow));
        assert_eq!(c("x", "delayed_connect_error:_24"), Some(Failure::FdExhausted));
        assert_eq!(c("x", "delayed_connect_error:_110"), Some(Failure::ConnectTimeout));
        assert_eq!(c("via_upstream", ""), None);
    }

    #[test]
    fn reads_reset_reasons_and_policies() {
        let d = "upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_111}";
        assert_eq!(
            reset_reason(d).as_deref(),
            Some("the connection to the upstream failed (delayed connect error: 111)")
        );
        assert_eq!(details_meaning("route_not_found"), Some("no route matched the request's host and path"));
        assert_eq!(
            rbac_policy("rbac_access_denied_matched_policy[ns[foo]-policy[deny-all]-rule[0]]"),
            Some(("foo".into(), "deny-all".into(), Some("0".into())))
        );
        assert_eq!(rbac_policy("rbac_access_denied_matched_policy[none]"), None);
    }
}

//! One classification of everything that ends a request (or TCP connection) without an
//! upstream response: each [`Failure`] knows Envoy's status, local-reply body, response flag,
//! response code details and transport failure reason, and whether a retry policy retries
//! it, so the access log, the client and the retry loop always agree. The texts are Envoy
//! 1.40's, checked against it in `strait_proxy_e2e.rs` (older Envoys wrote `connection
//! failure, transport failure reason: delayed connect error: 111` in the UF body).

use crate::config::policy::RetryOn;

/// Why the proxy answered itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No virtual host or route matched (404 `NR`).
    NoRoute,
    /// The route names a cluster we do not have (503 `NC`).
    ClusterNotFound,
    /// The cluster has no host to send to (503 `UH`).
    NoHealthyUpstream,
    /// The TCP connect failed (503 `UF`), with the OS error number.
    ConnectFailure(i32),
    /// The TCP connect timed out (503 `UF`).
    ConnectTimeout,
    /// The upstream reset or closed before the response headers (503 `UC`).
    UpstreamReset,
    /// The route timeout expired (504 `UT`).
    Timeout,
    /// The fault filter aborted the request with this status (`FI`).
    FaultAbort(u16),
    /// The fault filter aborted the request with this gRPC status (`FI`; HTTP 200, and the
    /// status in `grpc-status` for gRPC requests).
    FaultAbortGrpc(u32),
    /// An upgrade neither the route nor the connection manager allows (403, no flag,
    /// `upgrade_failed`; the connection closes).
    UpgradeFailed,
    /// A circuit breaker of the cluster refused the request (503 `UO`, reset reason `overflow`).
    Overflow,
    /// The last attempt's failure once the retry policy stopped: `retried` when at least one
    /// retry was made (Envoy's body then says "retried and the latest reset reason"), `flag` the
    /// retry outcome Envoy logs before the failure's own flag (`URX` when retries ran out, `UO`
    /// when the circuit breaker refused one).
    AfterRetries { last: Box<Failure>, retried: bool, flag: &'static str },
}

impl Failure {
    /// HTTP status of the local reply.
    pub fn status(&self) -> u16 {
        match self {
            Failure::NoRoute => 404,
            Failure::Timeout => 504,
            Failure::FaultAbort(s) => *s,
            Failure::FaultAbortGrpc(_) => 200,
            Failure::UpgradeFailed => 403,
            Failure::AfterRetries { last, .. } => last.status(),
            _ => 503,
        }
    }

    /// Envoy's response flag.
    pub fn flag(&self) -> &'static str {
        match self {
            Failure::NoRoute => "NR",
            Failure::ClusterNotFound => "NC",
            Failure::NoHealthyUpstream => "UH",
            Failure::ConnectFailure(_) | Failure::ConnectTimeout => "UF",
            Failure::UpstreamReset => "UC",
            Failure::Timeout => "UT",
            Failure::FaultAbort(_) | Failure::FaultAbortGrpc(_) => "FI",
            Failure::UpgradeFailed => "",
            Failure::Overflow => "UO",
            Failure::AfterRetries { last, flag, .. } => crate::upstream::retry::flags(flag, last.flag()),
        }
    }

    /// `%UPSTREAM_TRANSPORT_FAILURE_REASON%` (`delayed connect error: Connection refused`).
    pub fn transport_failure(&self) -> String {
        match self {
            Failure::ConnectFailure(errno) => format!("delayed connect error: {}", strerror(*errno)),
            Failure::AfterRetries { last, .. } => last.transport_failure(),
            _ => String::new(),
        }
    }

    fn reset_reason(&self) -> Option<&'static str> {
        match self {
            Failure::ConnectFailure(_) => Some("remote connection failure"),
            Failure::ConnectTimeout => Some("connection timeout"),
            Failure::UpstreamReset => Some("connection termination"),
            Failure::Overflow => Some("overflow"),
            Failure::AfterRetries { last, .. } => last.reset_reason(),
            _ => None,
        }
    }

    /// The local reply body, as Envoy writes it.
    pub fn body(&self) -> String {
        match self {
            Failure::NoRoute | Failure::ClusterNotFound | Failure::UpgradeFailed => String::new(),
            Failure::NoHealthyUpstream => "no healthy upstream".into(),
            Failure::Timeout => "upstream request timeout".into(),
            Failure::FaultAbort(_) | Failure::FaultAbortGrpc(_) => "fault filter abort".into(),
            Failure::AfterRetries { last, retried, .. } => match last.reset_reason() {
                Some(reason) if *retried => format!(
                    "upstream connect error or disconnect/reset before headers. retried and the latest reset reason: {reason}"
                ),
                _ => last.body(),
            },
            _ => format!(
                "upstream connect error or disconnect/reset before headers. reset reason: {}",
                self.reset_reason().unwrap_or_default()
            ),
        }
    }

    /// `%RESPONSE_CODE_DETAILS%`.
    pub fn details(&self) -> String {
        match self {
            Failure::NoRoute => "route_not_found".into(),
            Failure::ClusterNotFound => "cluster_not_found".into(),
            Failure::NoHealthyUpstream => "no_healthy_upstream".into(),
            Failure::Timeout => "response_timeout".into(),
            Failure::FaultAbort(_) | Failure::FaultAbortGrpc(_) => "fault_filter_abort".into(),
            Failure::UpgradeFailed => "upgrade_failed".into(),
            Failure::AfterRetries { last, .. } => last.details(),
            _ => {
                let reason = self.reset_reason().unwrap_or_default().replace(' ', "_");
                let transport = self.transport_failure().replace(' ', "_");
                if transport.is_empty() {
                    format!("upstream_reset_before_response_started{{{reason}}}")
                } else {
                    format!("upstream_reset_before_response_started{{{reason}|{transport}}}")
                }
            }
        }
    }

    /// The gRPC status a gRPC request gets, when it is not the HTTP status's mapping.
    pub fn grpc_status(&self) -> Option<u32> {
        match self {
            Failure::FaultAbortGrpc(code) => Some(*code),
            _ => None,
        }
    }

    /// Envoy closes the downstream connection after this reply (`connection: close`).
    pub fn closes_connection(&self) -> bool {
        matches!(self, Failure::UpgradeFailed)
    }

    /// True when a retry policy with these conditions retries this failure.
    pub fn retryable(&self, on: &RetryOn) -> bool {
        match self {
            Failure::ConnectFailure(_) | Failure::ConnectTimeout => {
                on.connect_failure || on.five_xx || on.gateway_error || on.reset
            }
            Failure::UpstreamReset => on.reset || on.five_xx || on.gateway_error,
            _ => false,
        }
    }
}

/// The OS's text for an error number (`Connection refused`), as Envoy prints it.
fn strerror(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    match text.rfind(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// True when a response with this status is retried under `on` (`codes`: the policy's
/// retriable status codes).
pub fn status_retryable(status: u16, on: &RetryOn, codes: &[u16]) -> bool {
    (on.five_xx && status >= 500)
        || (on.gateway_error && matches!(status, 502..=504))
        || (on.retriable_4xx && status == 409)
        || (on.retriable_status_codes && codes.contains(&status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_replies_match_envoy() {
        let table: &[(Failure, u16, &str, &str)] = &[
            (Failure::NoRoute, 404, "NR", ""),
            (Failure::NoHealthyUpstream, 503, "UH", "no healthy upstream"),
            (
                Failure::ConnectFailure(libc::ECONNREFUSED),
                503,
                "UF",
                "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure",
            ),
            (Failure::Timeout, 504, "UT", "upstream request timeout"),
            (Failure::FaultAbort(503), 503, "FI", "fault filter abort"),
            (Failure::FaultAbortGrpc(14), 200, "FI", "fault filter abort"),
            (Failure::UpgradeFailed, 403, "", ""),
        ];
        for (f, status, flag, body) in table {
            assert_eq!((f.status(), f.flag(), f.body().as_str()), (*status, *flag, *body), "{f:?}");
        }
        assert_eq!(
            Failure::ConnectFailure(libc::ECONNREFUSED).details(),
            "upstream_reset_before_response_started{remote_connection_failure|delayed_connect_error:_Connection_refused}"
        );
        assert_eq!(Failure::UpgradeFailed.details(), "upgrade_failed");
        assert_eq!((Failure::FaultAbortGrpc(14).grpc_status(), Failure::Timeout.grpc_status()), (Some(14), None));
        assert_eq!(
            Failure::ConnectFailure(libc::ECONNREFUSED).transport_failure(),
            "delayed connect error: Connection refused"
        );
    }

    #[test]
    fn retry_conditions_classify() {
        let connect = RetryOn { connect_failure: true, ..Default::default() };
        assert!(Failure::ConnectFailure(111).retryable(&connect));
        assert!(!Failure::Timeout.retryable(&connect));
        let five = RetryOn { five_xx: true, ..Default::default() };
        assert!(status_retryable(503, &five, &[]) && !status_retryable(404, &five, &[]));
        let codes = RetryOn { retriable_status_codes: true, ..Default::default() };
        assert!(status_retryable(503, &codes, &[503]) && !status_retryable(503, &codes, &[]));
    }
}

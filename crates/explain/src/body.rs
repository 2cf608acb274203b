//! Local-reply bodies, the text a client actually sees (`no healthy upstream`, `upstream connect
//! error or disconnect/reset before headers. reset reason: connection termination`, `fault
//! filter abort`, `RBAC: access denied`…), read back into the flags and details an access-log
//! line would carry, so `strait explain` can start from what the user has in hand.

use crate::log_line::{AccessLine, LineFormat};

const CONNECT_ERROR: &str = "upstream connect error or disconnect/reset before headers";

/// The reset reason text Envoy writes after `reset reason: ` → (flag, details reason).
const RESET_REASONS: &[(&str, &str, &str)] = &[
    ("remote connection failure", "UF", "remote_connection_failure"),
    ("local connection failure", "UF", "local_connection_failure"),
    ("connection failure", "UF", "connection_failure"),
    ("connection timeout", "UF", "connection_timeout"),
    ("connection termination", "UC", "connection_termination"),
    ("overflow", "UO", "overflow"),
    ("remote refused stream reset", "UR", "remote_refused_stream_reset"),
    ("remote reset", "UR", "remote_reset"),
    ("local refused stream reset", "LR", "local_refused_stream_reset"),
    ("local reset", "LR", "local_reset"),
    ("protocol error", "UPE", "protocol_error"),
    ("overload manager reset", "OM", "overload_manager"),
];

/// Fixed bodies → (status, flag, details).
const BODIES: &[(&str, u16, &str, &str)] = &[
    ("no healthy upstream", 503, "UH", "no_healthy_upstream"),
    ("upstream request timeout", 504, "UT", "upstream_response_timeout"),
    ("fault filter abort", 503, "FI", "fault_filter_abort"),
    ("rbac: access denied", 403, "", "rbac_access_denied_matched_policy[none]"),
    ("local_rate_limited", 429, "RL", "local_rate_limited"),
    ("envoy overloaded", 503, "OM", "overload_manager"),
    ("stream timeout", 408, "SI", "stream_idle_timeout"),
    ("upgrade required", 426, "", "low_version"),
];

/// Reads a local-reply body; None when the text is not one Envoy writes.
pub fn parse_body(text: &str) -> Option<AccessLine> {
    let t = text.trim().trim_matches('"');
    let lower = t.to_ascii_lowercase();
    let reply = |status: u16, flags: Vec<&str>, details: String, transport: Option<String>| AccessLine {
        format: Some(LineFormat::ReplyBody),
        status: Some(status),
        flags: flags.into_iter().filter(|f| !f.is_empty()).map(str::to_string).collect(),
        details: Some(details),
        transport_failure: transport,
        ..AccessLine::default()
    };
    if lower.starts_with(CONNECT_ERROR) {
        let retried = lower.contains("retried and the latest reset reason");
        let reason_at = lower.find("reset reason: ").map(|i| i + "reset reason: ".len())?;
        let (reason, transport) = match t[reason_at..].split_once(", transport failure reason: ") {
            Some((r, tr)) => (r.trim().to_ascii_lowercase(), Some(tr.trim().replace(' ', "_"))),
            None => (t[reason_at..].trim().to_ascii_lowercase(), None),
        };
        let (_, flag, detail) = RESET_REASONS.iter().find(|(text, _, _)| reason.starts_with(text))?;
        let mut flags = vec![*flag];
        if retried {
            flags.push("URX");
        }
        let details = format!("upstream_reset_before_response_started{{{detail}}}");
        let status = if *flag == "UPE" { 502 } else { 503 };
        return Some(reply(status, flags, details, transport));
    }
    if lower.starts_with("jwt") || lower.starts_with("jwks") {
        return Some(reply(401, vec![], format!("jwt_authn_access_denied{{{}}}", t.replace(' ', "_")), None));
    }
    let (_, status, flag, details) = BODIES.iter().find(|(body, ..)| lower == *body)?;
    Some(reply(*status, vec![*flag], (*details).to_string(), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_envoy_local_replies() {
        let b = parse_body(
            "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
        )
        .expect("a reply");
        assert_eq!((b.status, b.flags.clone()), (Some(503), vec!["UC".to_string()]));
        assert_eq!(b.details.as_deref(), Some("upstream_reset_before_response_started{connection_termination}"));
        let tls = "upstream connect error or disconnect/reset before headers. retried and the latest reset reason: \
                   remote connection failure, transport failure reason: TLS_error:|268435703:SSL routines:\
                   OPENSSL_internal:WRONG_VERSION_NUMBER:TLS_error_end";
        let b = parse_body(tls).expect("a reply");
        assert_eq!(b.flags, vec!["UF".to_string(), "URX".to_string()]);
        assert!(b.transport_failure.as_deref().is_some_and(|t| t.contains("WRONG_VERSION_NUMBER")));
        assert_eq!(parse_body("no healthy upstream").and_then(|b| b.status), Some(503));
        assert_eq!(parse_body("RBAC: access denied").and_then(|b| b.status), Some(403));
        assert!(parse_body("hello world").is_none());
    }
}

//! Parsing the sidecars' access logs: Istio's TEXT format (`EnvoyTextLogFormat`, 22 fields:
//! `[START] "METHOD PATH PROTO" CODE FLAGS DETAILS TERMINATION "TRANSPORT_FAILURE" RECEIVED
//! SENT DURATION UPSTREAM_TIME "XFF" "UA" "REQUEST_ID" "AUTHORITY" "UPSTREAM_HOST" CLUSTER
//! UPSTREAM_LOCAL DOWNSTREAM_LOCAL DOWNSTREAM_REMOTE SNI ROUTE`) and its JSON encoding
//! (`accessLogEncoding: JSON`). Other lines of a sidecar's log (its own diagnostics) are not
//! access-log lines and parse to `None`.

use serde_json::Value;

/// The fields the demo reads from one access-log line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    /// `%START_TIME%`.
    pub start: String,
    /// Method (`-` for TCP).
    pub method: String,
    /// Path.
    pub path: String,
    /// `%RESPONSE_CODE%` (0 when none was sent).
    pub code: u16,
    /// `%RESPONSE_FLAGS%` (`-` when none).
    pub flags: String,
    /// `%RESPONSE_CODE_DETAILS%`.
    pub details: String,
    /// `%DURATION%` in milliseconds.
    pub duration_ms: u64,
    /// `%REQ(X-REQUEST-ID)%`.
    pub request_id: String,
    /// `%REQ(:AUTHORITY)%`.
    pub authority: String,
    /// `%UPSTREAM_HOST%` (`-` when none).
    pub upstream_host: String,
    /// `%UPSTREAM_CLUSTER_RAW%`.
    pub cluster: String,
    /// `%DOWNSTREAM_LOCAL_ADDRESS%` (under capture, the original destination).
    pub downstream_local: String,
    /// `%ROUTE_NAME%`.
    pub route: String,
}

impl Entry {
    /// Inbound: the request arrived for this sidecar's own app.
    pub fn inbound(&self) -> bool {
        self.cluster.starts_with("inbound|") || self.cluster == "InboundPassthroughCluster"
    }

    /// A failed request: 5xx, or no response code and a response flag (a TCP connection,
    /// which has no code, fails only with a flag such as `UH` or `UF`).
    pub fn failed(&self) -> bool {
        self.code >= 500 || (self.code == 0 && self.flags != "-")
    }
}

/// Parses one line; `None` when it is not an access-log line.
pub fn parse(line: &str) -> Option<Entry> {
    let line = line.trim_end();
    if line.starts_with('{') { parse_json(line) } else { parse_text(line) }
}

fn parse_text(line: &str) -> Option<Entry> {
    let f = tokens(line)?;
    if f.len() != 22 || !f[0].starts_with('[') {
        return None;
    }
    let mut request = f[1].splitn(3, ' ');
    let (method, path) = (request.next()?.to_string(), request.next().unwrap_or("-").to_string());
    Some(Entry {
        start: f[0].trim_matches(['[', ']']).to_string(),
        method,
        path,
        code: f[2].parse().ok()?,
        flags: f[3].to_string(),
        details: f[4].to_string(),
        duration_ms: f[9].parse().ok()?,
        request_id: f[13].to_string(),
        authority: f[14].to_string(),
        upstream_host: f[15].to_string(),
        cluster: f[16].to_string(),
        downstream_local: f[18].to_string(),
        route: f[21].to_string(),
    })
}

/// Splits on spaces, keeping `[…]` and `"…"` fields whole (their delimiters removed for
/// quotes); `None` on an unterminated field.
fn tokens(line: &str) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    let mut rest = line;
    while !rest.is_empty() {
        rest = rest.trim_start_matches(' ');
        if rest.is_empty() {
            break;
        }
        let (token, next) = if let Some(body) = rest.strip_prefix('"') {
            // A quoted field ends at a quote followed by a space or the end of the line, so
            // a quote inside a user agent does not split it.
            let end = (0..body.len())
                .find(|&i| body[i..].starts_with('"') && (i + 1 == body.len() || body[i + 1..].starts_with(' ')))?;
            (&body[..end], &body[end + 1..])
        } else if rest.starts_with('[') {
            let end = rest.find(']')?;
            (&rest[..=end], &rest[end + 1..])
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        out.push(token);
        rest = next;
    }
    Some(out)
}

fn parse_json(line: &str) -> Option<Entry> {
    let v: Value = serde_json::from_str(line).ok()?;
    let s = |k: &str| match &v[k] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => "-".to_string(),
    };
    let code = v.get("response_code")?;
    Some(Entry {
        start: s("start_time"),
        method: s("method"),
        path: s("path"),
        code: code.as_u64().and_then(|c| u16::try_from(c).ok()).unwrap_or(0),
        flags: s("response_flags"),
        details: s("response_code_details"),
        duration_ms: v["duration"].as_u64().unwrap_or(0),
        request_id: s("request_id"),
        authority: s("authority"),
        upstream_host: s("upstream_host"),
        cluster: s("upstream_cluster"),
        downstream_local: s("downstream_local_address"),
        route: s("route_name"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"[2025-06-01T10:00:00.123Z] "GET /reviews/0 HTTP/1.1" 200 - via_upstream - "-" 0 295 4 3 "-" "Mozilla/5.0 (X11; "quoted") x" "3f1c-aa" "reviews:9080" "127.10.1.4:9080" outbound|9080|v2|reviews.default.svc.cluster.local 127.0.0.1:40000 127.10.1.1:15001 127.10.1.1:50000 - -"#;
    const FAULT: &str = r#"[2025-06-01T10:00:01.000Z] "GET /ratings/0 HTTP/1.1" 500 FI fault_filter_abort - "-" 0 18 0 - "-" "strait-demo" "9a" "ratings:9080" "-" outbound|9080||ratings.default.svc.cluster.local - 127.10.1.5:15001 127.10.1.5:41234 - default"#;
    const BLACKHOLE: &str = r#"[2025-06-01T10:00:02.000Z] "CONNECT - HTTP/1.1" 503 UH - - "-" 0 0 0 - "-" "-" "-" "127.10.0.1:8443" "-" BlackHoleCluster - 127.10.1.2:15001 127.10.1.2:40010 - -"#;
    const INBOUND: &str = r#"[2025-06-01T10:00:03.000Z] "GET /productpage HTTP/1.1" 200 - via_upstream - "-" 0 900 12 11 "-" "strait-demo" "77" "127.10.1.1:9080" "127.11.1.1:9080" inbound|9080|| 127.0.0.1:5000 127.10.1.1:9080 127.0.0.1:4000 - default"#;

    #[test]
    fn text_lines() {
        let e = parse(OK).expect("parses");
        assert_eq!((e.method.as_str(), e.path.as_str(), e.code, e.flags.as_str()), ("GET", "/reviews/0", 200, "-"));
        assert_eq!((e.duration_ms, e.request_id.as_str(), e.authority.as_str()), (4, "3f1c-aa", "reviews:9080"));
        assert_eq!(e.upstream_host, "127.10.1.4:9080");
        assert_eq!(e.cluster, "outbound|9080|v2|reviews.default.svc.cluster.local");
        assert!(!e.inbound() && !e.failed());

        let e = parse(FAULT).expect("parses");
        assert_eq!(
            (e.code, e.flags.as_str(), e.details.as_str(), e.upstream_host.as_str()),
            (500, "FI", "fault_filter_abort", "-")
        );
        assert!(e.failed());

        let e = parse(BLACKHOLE).expect("parses");
        assert_eq!(
            (e.method.as_str(), e.code, e.flags.as_str(), e.cluster.as_str()),
            ("CONNECT", 503, "UH", "BlackHoleCluster")
        );
        assert_eq!(e.authority, "127.10.0.1:8443");

        let e = parse(INBOUND).expect("parses");
        assert!(e.inbound());
        assert_eq!(e.route, "default");
    }

    #[test]
    fn tcp_lines_fail_only_with_a_flag() {
        let ok = r#"[2025-06-01T10:00:04.000Z] "- - -" 0 - - - "-" 127 310 4 - "-" "-" "-" "-" "198.19.255.1:8443" PassthroughCluster 198.18.1.1:54016 198.19.255.1:8443 198.18.1.1:54012 - -"#;
        let e = parse(ok).expect("parses");
        assert_eq!((e.method.as_str(), e.code, e.cluster.as_str()), ("-", 0, "PassthroughCluster"));
        assert_eq!(e.downstream_local, "198.19.255.1:8443");
        assert!(!e.failed());
        let refused = ok.replace(" 0 - - - ", " 0 UH - - ").replace("PassthroughCluster", "BlackHoleCluster");
        assert!(parse(&refused).expect("parses").failed());
    }

    #[test]
    fn other_lines_are_not_entries() {
        for line in [
            "",
            "2025-06-01T10:00:00Z  INFO strait_proxy: initial config applied: ready",
            "[2025-06-01 10:00:00.000][12][warning][config] something",
            r#"[x] "GET / HTTP/1.1" abc"#,
        ] {
            assert_eq!(parse(line), None, "{line}");
        }
    }

    #[test]
    fn json_lines() {
        let line = r#"{"authority":"reviews:9080","duration":7,"method":"GET","path":"/reviews/0","response_code":503,"response_flags":"UO","response_code_details":"upstream_reset_before_response_started{overflow}","upstream_cluster":"outbound|9080||reviews.default.svc.cluster.local","upstream_host":null,"request_id":"r1","route_name":"default","start_time":"2025-06-01T10:00:00.000Z"}"#;
        let e = parse(line).expect("parses");
        assert_eq!((e.code, e.flags.as_str(), e.duration_ms, e.upstream_host.as_str()), (503, "UO", 7, "-"));
    }
}

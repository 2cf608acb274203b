//! Envoy's substitution formatter for header values (`%UPSTREAM_CLUSTER%`, `%REQ(:AUTHORITY)%`,
//! …), compiled once from config into a [`Template`] and rendered per request from the request's
//! completion record, so a header says exactly what the access log line says. In header values a
//! missing value renders as the empty string (Envoy's access log writes `-`; its header formatter
//! does not, checked against Envoy 1.40). An operator this proxy does not know is a NACK naming
//! it, never literal `%…%` text sent to clients.

use crate::access_log::Record;
use http::HeaderMap;
use std::fmt::Write;

/// A compiled format string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Part>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    /// `%REQ(A?B)%`: request header A, else B (pseudo-headers `:authority`, `:method`, `:path`).
    Req(Vec<String>),
    UpstreamCluster,
    UpstreamHost,
    TransportFailure,
    RouteName,
    Details,
    ResponseCode,
    ResponseFlags,
    Protocol,
    DownstreamRemote,
    DownstreamLocal,
}

/// What a template reads: the request's completion record and, while it is at hand, the
/// request's headers.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The completion record as filled so far.
    pub record: &'a Record,
    /// The request headers, when still available.
    pub request: Option<&'a HeaderMap>,
}

impl Template {
    /// Compiles `text`; the error names the operator that is not supported.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find('%') {
            let after = &rest[start + 1..];
            // `%%` is a literal percent sign.
            if let Some(stripped) = after.strip_prefix('%') {
                push_text(&mut parts, &rest[..=start]);
                rest = stripped;
                continue;
            }
            let end = after.find('%').ok_or_else(|| format!("unterminated operator in {text:?}"))?;
            push_text(&mut parts, &rest[..start]);
            parts.push(operator(&after[..end])?);
            rest = &after[end + 1..];
        }
        push_text(&mut parts, rest);
        Ok(Template(parts))
    }

    /// True when the template has no operator (a plain value).
    pub fn is_literal(&self) -> bool {
        self.0.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// Renders the template.
    pub fn render(&self, cx: Context<'_>) -> String {
        let mut out = String::new();
        let r = cx.record;
        for p in &self.0 {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Req(names) => out.push_str(&request_header(cx, names)),
                Part::UpstreamCluster => out.push_str(r.upstream_cluster.as_deref().unwrap_or_default()),
                Part::UpstreamHost => {
                    if let Some(h) = r.upstream_host {
                        let _ = write!(out, "{h}");
                    }
                }
                // Envoy writes the reason with `_` for spaces, in headers as in the access log.
                Part::TransportFailure => out.push_str(&r.transport_failure.replace(' ', "_")),
                Part::RouteName => out.push_str(r.route_name.as_deref().unwrap_or_default()),
                Part::Details => out.push_str(&r.details),
                Part::ResponseCode => {
                    let _ = write!(out, "{}", r.status);
                }
                Part::ResponseFlags => out.push_str(r.flags),
                Part::Protocol => out.push_str(r.protocol.unwrap_or_default()),
                Part::DownstreamRemote => {
                    let _ = write!(out, "{}", r.downstream_remote);
                }
                Part::DownstreamLocal => {
                    let _ = write!(out, "{}", r.downstream_local);
                }
            }
        }
        out
    }
}

fn push_text(parts: &mut Vec<Part>, t: &str) {
    if t.is_empty() {
        return;
    }
    if let Some(Part::Text(prev)) = parts.last_mut() {
        prev.push_str(t);
    } else {
        parts.push(Part::Text(t.to_string()));
    }
}

fn operator(op: &str) -> Result<Part, String> {
    if let Some(args) = op.strip_prefix("REQ(").and_then(|a| a.strip_suffix(')')) {
        // `%REQ(X):N%` (truncation) would arrive here with a suffix; refuse it explicitly.
        let names: Vec<String> = args.split('?').map(|n| n.trim().to_ascii_lowercase()).collect();
        if names.iter().any(String::is_empty) || names.len() > 2 {
            return Err(format!("%REQ({args})% is not a header name or A?B pair"));
        }
        return Ok(Part::Req(names));
    }
    Ok(match op {
        "UPSTREAM_CLUSTER" | "UPSTREAM_CLUSTER_RAW" => Part::UpstreamCluster,
        "UPSTREAM_HOST" | "UPSTREAM_REMOTE_ADDRESS" => Part::UpstreamHost,
        "UPSTREAM_TRANSPORT_FAILURE_REASON" => Part::TransportFailure,
        "ROUTE_NAME" => Part::RouteName,
        "RESPONSE_CODE_DETAILS" => Part::Details,
        "RESPONSE_CODE" => Part::ResponseCode,
        "RESPONSE_FLAGS" => Part::ResponseFlags,
        "PROTOCOL" => Part::Protocol,
        "DOWNSTREAM_REMOTE_ADDRESS" => Part::DownstreamRemote,
        "DOWNSTREAM_LOCAL_ADDRESS" => Part::DownstreamLocal,
        other => return Err(format!("the header formatter operator %{other}% is not supported by the Strait proxy")),
    })
}

/// The first present of `names`, from the headers when at hand, else from what the record kept.
fn request_header(cx: Context<'_>, names: &[String]) -> String {
    names.iter().find_map(|n| one_header(cx, n)).unwrap_or_default()
}

fn one_header(cx: Context<'_>, name: &str) -> Option<String> {
    let r = cx.record;
    let kept = match name {
        ":authority" | "host" => r.authority.clone(),
        ":method" => r.method.clone(),
        ":path" => r.path.clone(),
        "user-agent" => r.user_agent.clone(),
        "x-request-id" => r.request_id.clone(),
        "x-forwarded-for" => r.x_forwarded_for.clone(),
        _ => None,
    };
    kept.or_else(|| {
        let v = cx.request?.get(name)?;
        Some(String::from_utf8_lossy(v.as_bytes()).into_owned())
    })
}

/// A record for tests of code that renders templates.
#[cfg(test)]
pub(crate) mod tests_support {
    use crate::access_log::Record;

    /// A UH reply to `reviews:9080`.
    pub fn record() -> Record {
        Record {
            start: std::time::SystemTime::UNIX_EPOCH,
            method: Some("GET".into()),
            path: Some("/".into()),
            protocol: Some("HTTP/1.1"),
            status: 503,
            flags: "UH",
            details: "no_healthy_upstream".into(),
            transport_failure: String::new(),
            bytes_received: 0,
            bytes_sent: 0,
            duration_ms: 0,
            upstream_service_time: None,
            x_forwarded_for: None,
            user_agent: None,
            request_id: None,
            authority: Some("reviews:9080".into()),
            upstream_host: None,
            upstream_cluster: Some("outbound|9080|v1|reviews.default.svc.cluster.local".into()),
            upstream_local: None,
            downstream_local: "127.0.0.102:15001".parse().expect("addr"),
            downstream_remote: "127.0.0.1:5000".parse().expect("addr"),
            route_name: None,
            meta: crate::access_log::Meta::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::record;
    use super::*;

    #[test]
    fn renders_like_envoy_header_values() {
        let r = record();
        let mut headers = HeaderMap::new();
        headers.insert("end-user", "jason".parse().unwrap());
        let cx = Context { record: &r, request: Some(&headers) };
        let cases = [
            ("plain", "plain"),
            ("%UPSTREAM_CLUSTER% x", "outbound|9080|v1|reviews.default.svc.cluster.local x"),
            ("host \"%REQ(:AUTHORITY)%\"", "host \"reviews:9080\""),
            ("[%UPSTREAM_HOST%] [%ROUTE_NAME%]", "[] []"),
            ("%REQ(END-USER)%/%REQ(x-missing?end-user)%", "jason/jason"),
            ("%RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%", "UH no_healthy_upstream"),
            ("100%% sure", "100% sure"),
        ];
        for (text, want) in cases {
            let t = Template::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(t.render(cx), want, "{text}");
        }
        assert!(Template::parse("plain").unwrap().is_literal());
    }

    #[test]
    fn unknown_operators_are_refused_by_name() {
        let cases =
            [("%START_TIME%", "%START_TIME%"), ("%UPSTREAM_CLUSTER", "unterminated"), ("%REQ()%", "not a header name")];
        for (text, want) in cases {
            let e = Template::parse(text).expect_err(text);
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}

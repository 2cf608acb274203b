//! Parsing one access-log line into its fields: Istio's default TEXT format (1.9 and later,
//! what both Strait data planes write), its 1.6–1.8 predecessor (a quoted mixer status where
//! the details are now), Envoy's own default format, and Istio's JSON encoding. Lines copied
//! out of JSON log pipelines (`\"GET / HTTP/1.1\"`) and a missing `[` before the start time are
//! tolerated; anything that is not an access-log line is a [`ParseError`] that says what was
//! expected. `-` and JSON `null` become `None`.

use serde::Serialize;
use serde_json::Value;
use std::fmt;

/// Which layout a line had.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum LineFormat {
    /// Istio's default TEXT format (`EnvoyTextLogFormat`, Istio 1.9+).
    #[serde(rename = "istio-text")]
    IstioText,
    /// Istio 1.6–1.8's TEXT format (quoted mixer status instead of the details).
    #[serde(rename = "istio-text-1.8")]
    IstioTextLegacy,
    /// Envoy's built-in default format (no cluster, no details).
    #[serde(rename = "envoy-default")]
    EnvoyDefault,
    /// Istio's JSON encoding (`accessLogEncoding: JSON`).
    #[serde(rename = "istio-json")]
    IstioJson,
    /// Not a log line: a local-reply body the client received.
    #[serde(rename = "reply-body")]
    ReplyBody,
}

/// The fields of one access-log line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AccessLine {
    /// The layout it was read with.
    pub format: Option<LineFormat>,
    /// `%START_TIME%`.
    pub start_time: Option<String>,
    /// `:method` (None for TCP).
    pub method: Option<String>,
    /// Original path.
    pub path: Option<String>,
    /// `HTTP/1.1`, `HTTP/2` (None for TCP).
    pub protocol: Option<String>,
    /// Response status (0: none was sent; TCP logs 0).
    pub status: Option<u16>,
    /// Response flags, as written (`UF`, `URX`).
    pub flags: Vec<String>,
    /// `%RESPONSE_CODE_DETAILS%`.
    pub details: Option<String>,
    /// `%CONNECTION_TERMINATION_DETAILS%`.
    pub termination_details: Option<String>,
    /// `%UPSTREAM_TRANSPORT_FAILURE_REASON%`.
    pub transport_failure: Option<String>,
    /// Bytes received from the client.
    pub bytes_received: Option<u64>,
    /// Bytes sent to the client.
    pub bytes_sent: Option<u64>,
    /// Total duration in milliseconds.
    pub duration_ms: Option<u64>,
    /// `x-envoy-upstream-service-time` (ms the upstream took).
    pub upstream_service_time: Option<String>,
    /// `x-forwarded-for`.
    pub x_forwarded_for: Option<String>,
    /// `user-agent`.
    pub user_agent: Option<String>,
    /// `x-request-id`.
    pub request_id: Option<String>,
    /// `:authority`.
    pub authority: Option<String>,
    /// The upstream address picked.
    pub upstream_host: Option<String>,
    /// The upstream cluster.
    pub upstream_cluster: Option<String>,
    /// Local address of the upstream connection.
    pub upstream_local: Option<String>,
    /// Where the client's connection arrived (the original destination when captured).
    pub downstream_local: Option<String>,
    /// The client.
    pub downstream_remote: Option<String>,
    /// SNI.
    pub requested_server_name: Option<String>,
    /// Route name.
    pub route_name: Option<String>,
}

impl AccessLine {
    /// True for a TCP connection record (`"- - -"`).
    pub fn is_tcp(&self) -> bool {
        let logged = matches!(self.format, Some(f) if f != LineFormat::ReplyBody);
        logged && self.method.is_none() && self.protocol.is_none()
    }
}

/// A line that could not be read as an access-log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

/// Parses a TEXT or JSON access-log line.
pub fn parse(line: &str) -> Result<AccessLine, ParseError> {
    let line = line.trim();
    if line.starts_with('{') {
        return parse_json(line);
    }
    // Copied from a JSON log pipeline: the quotes arrive escaped.
    let unescaped;
    let line = if line.contains("\\\"") {
        unescaped = line.replace("\\\"", "\"");
        unescaped.as_str()
    } else {
        line
    };
    parse_text(line).or_else(|e| {
        // `kubectl logs --prefix` or other text before the start time: retry at each `[DIGIT`.
        let starts = line.match_indices('[').map(|(i, _)| i).filter(|i| *i > 0);
        let mut starts = starts.filter(|i| line[i + 1..].starts_with(|c: char| c.is_ascii_digit()));
        starts.find_map(|i| parse_text(&line[i..]).ok()).ok_or(e)
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok<'a> {
    Quoted(&'a str),
    Bare(&'a str),
}

impl<'a> Tok<'a> {
    fn text(self) -> &'a str {
        match self {
            Tok::Quoted(s) | Tok::Bare(s) => s,
        }
    }
}

/// Splits on spaces; `"…"` is one token (closed by a `"` before a space or the end).
fn tokens(s: &str) -> Result<Vec<Tok<'_>>, ParseError> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        if let Some(body) = rest.strip_prefix('"') {
            let end = body
                .match_indices('"')
                .map(|(i, _)| i)
                .find(|i| body[i + 1..].is_empty() || body[i + 1..].starts_with(' '))
                .ok_or_else(|| ParseError(format!("unterminated quote in `{}`", clip(rest))))?;
            out.push(Tok::Quoted(&body[..end]));
            rest = body[end + 1..].trim_start();
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            out.push(Tok::Bare(&rest[..end]));
            rest = rest[end..].trim_start();
        }
    }
    Ok(out)
}

fn clip(s: &str) -> String {
    if s.chars().count() > 60 { format!("{}…", s.chars().take(60).collect::<String>()) } else { s.to_string() }
}

/// The start time: `[2024-…Z]`, or `2024-…Z]` when the `[` was lost in a copy.
fn start_time(s: &str) -> Option<&str> {
    let s = s.strip_prefix('[').unwrap_or(s);
    let t = s.strip_suffix(']')?;
    t.starts_with(|c: char| c.is_ascii_digit()).then_some(t)
}

fn dash(s: &str) -> Option<String> {
    (!s.is_empty() && s != "-").then(|| s.to_string())
}

fn number(t: Tok<'_>) -> Option<u64> {
    match t {
        Tok::Bare(s) => s.parse().ok(),
        Tok::Quoted(_) => None,
    }
}

/// `GET /path HTTP/1.1` (or `- - -`) into method, path, protocol.
fn request_line(s: &str, out: &mut AccessLine) {
    let parts: Vec<&str> = s.split(' ').filter(|p| !p.is_empty()).collect();
    if let [method, middle @ .., protocol] = parts.as_slice() {
        out.method = dash(method);
        out.path = dash(&middle.join(" "));
        out.protocol = dash(protocol);
    }
}

const ISTIO_FIELDS: usize = 21;
const LEGACY_FIELDS: usize = 20;
const ENVOY_FIELDS: usize = 12;

fn parse_text(line: &str) -> Result<AccessLine, ParseError> {
    let toks = tokens(line)?;
    let (start, toks) = match toks.first() {
        Some(Tok::Bare(s)) if start_time(s).is_some() => (start_time(s), &toks[1..]),
        _ => (None, &toks[..]),
    };
    let not_a_line = |why: String| {
        ParseError(format!(
            "not an Envoy access-log line ({why}); expected Istio's TEXT format \
             `[START_TIME] \"METHOD PATH PROTOCOL\" CODE FLAGS DETAILS … UPSTREAM_CLUSTER …`, its JSON encoding, \
             or a response flag such as UH or URX,UF"
        ))
    };
    let Some(Tok::Quoted(request)) = toks.first() else {
        return Err(not_a_line("no quoted request such as \"GET / HTTP/1.1\" or \"- - -\"".into()));
    };
    let status = toks.get(1).and_then(|t| number(*t)).filter(|n| *n < 1000);
    let Some(status) = status else { return Err(not_a_line("no response code after the request".into())) };
    let quoted = |i: usize| matches!(toks.get(i), Some(Tok::Quoted(_)));
    let format = if toks.len() >= ISTIO_FIELDS && quoted(5) && !quoted(3) {
        LineFormat::IstioText
    } else if toks.len() >= LEGACY_FIELDS && quoted(3) && quoted(4) {
        LineFormat::IstioTextLegacy
    } else if toks.len() == ENVOY_FIELDS && toks.get(3).and_then(|t| number(*t)).is_some() {
        LineFormat::EnvoyDefault
    } else {
        return Err(not_a_line(format!("{} fields after the start time", toks.len())));
    };
    let mut out = AccessLine {
        format: Some(format),
        start_time: start.map(str::to_string),
        status: u16::try_from(status).ok(),
        ..AccessLine::default()
    };
    request_line(request, &mut out);
    out.flags = flags_field(toks[2].text());
    let t = |i: usize| toks.get(i).and_then(|t| dash(t.text()));
    let n = |i: usize| toks.get(i).and_then(|t| number(*t));
    match format {
        LineFormat::IstioText => {
            (out.details, out.termination_details, out.transport_failure) = (t(3), t(4), t(5));
            fill_common(&mut out, &toks[6..]);
            let tail = |i: usize| t(15 + i);
            (out.upstream_cluster, out.upstream_local, out.downstream_local) = (tail(0), tail(1), tail(2));
            (out.downstream_remote, out.requested_server_name, out.route_name) = (tail(3), tail(4), tail(5));
        }
        LineFormat::IstioTextLegacy => {
            out.transport_failure = t(4);
            fill_common(&mut out, &toks[5..]);
            let tail = |i: usize| t(14 + i);
            (out.upstream_cluster, out.upstream_local, out.downstream_local) = (tail(0), tail(1), tail(2));
            (out.downstream_remote, out.requested_server_name, out.route_name) = (tail(3), tail(4), tail(5));
        }
        _ => {
            (out.bytes_received, out.bytes_sent, out.duration_ms) = (n(3), n(4), n(5));
            out.upstream_service_time = t(6);
            (out.x_forwarded_for, out.user_agent, out.request_id) = (t(7), t(8), t(9));
            (out.authority, out.upstream_host) = (t(10), t(11));
        }
    }
    Ok(out)
}

/// The nine fields Istio's layouts share, from BYTES_RECEIVED to UPSTREAM_HOST.
fn fill_common(out: &mut AccessLine, toks: &[Tok<'_>]) {
    let t = |i: usize| toks.get(i).and_then(|t| dash(t.text()));
    let n = |i: usize| toks.get(i).and_then(|t| number(*t));
    (out.bytes_received, out.bytes_sent, out.duration_ms) = (n(0), n(1), n(2));
    out.upstream_service_time = t(3);
    (out.x_forwarded_for, out.user_agent, out.request_id) = (t(4), t(5), t(6));
    (out.authority, out.upstream_host) = (t(7), t(8));
}

/// `UF,URX` → `["UF", "URX"]`; `-` → none.
pub fn flags_field(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|f| !f.is_empty() && *f != "-").map(str::to_string).collect()
}

fn parse_json(line: &str) -> Result<AccessLine, ParseError> {
    let v: Value = serde_json::from_str(line).map_err(|e| ParseError(format!("not valid JSON: {e}")))?;
    let Some(obj) = v.as_object() else { return Err(ParseError("a JSON access-log record must be an object".into())) };
    if !["response_code", "response_flags", "upstream_cluster"].iter().any(|k| obj.contains_key(*k)) {
        return Err(ParseError(
            "JSON, but not an access-log record: none of Istio's keys response_code, response_flags, \
             upstream_cluster"
                .into(),
        ));
    }
    let s = |k: &str| match obj.get(k) {
        Some(Value::String(s)) => dash(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let n = |k: &str| s(k).and_then(|v| v.parse::<u64>().ok());
    Ok(AccessLine {
        format: Some(LineFormat::IstioJson),
        start_time: s("start_time"),
        method: s("method"),
        path: s("path"),
        protocol: s("protocol"),
        status: n("response_code").and_then(|c| u16::try_from(c).ok()),
        flags: s("response_flags").map(|f| flags_field(&f)).unwrap_or_default(),
        details: s("response_code_details"),
        termination_details: s("connection_termination_details"),
        transport_failure: s("upstream_transport_failure_reason"),
        bytes_received: n("bytes_received"),
        bytes_sent: n("bytes_sent"),
        duration_ms: n("duration"),
        upstream_service_time: s("upstream_service_time").or_else(|| s("x_envoy_upstream_service_time")),
        x_forwarded_for: s("x_forwarded_for"),
        user_agent: s("user_agent"),
        request_id: s("request_id").or_else(|| s("x_request_id")),
        authority: s("authority"),
        upstream_host: s("upstream_host"),
        upstream_cluster: s("upstream_cluster"),
        upstream_local: s("upstream_local_address"),
        downstream_local: s("downstream_local_address"),
        downstream_remote: s("downstream_remote_address"),
        requested_server_name: s("requested_server_name"),
        route_name: s("route_name"),
    })
}

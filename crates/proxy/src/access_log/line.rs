//! One access log line from a [`Record`]: Istio's TEXT format ([`Record::format_into`]) and its
//! JSON encoding ([`Record::json`]). The TEXT line is the one every request writes, so it is
//! built by appending to the caller's buffer (the sink's shared one) without temporary strings
//! or `format!` machinery: bench/proxy measured the `write!`-based version at ~3% of a
//! request's CPU.

use super::Record;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::SystemTime;

fn dash(s: Option<&str>) -> &str {
    match s {
        Some(s) if !s.is_empty() => s,
        _ => "-",
    }
}

/// Appends `n` in decimal.
fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    out.push_str(std::str::from_utf8(&digits[i..]).unwrap_or_default());
}

/// Appends `n` with at least `width` digits (zero-padded).
fn push_padded(out: &mut String, n: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    while n > 0 || digits.len() - i < width {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.push_str(std::str::from_utf8(&digits[i..]).unwrap_or_default());
}

/// Appends an address as `Display` prints it (IPv4 without the formatter, the common case).
fn push_addr(out: &mut String, a: SocketAddr) {
    match a {
        SocketAddr::V4(v4) => {
            for (i, octet) in v4.ip().octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_u64(out, u64::from(octet));
            }
            out.push(':');
            push_u64(out, u64::from(v4.port()));
        }
        SocketAddr::V6(_) => {
            let _ = write!(out, "{a}");
        }
    }
}

fn push_opt_addr(out: &mut String, a: Option<SocketAddr>) {
    match a {
        Some(a) => push_addr(out, a),
        None => out.push('-'),
    }
}

/// Appends `"text"` (quotes included), `-` inside the quotes when empty.
fn push_quoted(out: &mut String, s: Option<&str>) {
    out.push('"');
    out.push_str(dash(s));
    out.push('"');
}

impl Record {
    /// The line in Istio's TEXT format, newline included.
    pub fn format(&self) -> String {
        let mut out = String::with_capacity(384);
        self.format_into(&mut out);
        out
    }

    /// Appends the line in Istio's TEXT format, newline included, to `out`.
    pub fn format_into(&self, out: &mut String) {
        out.push('[');
        push_rfc3339_millis(out, self.start);
        out.push_str("] \"");
        out.push_str(dash(self.method.as_deref()));
        out.push(' ');
        out.push_str(dash(self.path.as_deref()));
        out.push(' ');
        out.push_str(dash(self.protocol));
        out.push_str("\" ");
        push_u64(out, u64::from(self.status));
        out.push(' ');
        out.push_str(dash(Some(self.flags)));
        out.push(' ');
        out.push_str(dash(Some(&self.details)));
        // %CONNECTION_TERMINATION_DETAILS% is never known here.
        out.push_str(" - \"");
        if self.transport_failure.is_empty() {
            out.push('-');
        } else {
            // Envoy logs the reason with spaces as `_`.
            out.extend(self.transport_failure.chars().map(|c| if c == ' ' { '_' } else { c }));
        }
        out.push_str("\" ");
        for n in [self.bytes_received, self.bytes_sent, self.duration_ms] {
            push_u64(out, n);
            out.push(' ');
        }
        match self.upstream_service_time {
            Some(t) => push_u64(out, t),
            None => out.push('-'),
        }
        out.push(' ');
        for field in [&self.x_forwarded_for, &self.user_agent, &self.request_id, &self.authority] {
            push_quoted(out, field.as_deref());
            out.push(' ');
        }
        out.push('"');
        push_opt_addr(out, self.upstream_host);
        out.push_str("\" ");
        out.push_str(dash(self.upstream_cluster.as_deref()));
        out.push(' ');
        push_opt_addr(out, self.upstream_local);
        out.push(' ');
        push_addr(out, self.downstream_local);
        out.push(' ');
        push_addr(out, self.downstream_remote);
        out.push(' ');
        // %REQUESTED_SERVER_NAME%: the SNI of a TLS connection (gateways, PASSTHROUGH).
        out.push_str(dash(self.meta.requested_server_name.as_deref()));
        out.push(' ');
        out.push_str(dash(self.route_name.as_deref()));
        out.push('\n');
    }

    /// The line in Istio's JSON encoding, newline included, as Envoy writes it: keys sorted,
    /// numbers for counts, durations and the status, `null` where TEXT prints `-` (except
    /// `response_flags`, which Envoy prints as `"-"` in both).
    pub fn json(&self) -> String {
        let mut out = String::with_capacity(640);
        let service_time = self.upstream_service_time.map(|t| t.to_string());
        let transport = Some(self.transport_failure.replace(' ', "_")).filter(|t| !t.is_empty());
        let fields: [(&str, Json<'_>); 24] = [
            ("authority", Json::text(self.authority.as_deref())),
            ("bytes_received", Json::Number(self.bytes_received)),
            ("bytes_sent", Json::Number(self.bytes_sent)),
            ("connection_termination_details", Json::Null),
            ("downstream_local_address", Json::Addr(Some(self.downstream_local))),
            ("downstream_remote_address", Json::Addr(Some(self.downstream_remote))),
            ("duration", Json::Number(self.duration_ms)),
            ("method", Json::text(self.method.as_deref())),
            ("path", Json::text(self.path.as_deref())),
            ("protocol", Json::text(self.protocol)),
            ("request_id", Json::text(self.request_id.as_deref())),
            ("requested_server_name", Json::text(self.meta.requested_server_name.as_deref())),
            ("response_code", Json::Number(u64::from(self.status))),
            ("response_code_details", Json::text(Some(&self.details))),
            ("response_flags", Json::Text(dash(Some(self.flags)))),
            ("route_name", Json::text(self.route_name.as_deref())),
            ("start_time", Json::Owned(rfc3339_millis(self.start))),
            ("upstream_cluster", Json::text(self.upstream_cluster.as_deref())),
            ("upstream_host", Json::Addr(self.upstream_host)),
            ("upstream_local_address", Json::Addr(self.upstream_local)),
            ("upstream_service_time", service_time.map_or(Json::Null, Json::Owned)),
            ("upstream_transport_failure_reason", transport.map_or(Json::Null, Json::Owned)),
            ("user_agent", Json::text(self.user_agent.as_deref())),
            ("x_forwarded_for", Json::text(self.x_forwarded_for.as_deref())),
        ];
        out.push('{');
        for (i, (key, value)) in fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "\"{key}\":");
            value.write(&mut out);
        }
        out.push_str("}\n");
        out
    }
}

/// A JSON value of an access log field.
enum Json<'a> {
    Null,
    Number(u64),
    Text(&'a str),
    Owned(String),
    Addr(Option<SocketAddr>),
}

impl<'a> Json<'a> {
    /// A string, or `null` when absent or empty (where TEXT prints `-`).
    fn text(s: Option<&'a str>) -> Self {
        match s {
            Some(s) if !s.is_empty() => Json::Text(s),
            _ => Json::Null,
        }
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null | Json::Addr(None) => out.push_str("null"),
            Json::Number(n) => push_u64(out, *n),
            Json::Text(s) => quote(out, s),
            Json::Owned(s) => quote(out, s),
            Json::Addr(Some(a)) => {
                out.push('"');
                push_addr(out, *a);
                out.push('"');
            }
        }
    }
}

/// Appends `s` as a JSON string.
fn quote(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `2026-11-23T12:21:36.574Z`, as Envoy's `%START_TIME%` prints by default.
pub fn rfc3339_millis(t: SystemTime) -> String {
    let mut out = String::with_capacity(24);
    push_rfc3339_millis(&mut out, t);
    out
}

fn push_rfc3339_millis(out: &mut String, t: SystemTime) {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    push_padded(out, y.max(0) as u64, 4);
    for (sep, n) in [('-', u64::from(m)), ('-', u64::from(day)), ('T', rem / 3600), (':', rem % 3600 / 60)] {
        out.push(sep);
        push_padded(out, n, 2);
    }
    out.push(':');
    push_padded(out, rem % 60, 2);
    out.push('.');
    push_padded(out, u64::from(d.subsec_millis()), 3);
    out.push('Z');
}

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's algorithm).
pub(super) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_addresses_print_as_display_does() {
        for n in [0u64, 7, 10, 503, 18_446_744_073_709_551_615] {
            let mut s = String::new();
            push_u64(&mut s, n);
            assert_eq!(s, n.to_string());
        }
        for a in ["127.0.0.1:80", "0.0.0.0:0", "255.255.255.255:65535", "[::1]:15001"] {
            let a: SocketAddr = a.parse().expect("addr");
            let mut s = String::new();
            push_addr(&mut s, a);
            assert_eq!(s, a.to_string());
        }
        let mut s = String::new();
        push_padded(&mut s, 5, 3);
        push_padded(&mut s, 0, 2);
        push_padded(&mut s, 12345, 2);
        assert_eq!(s, "0050012345");
    }
}

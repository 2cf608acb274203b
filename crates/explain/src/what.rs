//! "What happened", in plain words built from the line's own objects: who handled what, for
//! which destination, and what the answer was (the proxy's own reply, or the upstream's), with
//! the details and transport failure reason read out.

use crate::details::{details_meaning, reset_reason};
use crate::facts::{Direction, Facts};
use crate::log_line::LineFormat;

/// The summary paragraph.
pub(crate) fn what_happened(f: &Facts, proxy: Option<&str>) -> String {
    if f.flags_only {
        return flags_only(f);
    }
    let mut out = Vec::new();
    if f.line.format == Some(LineFormat::ReplyBody) {
        out.push("The client received a reply the proxy wrote itself (no upstream response).".to_string());
    } else {
        out.push(request(f, proxy));
    }
    out.push(outcome(f));
    if f.black_hole {
        let why = "BlackHoleCluster has no endpoints by design: it is where a REGISTRY_ONLY sidecar sends what it \
                   does not know.";
        out.push(why.into());
    }
    if let Some(d) = f.line.details.as_deref() {
        let mut s = format!("Details `{d}`");
        if let Some(m) = details_meaning(d) {
            s.push_str(&format!(": {m}"));
        }
        if let Some(r) = reset_reason(d) {
            s.push_str(&format!("; reset reason: {r}"));
        }
        out.push(format!("{s}."));
    }
    if let Some(t) = f.line.transport_failure.as_deref() {
        let class = f.failure.map(|c| format!(": {}", c.words())).unwrap_or_default();
        out.push(format!("Transport failure `{t}`{class}."));
    }
    out.join(" ")
}

fn flags_only(f: &Facts) -> String {
    if f.flags.is_empty() {
        return "No response flag (`-`): the proxy did not interfere; the status came from the upstream.".into();
    }
    let parts: Vec<String> = f.flags.iter().map(|fl| format!("{} ({}): {}", fl.short, fl.long, fl.meaning)).collect();
    parts.join(" ")
}

fn request(f: &Facts, proxy: Option<&str>) -> String {
    let l = &f.line;
    let who = match (proxy, f.direction) {
        (Some(p), _) => format!("The proxy of {p}"),
        (None, Direction::Inbound) => "The destination pod's sidecar".into(),
        (None, Direction::Outbound) => "The client's sidecar (or a gateway)".into(),
        (None, Direction::Unknown) => "The proxy".into(),
    };
    let target = f.target();
    let from = l.downstream_remote.as_deref().map(|r| format!(" from {r}")).unwrap_or_default();
    let at = l.start_time.as_deref().map(|t| format!(" at {t}")).unwrap_or_default();
    let what = if l.is_tcp() {
        let dest = l.downstream_local.as_deref().map(|d| format!(" to {d}")).unwrap_or_default();
        format!("a TCP connection{from}{dest}")
    } else {
        let method = l.method.as_deref().unwrap_or("a request");
        let path = l.path.as_deref().unwrap_or("");
        let proto = l.protocol.as_deref().map(|p| format!(" ({p})")).unwrap_or_default();
        let authority = l.authority.as_deref().map(|a| format!(" for {a}")).unwrap_or_default();
        format!("{method} {path}{proto}{authority}{from}")
    };
    let direction = match f.direction {
        Direction::Outbound if f.black_hole => " headed for a destination outside its registry".to_string(),
        Direction::Outbound if f.passthrough => " headed for a destination outside its registry".to_string(),
        Direction::Outbound => format!(" on its way to {target}"),
        Direction::Inbound => format!(" arriving for its own app ({target})"),
        Direction::Unknown => String::new(),
    };
    let cluster = l.upstream_cluster.as_deref().map(|c| format!(" (cluster {c})")).unwrap_or_default();
    format!("{who} handled {what}{at}{direction}{cluster}.")
}

fn outcome(f: &Facts) -> String {
    let l = &f.line;
    let took = l.duration_ms.map(|ms| format!(" after {ms} ms")).unwrap_or_default();
    let meanings: Vec<String> =
        f.flags.iter().map(|fl| format!("{} ({}) — {}", fl.short, fl.long, clause(fl.meaning))).collect();
    let flags = if meanings.is_empty() { String::new() } else { format!(": {}", meanings.join("; ")) };
    let status = l.status.unwrap_or_default();
    let bytes = match (l.bytes_received, l.bytes_sent) {
        (Some(r), Some(s)) if l.is_tcp() => format!(" ({r} bytes in, {s} bytes out)"),
        _ => String::new(),
    };
    if l.is_tcp() {
        let flags = if flags.is_empty() { ": no flag, the connection ended normally".into() } else { flags };
        return format!("The connection ended{took}{bytes}{flags}.");
    }
    if status == 0 {
        return format!("No response was sent{took}{flags}.");
    }
    if f.local_reply() {
        format!("It answered {status} itself{took}{flags}.")
    } else {
        let upstream = l.upstream_host.as_deref().unwrap_or("the upstream");
        let ust =
            l.upstream_service_time.as_deref().map(|t| format!(" (the upstream took {t} ms)")).unwrap_or_default();
        format!("{upstream} answered {status}{took}{ust}; no flag: the proxy passed the answer on unchanged.")
    }
}

/// A sentence as a clause: first letter lowercased, final period dropped.
fn clause(s: &str) -> String {
    let s = s.trim_end_matches('.');
    let mut c = s.chars();
    c.next().map(|f| f.to_lowercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

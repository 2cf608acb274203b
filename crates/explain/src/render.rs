//! Plain-text output of an [`Explanation`]: a header naming status, flags and cluster, then
//! "What happened", the flags, the ranked causes (the best five; `-o json` has them all), what
//! to check and the Istio fields, wrapped for a terminal. JSON output is the `Serialize` form.

use crate::{Cause, Confidence, Explanation, InputKind};
use std::fmt::Write as _;

/// Causes shown in text (all of them in JSON).
const SHOWN_CAUSES: usize = 5;
const WIDTH: usize = 100;

/// The explanation as text.
pub fn text(e: &Explanation) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", header(e));
    section(&mut out, "What happened");
    wrap(&mut out, &e.summary, "  ", "  ");
    if !e.unknown_flags.is_empty() {
        let list: Vec<String> = e
            .unknown_flags
            .iter()
            .map(|u| match u.did_you_mean {
                Some(s) => format!("{} (did you mean {s}?)", u.name),
                None => u.name.clone(),
            })
            .collect();
        wrap(&mut out, &format!("Not an Envoy 1.40 response flag: {}.", list.join(", ")), "  ", "  ");
    }
    if !e.flags.is_empty() {
        section(&mut out, "Flags");
        for f in &e.flags {
            wrap(&mut out, &format!("{} {}: {}; usually {}", f.short, f.long, f.scope, f.status), "  ", "      ");
        }
    }
    causes(&mut out, e);
    if !e.with_config && e.input != InputKind::Flags {
        wrap(&mut out, "(Give the mesh config with -f DIR to rank these against your objects.)", "  ", "  ");
    }
    section(&mut out, "What to check");
    for c in &e.checks {
        let _ = writeln!(out, "  {c}");
    }
    if !e.fields.is_empty() {
        section(&mut out, "Istio fields to look at");
        for f in &e.fields {
            let _ = writeln!(out, "  {f}");
        }
    }
    out
}

/// The causes found in the line and config, numbered; then the flags' other usual causes.
fn causes(out: &mut String, e: &Explanation) {
    let title = match (e.input, e.with_config) {
        (InputKind::Flags, _) => "Usual causes",
        (_, true) => "Likely causes, ranked against the config",
        (_, false) => "Likely causes",
    };
    section(out, title);
    let specific: Vec<&Cause> = e.causes.iter().filter(|c| !c.generic).collect();
    let generic: Vec<&Cause> = e.causes.iter().filter(|c| c.generic).collect();
    let numbered = if specific.is_empty() { &generic } else { &specific };
    for (i, c) in numbered.iter().take(SHOWN_CAUSES).enumerate() {
        let tag = match c.confidence {
            Confidence::Confirmed => "confirmed",
            Confidence::Likely => "likely",
            Confidence::Possible => "possible",
        };
        wrap(out, &format!("{}. [{tag}] {}", i + 1, c.summary), "  ", "     ");
        for ev in &c.evidence {
            wrap(out, &format!("because: {ev}"), "     ", "       ");
        }
        if let Some(fix) = &c.fix {
            wrap(out, &format!("fix: {fix}"), "     ", "       ");
        }
    }
    if numbered.len() > SHOWN_CAUSES {
        let _ = writeln!(out, "  ({} more with -o json)", numbered.len() - SHOWN_CAUSES);
    }
    if !specific.is_empty() && !generic.is_empty() {
        let _ = writeln!(out, "  Other usual causes of these flags:");
        for c in &generic {
            wrap(out, &format!("- {}", c.summary), "    ", "      ");
        }
    }
}

fn header(e: &Explanation) -> String {
    let flags: Vec<&str> = e.flags.iter().map(|f| f.short).collect();
    let flags = if flags.is_empty() { "-".to_string() } else { flags.join(",") };
    match (&e.line, e.input) {
        (_, InputKind::Flags) => format!("Response flags: {flags}"),
        (Some(l), _) => {
            let status = l.status.map_or("-".to_string(), |s| s.to_string());
            let cluster = l.upstream_cluster.as_deref().map(|c| format!(" · {c}")).unwrap_or_default();
            let what = if e.input == InputKind::ReplyBody { "reply body".into() } else { format_name(l) };
            format!("{status} {flags}{cluster} · {what}")
        }
        (None, _) => flags,
    }
}

fn format_name(l: &crate::AccessLine) -> String {
    use crate::log_line::LineFormat;
    match l.format {
        Some(LineFormat::IstioText) => "Istio TEXT access log",
        Some(LineFormat::IstioTextLegacy) => "Istio 1.6–1.8 TEXT access log",
        Some(LineFormat::EnvoyDefault) => "Envoy default access log",
        Some(LineFormat::IstioJson) => "Istio JSON access log",
        _ => "access log",
    }
    .to_string()
}

fn section(out: &mut String, title: &str) {
    let _ = writeln!(out, "\n{title}");
}

/// Word-wraps `text` at [`WIDTH`], the first line indented by `first`, the rest by `rest`.
fn wrap(out: &mut String, text: &str, first: &str, rest: &str) {
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && line.chars().count() + 1 + word.chars().count() > WIDTH {
            let _ = writeln!(out, "{line}");
            line = rest.to_string();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    let _ = writeln!(out, "{line}");
}

//! Analysis messages as `istioctl analyze` prints them: a [`MessageType`] (code, name, level and
//! a Go `fmt` template, exactly as Istio's `analyzer-messages.yaml` defines them), the
//! arguments, and the [`Origin`] (the resource, its file and line). `Display` renders
//! `Level [CODE] (Kind ns/name file:line) text`, Istio's `diag.Message.String()`.

use std::fmt;
use std::sync::Arc;

/// Severity, ordered worst first (Istio sorts Error < Warning < Info).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Config that does not work.
    Error,
    /// Config that probably does not do what was meant.
    Warning,
    /// Advice.
    Info,
}

impl Level {
    /// Parses `Error`, `Warning`, `Info` (case-insensitive), as `--output-threshold` takes them.
    pub fn parse(s: &str) -> Option<Level> {
        match s.to_ascii_lowercase().as_str() {
            "error" => Some(Level::Error),
            "warning" => Some(Level::Warning),
            "info" => Some(Level::Info),
            _ => None,
        }
    }

    /// True when `self` is as bad as `threshold` or worse.
    pub fn at_least(self, threshold: Level) -> bool {
        self <= threshold
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Error => "Error",
            Level::Warning => "Warning",
            Level::Info => "Info",
        })
    }
}

/// A kind of message: Istio's `diag.MessageType` plus its name.
#[derive(Debug, PartialEq, Eq)]
pub struct MessageType {
    /// `IST0101`, `STR0001`, …
    pub code: &'static str,
    /// `ReferencedResourceNotFound`, …
    pub name: &'static str,
    /// Fixed level of every message of this type.
    pub level: Level,
    /// Go `fmt` template (`%s`, `%q`, `%v`, `%d`).
    pub template: &'static str,
}

impl MessageType {
    /// A message type (used for the constant tables).
    pub const fn new(code: &'static str, name: &'static str, level: Level, template: &'static str) -> Self {
        Self { code, name, level, template }
    }

    /// True for Strait's own codes (`STRnnnn`), which have no istio.io documentation page.
    pub fn is_strait(&self) -> bool {
        self.code.starts_with("STR")
    }
}

/// One template argument, typed as Go would format it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// A string (`%s` as is, `%q` quoted).
    Str(String),
    /// A `[]string` (`%v` → `[a b]`).
    Strs(Vec<String>),
    /// An integer.
    Int(i64),
    /// A `[]int` (`%v` → `[80 443]`).
    Ints(Vec<i64>),
}

impl From<&str> for Arg {
    fn from(s: &str) -> Self {
        Arg::Str(s.to_string())
    }
}

impl From<String> for Arg {
    fn from(s: String) -> Self {
        Arg::Str(s)
    }
}

impl From<i64> for Arg {
    fn from(n: i64) -> Self {
        Arg::Int(n)
    }
}

impl From<u32> for Arg {
    fn from(n: u32) -> Self {
        Arg::Int(i64::from(n))
    }
}

impl From<i32> for Arg {
    fn from(n: i32) -> Self {
        Arg::Int(i64::from(n))
    }
}

impl From<Vec<String>> for Arg {
    fn from(v: Vec<String>) -> Self {
        Arg::Strs(v)
    }
}

/// Go's `strconv.Quote` for the characters config holds: `"`, `\` and control characters are
/// escaped, everything printable is kept.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn render_arg(verb: char, arg: &Arg) -> String {
    match (verb, arg) {
        ('q', Arg::Str(s)) => go_quote(s),
        ('q', Arg::Strs(v)) => format!("[{}]", v.iter().map(|s| go_quote(s)).collect::<Vec<_>>().join(" ")),
        (_, Arg::Str(s)) => s.clone(),
        (_, Arg::Strs(v)) => format!("[{}]", v.join(" ")),
        (_, Arg::Int(n)) => n.to_string(),
        (_, Arg::Ints(v)) => format!("[{}]", v.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")),
    }
}

/// Fills a Go `fmt` template: `%s %v %q %d` take the next argument, `%%` is a percent sign; a
/// missing argument renders as Go does (`%!v(MISSING)`).
pub fn go_format(template: &str, args: &[Arg]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut next = args.iter();
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(verb) => match next.next() {
                Some(arg) => out.push_str(&render_arg(verb, arg)),
                None => out.push_str(&format!("%!{verb}(MISSING)")),
            },
            None => out.push('%'),
        }
    }
    out
}

/// The resource a message is about, and where it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// Kind name (`VirtualService`).
    pub kind: String,
    /// Namespace; empty for cluster-scoped kinds and for documents read without one in Istio's
    /// test mode.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// File the resource came from (none for resources that did not come from a file).
    pub file: Option<Arc<str>>,
    /// Line where the resource starts in `file`.
    pub line: Option<usize>,
}

impl Origin {
    /// Istio's `FriendlyName`: `Kind ns/name`, or `Kind name` without a namespace.
    pub fn friendly_name(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!("{} {}/{}", self.kind, self.namespace, self.name)
        }
    }

    /// `ns/name` or `name` (Istio's `FullName.String()`).
    pub fn full_name(&self) -> String {
        full_name(&self.namespace, &self.name)
    }
}

/// `ns/name`, or `name` when the namespace is empty.
pub fn full_name(namespace: &str, name: &str) -> String {
    if namespace.is_empty() { name.to_string() } else { format!("{namespace}/{name}") }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Its type (code, level, template).
    pub kind: &'static MessageType,
    /// Template arguments.
    pub args: Vec<Arg>,
    /// The resource, when the message is about one.
    pub origin: Option<Origin>,
    /// The line of the offending field, when known (replaces the resource's line).
    pub line: Option<usize>,
    /// The analyzer that produced it (Istio's analyzer name, or `strait.*`).
    pub analyzer: &'static str,
}

impl Message {
    /// The message text (the template filled in).
    pub fn text(&self) -> String {
        go_format(self.kind.template, &self.args)
    }

    /// `file:line` (the field's line when known), Istio's `reference`.
    pub fn reference(&self) -> Option<String> {
        let o = self.origin.as_ref()?;
        let file = o.file.as_deref()?;
        // Istio prints no line for JSON files.
        if file.ends_with(".json") {
            return Some(file.to_string());
        }
        match self.line.or(o.line) {
            Some(line) => Some(format!("{file}:{line}")),
            None => Some(file.to_string()),
        }
    }

    /// `Kind ns/name` of the origin.
    pub fn origin_name(&self) -> Option<String> {
        self.origin.as_ref().map(Origin::friendly_name)
    }

    /// ` (Kind ns/name file:line)` or nothing.
    fn origin_part(&self) -> String {
        match (self.origin_name(), self.reference()) {
            (Some(name), Some(r)) => format!(" ({name} {r})"),
            (Some(name), None) => format!(" ({name})"),
            _ => String::new(),
        }
    }

    /// The line `istioctl analyze` prints, with the level coloured when `colour` is set.
    pub fn render(&self, colour: bool) -> String {
        let (pre, post) = match (colour, self.kind.level) {
            (false, _) | (true, Level::Info) => ("", ""),
            (true, Level::Warning) => ("\x1b[33m", "\x1b[0m"),
            (true, Level::Error) => ("\x1b[1;31m", "\x1b[0m"),
        };
        format!("{pre}{}{post} [{}]{} {}", self.kind.level, self.kind.code, self.origin_part(), self.text())
    }

    /// Istio's sort key: level, code, then kind/name/namespace of the origin, then the text.
    fn sort_key(&self) -> (Level, &'static str, String, String) {
        let cmp = self.origin.as_ref().map(|o| format!("{}/{}/{}", o.kind, o.name, o.namespace)).unwrap_or_default();
        (self.kind.level, self.kind.code, cmp, self.to_string())
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

/// Sorts as Istio does and drops messages whose printed line is identical (Istio's
/// `SortedDedupedCopy`).
pub fn sorted_deduped(mut messages: Vec<Message>) -> Vec<Message> {
    messages.sort_by_cached_key(Message::sort_key);
    messages.dedup_by(|b, a| a.to_string() == b.to_string());
    messages
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::istio;

    fn origin(ns: &str) -> Origin {
        Origin {
            kind: "VirtualService".into(),
            namespace: ns.into(),
            name: "reviews".into(),
            file: Some(Arc::from("vs.yaml")),
            line: Some(3),
        }
    }

    #[test]
    fn renders_like_istioctl() {
        let m = Message {
            kind: &istio::REFERENCED_RESOURCE_NOT_FOUND,
            args: vec!["host".into(), "reviews.bogus".into()],
            origin: Some(origin("default")),
            line: Some(12),
            analyzer: "test",
        };
        assert_eq!(
            m.to_string(),
            r#"Error [IST0101] (VirtualService default/reviews vs.yaml:12) Referenced host not found: "reviews.bogus""#
        );
        let m = Message { origin: Some(origin("")), line: None, ..m };
        assert!(m.to_string().contains("(VirtualService reviews vs.yaml:3)"));
    }

    #[test]
    fn go_verbs() {
        let args = [Arg::Strs(vec!["a".into(), "b".into()]), Arg::Int(7), Arg::Str("x\"y".into())];
        assert_eq!(go_format("%v %d %q %%", &args), r#"[a b] 7 "x\"y" %"#);
        assert_eq!(go_format("%s", &[]), "%!s(MISSING)");
        assert_eq!(go_format("%v", &[Arg::Ints(vec![80, 443])]), "[80 443]");
    }
}

//! `strait explain`: turns an Envoy/Istio access-log line (Istio's TEXT format, its JSON
//! encoding, Envoy's own default), a local-reply body (`no healthy upstream`), or response
//! flags (`UH`, `URX,UF`) into plain words: what happened, the likely causes — ranked against
//! a mesh config when one is given ([`Mesh`]) — and what to check (Strait commands and Istio
//! fields), all naming the objects from the line. Pure: the caller loads the config
//! (`strait-config`) and prints ([`render`]).
//!
//! Modules: `flags` (the one table of Envoy's response flags), `log_line` (parsing), `body`
//! (local replies), `cluster` (Istio's cluster/SNI names), `details` (response code details and
//! transport failures), `facts` (the line's fields combined), `mesh` (config lookups and cause
//! ranking), `what` (the summary) and `render` (text output).

pub mod body;
pub mod cluster;
pub mod details;
pub mod facts;
pub mod flags;
pub mod log_line;
pub mod mesh;
pub mod render;
mod what;

pub use log_line::{AccessLine, ParseError};
pub use mesh::{Cause, Confidence, Mesh};

use facts::{Direction, Facts, UnknownFlag};
use serde::Serialize;

/// What was given to explain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputKind {
    /// An access-log line.
    Line,
    /// Response flags only.
    Flags,
    /// A local-reply body.
    ReplyBody,
}

/// A flag on the line, as shown.
#[derive(Clone, Debug, Serialize)]
pub struct FlagView {
    /// Short name.
    pub short: &'static str,
    /// Long name.
    pub long: &'static str,
    /// HTTP and TCP, or HTTP.
    pub scope: flags::Scope,
    /// Usual status and body.
    pub status: &'static str,
    /// What it means.
    pub meaning: &'static str,
}

/// Where the line's traffic was going.
#[derive(Clone, Debug, Serialize)]
pub struct Destination {
    /// Outbound or inbound.
    pub direction: Direction,
    /// Host (FQDN when known).
    pub host: Option<String>,
    /// Service port.
    pub port: Option<u32>,
    /// Subset.
    pub subset: Option<String>,
    /// The proxy that logged the line (`POD.NAMESPACE`), when the config names it.
    pub proxy: Option<String>,
}

/// The explanation of one input.
#[derive(Debug, Serialize)]
pub struct Explanation {
    /// What was given.
    pub input: InputKind,
    /// The parsed line (None for flags only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<AccessLine>,
    /// What happened, in plain words.
    pub summary: String,
    /// The flags, explained.
    pub flags: Vec<FlagView>,
    /// Flags Envoy does not define.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown_flags: Vec<UnknownFlag>,
    /// Where the traffic was going.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<Destination>,
    /// Likely causes, best first.
    pub causes: Vec<Cause>,
    /// What to check (commands with the line's objects filled in).
    pub checks: Vec<String>,
    /// Istio fields to look at.
    pub fields: Vec<String>,
    /// True when causes were ranked against a mesh config.
    pub with_config: bool,
}

/// Explains `input` (a line, a reply body, or flags), against `mesh` when given. `config_dir`
/// names the config directory in the suggested commands (`DIR` when None).
pub fn explain(input: &str, mesh: Option<&Mesh>, config_dir: Option<&str>) -> Result<Explanation, ParseError> {
    let (kind, line) = read_input(input)?;
    let facts = Facts::new(line, kind == InputKind::Flags);
    if kind == InputKind::Flags && facts.flags.is_empty() && !facts.unknown_flags.is_empty() {
        return Err(unknown_flags_error(&facts.unknown_flags));
    }
    let ctx = mesh::rank::Ctx::new(&facts, mesh);
    let proxy = ctx.proxy();
    let causes = mesh::rank::causes(&ctx);
    let fill = Placeholders::new(&ctx, config_dir);
    let mut checks: Vec<String> = Vec::new();
    let default_checks: &[&str] = &[
        "strait proxy-config routes {proxy} -o json   # the route that picked {cluster}",
        "strait proxy-config endpoints {proxy}   # the endpoints of {cluster}",
    ];
    let templates = facts.flags.iter().flat_map(|f| f.checks.iter().copied());
    let templates: Vec<&str> = if facts.black_hole || facts.passthrough {
        UNKNOWN_DESTINATION_CHECKS.to_vec()
    } else if facts.flags.is_empty() {
        default_checks.to_vec()
    } else {
        templates.collect()
    };
    // The leading causes' own checks first, then the flags'.
    let leading = causes.iter().filter(|c| !c.generic).take(3);
    let cause_checks: Vec<&str> = leading.clone().flat_map(|c| c.checks.iter().copied()).collect();
    for t in cause_checks.into_iter().chain(templates) {
        let c = fill.apply(t);
        // One line per command: the first comment (the most specific) wins.
        let command = |c: &str| c.split("   #").next().unwrap_or_default().trim().to_string();
        if !checks.iter().any(|k| command(k) == command(&c)) {
            checks.push(c);
        }
    }
    let mut fields: Vec<String> = Vec::new();
    let unknown_fields = UNKNOWN_DESTINATION_FIELDS.iter().filter(|_| facts.black_hole || facts.passthrough);
    let cause_fields = leading.flat_map(|c| c.fields.iter());
    for f in cause_fields.chain(unknown_fields).chain(facts.flags.iter().flat_map(|f| f.fields.iter())) {
        if !fields.iter().any(|x| x == f) {
            fields.push((*f).to_string());
        }
    }
    let destination = (kind == InputKind::Line).then(|| Destination {
        direction: facts.direction,
        host: ctx.fqdn().map(str::to_string),
        port: facts.port,
        subset: facts.subset.clone(),
        proxy: proxy.clone(),
    });
    Ok(Explanation {
        input: kind,
        summary: what::what_happened(&facts, proxy.as_deref()),
        flags: facts
            .flags
            .iter()
            .map(|f| FlagView { short: f.short, long: f.long, scope: f.scope, status: f.status, meaning: f.meaning })
            .collect(),
        unknown_flags: facts.unknown_flags.clone(),
        destination,
        causes,
        checks,
        fields,
        with_config: mesh.is_some(),
        line: (kind != InputKind::Flags).then(|| facts.line.clone()),
    })
}

/// What to check when the sidecar did not know the destination (BlackHole/Passthrough).
const UNKNOWN_DESTINATION_CHECKS: &[&str] = &[
    "strait proxy-config listeners {proxy}   # no listener matches {authority}: which ports does the sidecar know?",
    "strait proxy-config clusters {proxy}   # is there an outbound|PORT||HOST cluster for the destination?",
    "strait analyze -f {dir}   # ServiceEntries, their ports and exportTo",
];

/// Fields that decide whether a destination is known.
const UNKNOWN_DESTINATION_FIELDS: &[&str] = &[
    "ServiceEntry.spec.hosts",
    "ServiceEntry.spec.ports[]",
    "ServiceEntry.spec.addresses",
    "ServiceEntry.spec.exportTo",
    "meshConfig.outboundTrafficPolicy.mode",
    "Sidecar.spec.outboundTrafficPolicy.mode",
];

/// Classifies and parses the input.
fn read_input(input: &str) -> Result<(InputKind, AccessLine), ParseError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(ParseError(
            "nothing to explain: give an access-log line, a response flag (UH, URX,UF) or a reply body".into(),
        ));
    }
    if let Some(flags) = as_flags(text) {
        return Ok((InputKind::Flags, AccessLine { flags, ..AccessLine::default() }));
    }
    if let Some(line) = body::parse_body(text) {
        return Ok((InputKind::ReplyBody, line));
    }
    log_line::parse(text).map(|l| (InputKind::Line, l))
}

/// `UH`, `URX,UF`, `UF URX`, `NoHealthyUpstream`, `-`: a list of flag names.
fn as_flags(text: &str) -> Option<Vec<String>> {
    if text == "-" {
        return Some(Vec::new());
    }
    let names: Vec<&str> = text.split([',', ' ']).filter(|s| !s.is_empty()).collect();
    let flag_like =
        |n: &&str| (n.len() <= 5 && n.chars().all(|c| c.is_ascii_uppercase())) || flags::lookup(n).is_some();
    (!names.is_empty() && names.iter().all(flag_like)).then(|| names.iter().map(|n| n.to_string()).collect())
}

fn unknown_flags_error(unknown: &[UnknownFlag]) -> ParseError {
    let list: Vec<String> = unknown
        .iter()
        .map(|u| match u.did_you_mean {
            Some(s) => format!("`{}` (did you mean {s}?)", u.name),
            None => format!("`{}`", u.name),
        })
        .collect();
    let known: Vec<&str> = flags::all().map(|f| f.short).collect();
    ParseError(format!("unknown response flag {}: Envoy 1.40 logs {}", list.join(", "), known.join(", ")))
}

/// Values for the `{placeholders}` of the flag table's checks.
struct Placeholders {
    values: Vec<(&'static str, String)>,
}

impl Placeholders {
    fn new(c: &mesh::rank::Ctx<'_>, dir: Option<&str>) -> Placeholders {
        let f = c.f;
        let host = c.fqdn().map(str::to_string);
        let cluster = f.line.upstream_cluster.clone().or_else(|| {
            // For NC the route names a cluster the line does not show.
            let (host, port) = (host.as_ref().filter(|_| !f.has("NC"))?, f.port?);
            host.contains(".svc.").then(|| format!("outbound|{port}|{}|{host}", f.subset.as_deref().unwrap_or("")))
        });
        let authority = f.line.authority.clone().or_else(|| Some(format!("{}:{}", host.as_ref()?, f.port?)));
        let authority = authority.or_else(|| f.line.downstream_local.clone());
        let values = vec![
            ("{proxy}", c.proxy().unwrap_or_else(|| "POD.NAMESPACE".into())),
            ("{cluster}", cluster.unwrap_or_else(|| "the cluster".into())),
            ("{host}", host.unwrap_or_else(|| "the destination host".into())),
            ("{port}", f.port.map_or_else(|| "PORT".into(), |p| p.to_string())),
            ("{upstream}", f.line.upstream_host.clone().unwrap_or_else(|| "the upstream address".into())),
            ("{authority}", authority.unwrap_or_else(|| "the request's host".into())),
            ("{dir}", dir.unwrap_or("DIR").to_string()),
        ];
        Placeholders { values }
    }

    fn apply(&self, template: &str) -> String {
        self.values.iter().fold(template.to_string(), |s, (k, v)| s.replace(k, v))
    }
}

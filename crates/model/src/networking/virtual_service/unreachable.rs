//! Warnings for rules that can never be used, as Istio's `analyzeUnreachable*Rules` emits
//! them (the IST0130/IST0131 messages): a rule after a catch-all rule, a match identical to an
//! earlier one, and (HTTP) a prefix match shadowed by an earlier, shorter prefix with the same
//! other conditions. They are advice: the VirtualService is still valid.

use super::{HttpMatchRequest, L4MatchAttributes, StringMatch, TlsMatchAttributes, VirtualService};
use crate::validation::Validator;
use std::collections::BTreeMap;

/// One rule of a route list as the analysis sees it: its display name and its matches
/// (normalized so that equal traffic conditions compare equal), with their display names.
struct Rule<M> {
    name: String,
    matches: Vec<(String, M)>,
}

fn display(name: Option<&str>, index: usize) -> String {
    match name.filter(|n| !n.is_empty()) {
        Some(n) => format!("{n:?}"),
        None => format!("#{index}"),
    }
}

/// Runs every analysis and records the warnings.
pub(super) fn analyze(v: &mut Validator<'_>, vs: &VirtualService) {
    let http: Vec<Rule<HttpMatchRequest>> = vs
        .http
        .iter()
        .enumerate()
        .map(|(i, r)| Rule {
            name: display(r.name.as_deref(), i),
            matches: r
                .match_
                .iter()
                .enumerate()
                .map(|(j, m)| (display(m.name.as_deref(), j), normal_http(m)))
                .collect(),
        })
        .collect();
    let kept = scan(v, "http", &http);
    prefix_overlaps(v, &http, &kept);
    let tls = l4_rules(vs.tls.iter().map(|r| r.match_.iter().map(normal_tls).collect()));
    scan(v, "tls", &tls);
    let tcp = l4_rules(vs.tcp.iter().map(|r| r.match_.iter().map(normal_l4).collect()));
    scan(v, "tcp", &tcp);
}

fn l4_rules<M>(routes: impl Iterator<Item = Vec<M>>) -> Vec<Rule<M>> {
    routes
        .enumerate()
        .map(|(i, ms)| Rule {
            name: format!("#{i}"),
            matches: ms.into_iter().enumerate().map(|(j, m)| (format!("#{j}"), m)).collect(),
        })
        .collect()
}

fn empty_to_none(s: &Option<String>) -> Option<String> {
    s.clone().filter(|s| !s.is_empty())
}

/// Drops what does not route traffic (the name) and spells defaults one way, as Istio's
/// comparison of protobuf JSON does.
fn normal_http(m: &HttpMatchRequest) -> HttpMatchRequest {
    HttpMatchRequest {
        name: None,
        port: m.port.filter(|p| *p != 0),
        ignore_uri_case: m.ignore_uri_case.filter(|b| *b),
        source_namespace: empty_to_none(&m.source_namespace),
        stat_prefix: empty_to_none(&m.stat_prefix),
        ..m.clone()
    }
}

fn normal_tls(m: &TlsMatchAttributes) -> TlsMatchAttributes {
    TlsMatchAttributes {
        port: m.port.filter(|p| *p != 0),
        source_namespace: empty_to_none(&m.source_namespace),
        ..m.clone()
    }
}

fn normal_l4(m: &L4MatchAttributes) -> L4MatchAttributes {
    L4MatchAttributes {
        port: m.port.filter(|p| *p != 0),
        source_namespace: empty_to_none(&m.source_namespace),
        source_subnet: empty_to_none(&m.source_subnet),
        ..m.clone()
    }
}

fn unused_rule(v: &mut Validator<'_>, kind: &str, i: usize, name: &str, reason: &str) {
    v.field(kind, |v| v.index(i, |v| v.warn(format!("virtualService rule {name} not used ({reason})"))));
}

fn unused_match(v: &mut Validator<'_>, kind: &str, (i, j): (usize, usize), rule: &str, what: &str, dup: &str) {
    let msg =
        format!("virtualService rule {rule} match {what} is not used (duplicate/overlapping match in rule {dup})");
    v.field(kind, |v| v.index(i, |v| v.field("match", |v| v.index(j, |v| v.warn(msg)))));
}

/// Catch-all rules and exact duplicates. Returns the (rule, match) positions that were
/// neither, for the prefix analysis.
fn scan<M: PartialEq>(v: &mut Validator<'_>, kind: &str, rules: &[Rule<M>]) -> Vec<(usize, usize)> {
    let mut seen: Vec<(&M, usize)> = Vec::new();
    let mut catch_all = false;
    let mut kept = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        if rule.matches.is_empty() {
            if catch_all {
                unused_rule(v, kind, i, &rule.name, "only the last rule can have no matches");
            }
            catch_all = true;
            continue;
        }
        let mut duplicates = 0;
        for (j, (match_name, m)) in rule.matches.iter().enumerate() {
            if catch_all {
                unused_rule(v, kind, i, &rule.name, "route without matches defined before");
                continue;
            }
            if let Some((_, first)) = seen.iter().find(|(s, _)| *s == m) {
                unused_match(v, kind, (i, j), &rule.name, match_name, &rules[*first].name);
                duplicates += 1;
                continue;
            }
            seen.push((m, i));
            kept.push((i, j));
        }
        if duplicates == rule.matches.len() {
            unused_rule(v, kind, i, &rule.name, "all matches used by prior rules");
        }
    }
    kept
}

/// The parts of an HTTP match with a URI prefix that Istio compares for shadowing.
struct PrefixMatch<'a> {
    at: (usize, usize),
    rule: &'a str,
    name: &'a str,
    prefix: &'a str,
    port: u32,
    method: String,
    authority: String,
    headers: BTreeMap<&'a str, String>,
    query: BTreeMap<&'a str, String>,
    without: BTreeMap<&'a str, String>,
}

/// `exact:<v>` or `prefix:<v>`; regexes are not compared (empty string).
fn exact_or_prefix(sm: Option<&StringMatch>) -> String {
    let Some(sm) = sm else { return String::new() };
    match (sm.exact.as_deref().filter(|e| !e.is_empty()), sm.prefix.as_deref().filter(|p| !p.is_empty())) {
        (Some(e), _) => format!("exact:{e}"),
        (None, Some(p)) => format!("prefix:{p}"),
        _ => String::new(),
    }
}

fn summarize(map: &BTreeMap<String, StringMatch>) -> BTreeMap<&str, String> {
    map.iter().map(|(k, sm)| (k.as_str(), exact_or_prefix(Some(sm)))).collect()
}

fn prefix_match<'a>(rule: &'a Rule<HttpMatchRequest>, at: (usize, usize)) -> Option<PrefixMatch<'a>> {
    let (name, m) = &rule.matches[at.1];
    let prefix = m.uri.as_ref()?.prefix.as_deref().filter(|p| !p.is_empty())?;
    let method = match exact_or_prefix(m.method.as_ref()) {
        none if none.is_empty() => "exact:GET".to_string(),
        method => method,
    };
    Some(PrefixMatch {
        at,
        rule: &rule.name,
        name,
        prefix,
        port: m.port.unwrap_or(0),
        method,
        authority: exact_or_prefix(m.authority.as_ref()),
        headers: summarize(&m.headers),
        query: summarize(&m.query_params),
        without: summarize(&m.without_headers),
    })
}

/// Every condition of `b` is at least as narrow as `a`'s: equal, or `a`'s value extends `b`'s.
fn narrower(a: &BTreeMap<&str, String>, b: &BTreeMap<&str, String>) -> bool {
    a.len() == b.len() && a.iter().all(|(k, av)| b.get(k).is_some_and(|bv| av.starts_with(bv.as_str())))
}

/// Istio `coveredValidation`: `a` (earlier) takes every request `b` (later) would match.
fn covers(a: &PrefixMatch<'_>, b: &PrefixMatch<'_>) -> bool {
    b.prefix.starts_with(a.prefix)
        && a.port == b.port
        && a.method.starts_with(&b.method)
        && a.authority.starts_with(&b.authority)
        && narrower(&a.headers, &b.headers)
        && narrower(&a.query, &b.query)
        && narrower(&a.without, &b.without)
}

fn prefix_overlaps(v: &mut Validator<'_>, rules: &[Rule<HttpMatchRequest>], kept: &[(usize, usize)]) {
    let prefixes: Vec<PrefixMatch<'_>> = kept.iter().filter_map(|at| prefix_match(&rules[at.0], *at)).collect();
    for (i, a) in prefixes.iter().enumerate() {
        for b in prefixes[i + 1..].iter().filter(|b| b.prefix != a.prefix && covers(a, b)) {
            let what = format!("{} of prefix {}", b.name, b.prefix);
            let dup = format!("{} of prefix {} on {}", a.name, a.prefix, a.rule);
            unused_match(v, "http", b.at, b.rule, &what, &dup);
        }
    }
}

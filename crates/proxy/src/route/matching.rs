//! Route match evaluation, as Envoy does it: prefix matches the path with its query, exact
//! and regex match the path without it; CONNECT requests match only CONNECT routes (and
//! CONNECT routes nothing else); header values are all values joined with `,`; a missing
//! header never matches a value condition unless `treat_missing_header_as_empty`; `invert`
//! flips the result; pseudo-headers come from the request line.

use super::{Request, split_query};
use crate::config::matcher::{HeaderCheck, HeaderMatch, PathMatch, Pattern, QueryMatch, RouteMatch, StringMatch};
use http::Method;
use std::borrow::Cow;

/// True when `m` admits `req`.
pub fn route_matches(m: &RouteMatch, req: &Request<'_>) -> bool {
    path_matches(m, req) && m.headers.iter().all(|h| header_matches(h, req)) && query_matches(&m.query, req.path)
}

fn path_matches(m: &RouteMatch, req: &Request<'_>) -> bool {
    let connect = req.method == Method::CONNECT;
    fn fold(p: &str, case_sensitive: bool) -> Cow<'_, str> {
        if case_sensitive { Cow::Borrowed(p) } else { Cow::Owned(p.to_ascii_lowercase()) }
    }
    match &m.path {
        PathMatch::Connect => connect,
        _ if connect => false,
        PathMatch::Prefix(prefix) => {
            let head = req.path.get(..prefix.len()).unwrap_or(req.path);
            head.len() == prefix.len() && fold(head, m.case_sensitive) == prefix.as_str()
        }
        PathMatch::Exact(exact) => fold(split_query(req.path).0, m.case_sensitive) == exact.as_str(),
        PathMatch::Regex(re) => re.is_match(split_query(req.path).0),
    }
}

/// The value of a header (or pseudo-header) as Envoy matches it.
fn value<'r>(req: &Request<'r>, name: &str) -> Option<Cow<'r, str>> {
    match name {
        ":method" => Some(Cow::Borrowed(req.method.as_str())),
        ":authority" => Some(Cow::Borrowed(req.authority)),
        ":path" => Some(Cow::Borrowed(req.path)),
        ":scheme" => Some(Cow::Borrowed(req.scheme)),
        _ => {
            let mut values = req.headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()));
            let first = values.next()?;
            match values.next() {
                None => Some(first),
                Some(second) => {
                    let mut joined = format!("{first},{second}");
                    for v in values {
                        joined.push(',');
                        joined.push_str(&v);
                    }
                    Some(Cow::Owned(joined))
                }
            }
        }
    }
}

fn header_matches(h: &HeaderMatch, req: &Request<'_>) -> bool {
    let found = value(req, &h.name);
    let result = match (&h.check, found) {
        (HeaderCheck::Present(want), found) => found.is_some() == *want,
        (_, None) if !h.missing_as_empty => return false,
        (HeaderCheck::Value(sm), found) => string_matches(sm, found.as_deref().unwrap_or_default()),
        (HeaderCheck::Range(start, end), found) => {
            found.and_then(|v| v.trim().parse::<i64>().ok()).is_some_and(|n| (*start..*end).contains(&n))
        }
    };
    result != h.invert
}

/// True when `s` satisfies the string condition.
pub fn string_matches(m: &StringMatch, s: &str) -> bool {
    let folded;
    let s = if m.ignore_case {
        folded = s.to_ascii_lowercase();
        folded.as_str()
    } else {
        s
    };
    match &m.pattern {
        Pattern::Exact(e) => s == e,
        Pattern::Prefix(p) => s.starts_with(p.as_str()),
        Pattern::Suffix(p) => s.ends_with(p.as_str()),
        Pattern::Contains(p) => s.contains(p.as_str()),
        Pattern::Regex(re) => re.is_match(s),
    }
}

fn query_matches(conditions: &[QueryMatch], path: &str) -> bool {
    if conditions.is_empty() {
        return true;
    }
    let query = split_query(path).1.trim_start_matches('?');
    conditions.iter().all(|c| {
        let found = query.split('&').filter(|kv| !kv.is_empty()).find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == c.name).then_some(v)
        });
        match (&c.value, found) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(sm), Some(v)) => string_matches(sm, v),
        }
    })
}

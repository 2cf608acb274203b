//! Route match conditions, compiled: the path (prefix, exact, RE2-style regex anchored for a
//! full match, or CONNECT), case sensitivity, header matchers (pseudo-headers `:method`,
//! `:authority`, `:scheme`, `:path` included) and query parameter matchers. The matching
//! itself is in `crate::route` (pure functions over these types).

use super::{ConfigError, Result, each, no_other_fields};
use envoy_types::pb::envoy::config::route::v3::{
    HeaderMatcher, QueryParameterMatcher, RouteMatch as EnvoyRouteMatch, header_matcher::HeaderMatchSpecifier,
    query_parameter_matcher::QueryParameterMatchSpecifier, route_match::PathSpecifier,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{RegexMatcher, StringMatcher, string_matcher::MatchPattern};
use regex::Regex;

/// A compiled route match.
#[derive(Debug)]
pub struct RouteMatch {
    /// The path condition.
    pub path: PathMatch,
    /// Prefix and exact path comparisons are case sensitive (Envoy's default).
    pub case_sensitive: bool,
    /// Header conditions (all must hold).
    pub headers: Vec<HeaderMatch>,
    /// Query parameter conditions (all must hold).
    pub query: Vec<QueryMatch>,
}

/// The path condition of a route.
#[derive(Debug)]
pub enum PathMatch {
    /// The path (with query) starts with this.
    Prefix(String),
    /// The path (without query) is exactly this.
    Exact(String),
    /// The path (without query) fully matches this regex.
    Regex(Regex),
    /// CONNECT requests (any target).
    Connect,
}

/// A string condition.
#[derive(Debug)]
pub struct StringMatch {
    /// The pattern.
    pub pattern: Pattern,
    /// Compare ignoring ASCII case (not for regexes, as in Envoy).
    pub ignore_case: bool,
}

/// A string pattern.
#[derive(Debug)]
pub enum Pattern {
    /// Equal.
    Exact(String),
    /// Starts with.
    Prefix(String),
    /// Ends with.
    Suffix(String),
    /// Contains.
    Contains(String),
    /// Fully matches.
    Regex(Regex),
}

/// A header condition.
#[derive(Debug)]
pub struct HeaderMatch {
    /// Lower-case header name, or a pseudo-header (`:method`, `:authority`, `:scheme`, `:path`).
    pub name: String,
    /// What to check.
    pub check: HeaderCheck,
    /// Invert the result.
    pub invert: bool,
    /// A missing header is matched as the empty string (else a missing header never matches).
    pub missing_as_empty: bool,
}

/// What a header condition checks.
#[derive(Debug)]
pub enum HeaderCheck {
    /// Present (true) or absent (false).
    Present(bool),
    /// The value (all values joined with `,`) matches.
    Value(StringMatch),
    /// The value is an integer in `start..end`.
    Range(i64, i64),
}

/// A query parameter condition.
#[derive(Debug)]
pub struct QueryMatch {
    /// Parameter name.
    pub name: String,
    /// Present, or its value matches.
    pub value: Option<StringMatch>,
}

/// Compiles an RE2 pattern for a full match. Rust's `regex` has RE2's syntax and guarantees
/// (linear time, no backreferences), so what Envoy accepts compiles here too.
pub fn full_regex(field: &str, r: &RegexMatcher) -> Result<Regex> {
    Regex::new(&format!("^(?:{})$", r.regex))
        .map_err(|e| ConfigError::new(field, format!("invalid regex {:?}: {e}", r.regex)))
}

impl TryFrom<&StringMatcher> for StringMatch {
    type Error = ConfigError;

    fn try_from(m: &StringMatcher) -> Result<Self> {
        let pattern = match &m.match_pattern {
            Some(MatchPattern::Exact(s)) => Pattern::Exact(s.clone()),
            Some(MatchPattern::Prefix(s)) => Pattern::Prefix(s.clone()),
            Some(MatchPattern::Suffix(s)) => Pattern::Suffix(s.clone()),
            Some(MatchPattern::Contains(s)) => Pattern::Contains(s.clone()),
            Some(MatchPattern::SafeRegex(r)) => Pattern::Regex(full_regex("safe_regex", r)?),
            Some(MatchPattern::Custom(_)) => return Err(ConfigError::unsupported("custom")),
            None => return Err(ConfigError::new("match_pattern", "a pattern is required")),
        };
        let ignore_case = m.ignore_case && !matches!(pattern, Pattern::Regex(_));
        let pattern = match pattern {
            Pattern::Exact(s) if ignore_case => Pattern::Exact(s.to_ascii_lowercase()),
            Pattern::Prefix(s) if ignore_case => Pattern::Prefix(s.to_ascii_lowercase()),
            Pattern::Suffix(s) if ignore_case => Pattern::Suffix(s.to_ascii_lowercase()),
            Pattern::Contains(s) if ignore_case => Pattern::Contains(s.to_ascii_lowercase()),
            p => p,
        };
        Ok(StringMatch { pattern, ignore_case })
    }
}

impl TryFrom<&EnvoyRouteMatch> for RouteMatch {
    type Error = ConfigError;

    fn try_from(m: &EnvoyRouteMatch) -> Result<Self> {
        let case_sensitive = m.case_sensitive.as_ref().is_none_or(|b| b.value);
        let path = match &m.path_specifier {
            Some(PathSpecifier::Prefix(p)) => PathMatch::Prefix(fold(p, case_sensitive)),
            Some(PathSpecifier::Path(p)) => PathMatch::Exact(fold(p, case_sensitive)),
            Some(PathSpecifier::SafeRegex(r)) => PathMatch::Regex(full_regex("safe_regex", r)?),
            Some(PathSpecifier::ConnectMatcher(_)) => PathMatch::Connect,
            Some(PathSpecifier::PathSeparatedPrefix(_)) => {
                return Err(ConfigError::unsupported("path_separated_prefix"));
            }
            Some(PathSpecifier::PathMatchPolicy(_)) => return Err(ConfigError::unsupported("path_match_policy")),
            None => return Err(ConfigError::new("path_specifier", "a path condition is required")),
        };
        let headers = each("headers", &m.headers, header)?;
        let query = each("query_parameters", &m.query_parameters, query_param)?;
        let rest = EnvoyRouteMatch {
            case_sensitive: None,
            headers: Vec::new(),
            query_parameters: Vec::new(),
            path_specifier: None,
            ..m.clone()
        };
        no_other_fields(&rest)?;
        Ok(RouteMatch { path, case_sensitive, headers, query })
    }
}

fn fold(p: &str, case_sensitive: bool) -> String {
    if case_sensitive { p.to_string() } else { p.to_ascii_lowercase() }
}

#[allow(deprecated)]
fn header(h: &HeaderMatcher) -> Result<HeaderMatch> {
    let exact = |s: &String| StringMatch { pattern: Pattern::Exact(s.clone()), ignore_case: false };
    let check = match &h.header_match_specifier {
        Some(HeaderMatchSpecifier::PresentMatch(p)) => HeaderCheck::Present(*p),
        Some(HeaderMatchSpecifier::StringMatch(s)) => {
            HeaderCheck::Value(StringMatch::try_from(s).map_err(|e| e.within("string_match"))?)
        }
        Some(HeaderMatchSpecifier::ExactMatch(s)) => HeaderCheck::Value(exact(s)),
        Some(HeaderMatchSpecifier::PrefixMatch(s)) => {
            HeaderCheck::Value(StringMatch { pattern: Pattern::Prefix(s.clone()), ignore_case: false })
        }
        Some(HeaderMatchSpecifier::SuffixMatch(s)) => {
            HeaderCheck::Value(StringMatch { pattern: Pattern::Suffix(s.clone()), ignore_case: false })
        }
        Some(HeaderMatchSpecifier::ContainsMatch(s)) => {
            HeaderCheck::Value(StringMatch { pattern: Pattern::Contains(s.clone()), ignore_case: false })
        }
        Some(HeaderMatchSpecifier::SafeRegexMatch(r)) => HeaderCheck::Value(StringMatch {
            pattern: Pattern::Regex(full_regex("safe_regex_match", r)?),
            ignore_case: false,
        }),
        Some(HeaderMatchSpecifier::RangeMatch(r)) => HeaderCheck::Range(r.start, r.end),
        // Envoy: no specifier means "present".
        None => HeaderCheck::Present(true),
    };
    let name = h.name.to_ascii_lowercase();
    if name == "host" {
        // Envoy keeps the authority only as `:authority`.
        return Err(ConfigError::new("name", "match :authority instead of host"));
    }
    Ok(HeaderMatch { name, check, invert: h.invert_match, missing_as_empty: h.treat_missing_header_as_empty })
}

fn query_param(q: &QueryParameterMatcher) -> Result<QueryMatch> {
    let value = match &q.query_parameter_match_specifier {
        Some(QueryParameterMatchSpecifier::StringMatch(s)) => {
            Some(StringMatch::try_from(s).map_err(|e| e.within("string_match"))?)
        }
        Some(QueryParameterMatchSpecifier::PresentMatch(_)) | None => None,
    };
    Ok(QueryMatch { name: q.name.clone(), value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::config::core::v3::RuntimeFractionalPercent;

    #[test]
    fn regexes_compile_anchored_and_bad_ones_are_refused() {
        let ok = RegexMatcher { regex: "/api/v[0-9]+".into(), engine_type: None };
        let re = full_regex("safe_regex", &ok).expect("compiles");
        assert!(re.is_match("/api/v2") && !re.is_match("/api/v2/x"));
        let bad = RegexMatcher { regex: "(".into(), engine_type: None };
        assert!(full_regex("safe_regex", &bad).expect_err("refused").to_string().starts_with("safe_regex: invalid"));
    }

    #[test]
    fn unsupported_match_fields_are_named() {
        let m = EnvoyRouteMatch {
            path_specifier: Some(PathSpecifier::Prefix("/".into())),
            runtime_fraction: Some(RuntimeFractionalPercent::default()),
            ..Default::default()
        };
        let e = RouteMatch::try_from(&m).expect_err("runtime_fraction is not supported");
        assert!(e.to_string().contains("envoy.config.route.v3.RouteMatch"), "{e}");
    }
}

//! Envoy's response flags (`%RESPONSE_FLAGS%` short names, `%RESPONSE_FLAGS_LONG%` long
//! names) as one table: what each means, its usual causes in an Istio-style mesh, what to check
//! (Strait commands, with `{placeholders}` filled from the access-log line) and which Istio
//! fields decide it. The set and order are Envoy 1.40's `CORE_RESPONSE_FLAGS`
//! (source/common/stream_info/utility.h): the 28 flags Istio's docs list plus `DR`
//! (DownstreamRemoteReset) and `UDO` (UnconditionalDropOverload), added in Envoy 1.32–1.33.
//!
//! The table is split in two files by theme, `upstream` (connections, routing, upstream
//! failures) and `request` (policies, clients, filters); [`all`] walks it in Envoy's order.
//!
//! Placeholders: `{proxy}` the proxy that logged the line (`POD.NAMESPACE`), `{cluster}` the
//! upstream cluster, `{host}` the destination host, `{port}`, `{upstream}` the upstream
//! address, `{authority}`, `{dir}` the config directory.

mod request;
mod upstream;

use serde::Serialize;

/// Where a flag can appear.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Scope {
    /// HTTP requests and TCP connections.
    #[serde(rename = "HTTP and TCP")]
    HttpAndTcp,
    /// HTTP requests only.
    #[serde(rename = "HTTP")]
    Http,
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Scope::HttpAndTcp => "HTTP and TCP",
            Scope::Http => "HTTP only",
        })
    }
}

/// One response flag.
#[derive(Debug, Serialize)]
pub struct Flag {
    /// `UH`.
    pub short: &'static str,
    /// `NoHealthyUpstream`.
    pub long: &'static str,
    /// HTTP and TCP, or HTTP only.
    pub scope: Scope,
    /// The status the client usually sees, and the body when the proxy writes one.
    pub status: &'static str,
    /// What happened, in plain words.
    pub meaning: &'static str,
    /// Usual causes, most common first.
    pub causes: &'static [&'static str],
    /// What to check: commands with `{placeholders}`, a `#` comment saying what to look for.
    pub checks: &'static [&'static str],
    /// Istio (and Kubernetes) fields that decide this outcome.
    pub fields: &'static [&'static str],
}

/// Finds a flag by its short (`uh` too) or long (`NoHealthyUpstream`) name.
pub fn lookup(name: &str) -> Option<&'static Flag> {
    upstream::FLAGS
        .iter()
        .chain(request::FLAGS.iter())
        .find(|f| f.short.eq_ignore_ascii_case(name) || f.long.eq_ignore_ascii_case(name))
}

/// The closest known name to an unknown one, for "did you mean".
pub fn suggest(name: &str) -> Option<&'static str> {
    let names = all().flat_map(|f| [f.short, f.long]);
    strait_model::suggest::did_you_mean(name, names).map(|n| lookup(n).map_or(n, |f| f.short))
}

const ENDPOINTS: &str = "strait proxy-config endpoints {proxy}   # rows of {cluster}: none = no endpoints, \
                         UNHEALTHY = not ready or ejected";
const CLUSTERS_JSON: &str = "strait proxy-config clusters {proxy} -o json   # the settings of {cluster}";
const ROUTES_JSON: &str = "strait proxy-config routes {proxy} -o json   # the route that picked {cluster}";
const LISTENERS_JSON: &str = "strait proxy-config listeners {proxy} -o json   # the HTTP filters of the listener";
const ANALYZE: &str = "strait analyze -f {dir}   # config problems Istio's analyzers and Strait's checks know";
const STATUS: &str = "strait proxy-status   # is {proxy} SYNCED for every type, or did it NACK?";

/// Envoy 1.40's flag order (`CORE_RESPONSE_FLAGS`), the order it prints several flags in.
const ENVOY_ORDER: [&str; 30] = [
    "LH", "UH", "UT", "LR", "UR", "UF", "UC", "UO", "NR", "DI", "FI", "RL", "UAEX", "RLSE", "DC", "URX", "SI", "IH",
    "DPE", "UMSDR", "RFCF", "NFCF", "DT", "UPE", "NC", "OM", "DF", "DO", "DR", "UDO",
];

/// Every flag Envoy 1.40 logs, in its order.
pub fn all() -> impl Iterator<Item = &'static Flag> {
    ENVOY_ORDER.iter().filter_map(|s| lookup(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found_both_ways() {
        let flags: Vec<&Flag> = all().collect();
        assert_eq!(flags.len(), 30, "every flag of the order is in the table");
        for (i, f) in flags.iter().enumerate() {
            assert!(flags[..i].iter().all(|g| g.short != f.short && g.long != f.long), "{} twice", f.short);
            assert_eq!(lookup(f.short).map(|g| g.long), Some(f.long));
            assert_eq!(lookup(f.long).map(|g| g.short), Some(f.short));
            assert!(!f.causes.is_empty() && !f.checks.is_empty() && !f.fields.is_empty(), "{}", f.short);
        }
        assert_eq!(lookup("uh").map(|f| f.short), Some("UH"));
        assert!(lookup("USNR").is_none(), "not an Envoy flag");
        assert_eq!(suggest("UHH"), Some("UH"));
        assert_eq!(suggest("NoHealthyUpstreams"), Some("UH"));
    }
}

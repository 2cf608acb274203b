//! Routing, free of I/O: a compiled [`RouteTable`] plus the parts of a request that routing
//! looks at ([`Request`]) give a [`Plan`]: the virtual host and route that matched and the
//! [`Decision`] (forward to a cluster — weighted clusters picked exactly by smooth WRR —,
//! redirect with its `location`, or a direct response), with what goes with it: the route's
//! fault, timeout and retry policy, the header mutations in Envoy's order and the rewritten
//! path. No match is Envoy's 404 `NR`. Matching rules are in [`matching`].

pub mod matching;

use crate::config::action::{
    Action, Direct, Forward, HeaderMutations, PathRedirect, Redirect, Targets, WeightedTarget,
};
use crate::config::matcher::PathMatch;
use crate::config::route_table::{Route, RouteTable, VirtualHost};
use http::{HeaderMap, HeaderValue, Method};
use std::borrow::Cow;

/// What routing reads from a request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Method.
    pub method: &'a Method,
    /// `:authority` (or `Host`).
    pub authority: &'a str,
    /// Path with query (`:path`).
    pub path: &'a str,
    /// `http` or `https`.
    pub scheme: &'a str,
    /// Headers.
    pub headers: &'a HeaderMap,
}

/// The outcome of routing one request.
#[derive(Debug)]
pub struct Plan<'a> {
    /// The route table.
    pub table: &'a RouteTable,
    /// The virtual host.
    pub vhost: &'a VirtualHost,
    /// The route.
    pub route: &'a Route,
    /// What to do.
    pub decision: Decision<'a>,
}

/// What a matched route does with this request.
#[derive(Debug)]
pub enum Decision<'a> {
    /// Proxy to `cluster` (for weighted clusters, `target` is the one picked).
    Forward {
        /// The route action.
        forward: &'a Forward,
        /// The cluster.
        cluster: &'a str,
        /// The weighted cluster picked, if any.
        target: Option<&'a WeightedTarget>,
    },
    /// Redirect.
    Redirect {
        /// The `location` header.
        location: String,
        /// Status.
        status: u16,
    },
    /// Direct response.
    Direct(&'a Direct),
}

/// Routes `req` through `table` (None: no virtual host or no route matched).
pub fn plan<'a>(table: &'a RouteTable, req: &Request<'_>) -> Option<Plan<'a>> {
    let vhost = table.vhost(req.authority)?;
    if let Some(route) = &vhost.ssl_redirect
        && req.headers.get("x-forwarded-proto").is_none_or(|p| p.as_bytes() != b"https")
    {
        // Envoy's SSL redirect keeps the `Host` as sent, port included.
        let location = format!("https://{}{}", req.authority, req.path);
        return Some(Plan { table, vhost, route, decision: Decision::Redirect { location, status: 301 } });
    }
    let route = vhost.routes.iter().find(|r| matching::route_matches(&r.matcher, req))?;
    let decision = match &route.action {
        Action::Forward(forward) => match &forward.targets {
            Targets::Cluster(name) => Decision::Forward { forward, cluster: name, target: None },
            Targets::Weighted(targets, picker) => {
                let target = targets.get(picker.pick())?;
                Decision::Forward { forward, cluster: &target.name, target: Some(target) }
            }
        },
        Action::Redirect(r) => Decision::Redirect { location: location(r, &route.matcher.path, req), status: r.status },
        Action::Direct(d) => Decision::Direct(d),
    };
    Some(Plan { table, vhost, route, decision })
}

impl<'a> Plan<'a> {
    /// Header mutations in the order Envoy applies them (weighted cluster, route, virtual
    /// host, route configuration), so the outermost level wins an overwrite.
    pub fn mutations(&self) -> impl Iterator<Item = &'a HeaderMutations> {
        let target = match &self.decision {
            Decision::Forward { target: Some(t), .. } => Some(&t.headers),
            _ => None,
        };
        target.into_iter().chain([&self.route.headers, &self.vhost.headers, &self.table.headers])
    }

    /// The `:authority` to send upstream, if the route rewrites it.
    pub fn host_rewrite(&self) -> Option<&'a HeaderValue> {
        match &self.decision {
            Decision::Forward { target: Some(WeightedTarget { host_rewrite: Some(h), .. }), .. } => Some(h),
            Decision::Forward { forward, .. } => forward.host_rewrite.as_ref(),
            _ => None,
        }
    }

    /// The path to send upstream: the prefix or regex rewrite applied to `path` (with query).
    pub fn upstream_path<'p>(&self, path: &'p str) -> Cow<'p, str> {
        let Decision::Forward { forward, .. } = &self.decision else { return Cow::Borrowed(path) };
        if let (Some(new), PathMatch::Prefix(prefix)) = (&forward.prefix_rewrite, &self.route.matcher.path) {
            let matched = prefix.len().min(path.len());
            return Cow::Owned(format!("{new}{}", &path[matched..]));
        }
        if let Some((re, with)) = &forward.regex_rewrite {
            let (only, query) = split_query(path);
            let rewritten = re.replace_all(only, with.as_str());
            return Cow::Owned(format!("{rewritten}{query}"));
        }
        Cow::Borrowed(path)
    }
}

/// `(path, "?query")` (the query keeps its `?`).
pub fn split_query(path: &str) -> (&str, &str) {
    match path.find('?') {
        Some(i) => path.split_at(i),
        None => (path, ""),
    }
}

/// `host` and optional port of an authority (`[v6]:port` aware).
fn split_port(authority: &str) -> (&str, Option<&str>) {
    match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => (&authority[..i], Some(&authority[i + 1..])),
        _ => (authority, None),
    }
}

/// The redirect target, built as Envoy's `RouteEntryImplBase::newUri` does.
fn location(r: &Redirect, matched: &PathMatch, req: &Request<'_>) -> String {
    let scheme = r.scheme.as_deref().unwrap_or(req.scheme);
    let (orig_host, orig_port) = split_port(req.authority);
    let host = r.host.as_deref().unwrap_or(orig_host);
    let port = if r.port != 0 {
        Some(r.port.to_string())
    } else if r.host.is_some() {
        None
    } else {
        orig_port.map(str::to_string)
    };
    let port = port.filter(|p| !((scheme == "http" && p == "80") || (scheme == "https" && p == "443")));
    let (path, query) = split_query(req.path);
    let new_path = match (&r.path, matched) {
        (Some(PathRedirect::Path(p)), _) => p.clone(),
        (Some(PathRedirect::Prefix(p)), PathMatch::Prefix(prefix)) => {
            format!("{p}{}", path.get(prefix.len().min(path.len())..).unwrap_or_default())
        }
        _ => path.to_string(),
    };
    let query = if r.strip_query || new_path.contains('?') { "" } else { query };
    match port {
        Some(port) => format!("{scheme}://{host}:{port}{new_path}{query}"),
        None => format!("{scheme}://{host}{new_path}{query}"),
    }
}

#[cfg(test)]
mod tests;

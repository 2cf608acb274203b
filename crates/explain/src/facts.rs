//! What a parsed line says once its fields are combined: the flags looked up, the direction,
//! the destination (host, port, subset) from the cluster name, else the SNI, the authority or
//! the original destination address, and the failure class from the details and transport
//! failure reason. No config involved: this is what the line alone proves.

use crate::cluster::{ClusterRef, parse_sni, service_and_namespace, split_addr, split_authority};
use crate::details::{Failure, classify};
use crate::flags::{self, Flag};
use crate::log_line::AccessLine;
use serde::Serialize;

/// Which side of the proxy the line is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// The proxy sent traffic out of its pod (or a gateway sent it into the mesh).
    Outbound,
    /// The proxy received traffic for its own app.
    Inbound,
    /// The line does not say.
    Unknown,
}

/// A flag on the line that Envoy does not define.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnknownFlag {
    /// As written.
    pub name: String,
    /// The closest known flag.
    pub did_you_mean: Option<&'static str>,
}

/// The line's fields, combined.
#[derive(Debug)]
pub struct Facts {
    /// The line (a synthetic one when only flags or a reply body were given).
    pub line: AccessLine,
    /// True when only flags were given: no line to read objects from.
    pub flags_only: bool,
    /// The known flags, in the line's order.
    pub flags: Vec<&'static Flag>,
    /// Flags Envoy does not define.
    pub unknown_flags: Vec<UnknownFlag>,
    /// The upstream cluster, by Istio's naming.
    pub cluster: Option<ClusterRef>,
    /// Outbound, inbound or unknown.
    pub direction: Direction,
    /// The destination host (FQDN when the cluster or SNI names it).
    pub host: Option<String>,
    /// The destination service port.
    pub port: Option<u32>,
    /// The subset the cluster names.
    pub subset: Option<String>,
    /// The failure class.
    pub failure: Option<Failure>,
    /// BlackHoleCluster, or REGISTRY_ONLY's `block_all` virtual host.
    pub black_hole: bool,
    /// PassthroughCluster or `allow_any`.
    pub passthrough: bool,
}

impl Facts {
    /// From a parsed (or synthetic) line.
    pub fn new(line: AccessLine, flags_only: bool) -> Facts {
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        for name in &line.flags {
            match flags::lookup(name) {
                Some(f) if !known.iter().any(|k: &&Flag| k.short == f.short) => known.push(f),
                Some(_) => {}
                None => unknown.push(UnknownFlag { name: name.clone(), did_you_mean: flags::suggest(name) }),
            }
        }
        let cluster = line.upstream_cluster.as_deref().map(ClusterRef::parse);
        let route = line.route_name.as_deref();
        let black_hole = cluster == Some(ClusterRef::BlackHole) || route == Some("block_all");
        let passthrough = cluster == Some(ClusterRef::Passthrough) || route == Some("allow_any");
        let failure = classify(line.details.as_deref(), line.transport_failure.as_deref());
        let mut facts = Facts {
            flags: known,
            unknown_flags: unknown,
            direction: Direction::Unknown,
            host: None,
            port: None,
            subset: None,
            failure,
            black_hole,
            passthrough,
            cluster,
            flags_only,
            line,
        };
        facts.locate();
        facts
    }

    /// Direction and destination from the cluster, SNI, authority and addresses, in that order.
    fn locate(&mut self) {
        match &self.cluster {
            Some(ClusterRef::Outbound { port, subset, host }) => {
                (self.host, self.port, self.subset) = (Some(host.clone()), Some(*port), subset.clone());
                self.direction = Direction::Outbound;
            }
            Some(ClusterRef::Inbound { port, host }) => {
                (self.host, self.port) = (host.clone(), Some(*port));
                self.direction = Direction::Inbound;
            }
            Some(ClusterRef::InboundPassthrough) => self.direction = Direction::Inbound,
            Some(ClusterRef::BlackHole | ClusterRef::Passthrough) => self.direction = Direction::Outbound,
            _ if self.black_hole || self.passthrough => self.direction = Direction::Outbound,
            // Only an inbound listener (mTLS, declared ports) refuses a connection this way.
            _ if self.line.details.as_deref() == Some("filter_chain_not_found") => self.direction = Direction::Inbound,
            _ => {}
        }
        if let Some((port, subset, host)) = self.line.requested_server_name.as_deref().and_then(parse_sni) {
            // Inbound mTLS: the client's SNI names the service it meant.
            self.host.get_or_insert(host);
            self.subset = self.subset.take().or(subset);
            if self.direction == Direction::Inbound {
                self.port = Some(port);
            } else {
                self.port.get_or_insert(port);
            }
        }
        if let Some(authority) = self.line.authority.as_deref() {
            let (host, port) = split_authority(authority);
            self.host.get_or_insert_with(|| host.to_string());
            if let Some(p) = port {
                self.port.get_or_insert(p);
            }
        }
        if self.host.is_none()
            && let Some(sni) = self.line.requested_server_name.as_deref()
        {
            self.host = Some(sni.to_string());
        }
        if self.port.is_none() {
            self.port = self.destination().map(|(_, p)| p);
        }
    }

    /// True when the line carries this flag (short name).
    pub fn has(&self, short: &str) -> bool {
        self.flags.iter().any(|f| f.short == short)
    }

    /// True when the line has no flag at all.
    pub fn no_flags(&self) -> bool {
        self.flags.is_empty() && self.unknown_flags.is_empty()
    }

    /// The original destination (`%DOWNSTREAM_LOCAL_ADDRESS%`) as (IP, port).
    pub fn destination(&self) -> Option<(&str, u32)> {
        self.line.downstream_local.as_deref().and_then(split_addr)
    }

    /// The upstream address picked, as (IP, port).
    pub fn upstream(&self) -> Option<(&str, u32)> {
        self.line.upstream_host.as_deref().and_then(split_addr)
    }

    /// The destination's service name and namespace, when the host is a Kubernetes FQDN.
    pub fn service_name(&self) -> Option<(&str, Option<&str>)> {
        self.host.as_deref().map(service_and_namespace)
    }

    /// True when the response status came from the proxy (a flag explains it) rather than the app.
    pub fn local_reply(&self) -> bool {
        !self.flags.is_empty() || self.line.details.as_deref().is_some_and(|d| d != "via_upstream")
    }

    /// `reviews.bookinfo:9080 (subset v1)`: how causes name the destination.
    pub fn target(&self) -> String {
        let mut out = match self.service_name() {
            Some((name, Some(ns))) => format!("{name}.{ns}"),
            Some((host, None)) => host.to_string(),
            None => match self.destination() {
                Some((ip, _)) => ip.to_string(),
                None => "the destination".to_string(),
            },
        };
        if let Some(port) = self.port {
            out = format!("{out}:{port}");
        }
        if let Some(subset) = &self.subset {
            out = format!("{out} (subset {subset})");
        }
        out
    }
}

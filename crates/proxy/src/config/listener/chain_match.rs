//! Filter chain selection: `FilterChainMatch` → [`ChainMatch`], and Envoy's selection order over
//! a listener's chains ([`FilterChains::select`]). The criteria are applied one after the
//! other — destination port, destination IP (longest prefix), server name (exact, then the
//! longest `*.suffix`), transport protocol, application protocols, directly connected source
//! IP, source type, source IP, source port — and at each step only the chains with the most
//! specific match go on; chains that leave the criterion empty go on only when no chain names
//! a matching value. There is no backtracking, as in Envoy: a connection whose port some
//! chains name but whose later criteria none of them match gets no chain (then the
//! `default_filter_chain`, or the connection is closed), even if a port-less chain would
//! have matched. Two chains with the same match are rejected, with Envoy's words.

use super::super::{ConfigError, Result, no_other_fields};
use envoy_types::pb::envoy::config::core::v3::CidrRange;
use envoy_types::pb::envoy::config::listener::v3::{FilterChainMatch, filter_chain_match::ConnectionSourceType};
use std::net::{IpAddr, SocketAddr};

/// What a connection offers to filter chain matching, once the listener filters ran.
#[derive(Debug, Clone)]
pub struct Connection<'a> {
    /// The local address (the original destination when it was restored).
    pub local: SocketAddr,
    /// The peer.
    pub remote: SocketAddr,
    /// SNI from the TLS inspector.
    pub server_name: Option<&'a str>,
    /// `tls` from the TLS inspector; `raw_buffer` when no inspector claimed the connection.
    pub transport_protocol: &'a str,
    /// ALPN offered (TLS inspector) or detected (`http/1.1`, `h2c` from the HTTP inspector).
    pub application_protocols: &'a [String],
}

/// A compiled `FilterChainMatch` (empty fields match anything).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainMatch {
    destination_port: Option<u16>,
    prefix_ranges: Vec<Cidr>,
    server_names: Vec<String>,
    transport_protocol: Option<String>,
    application_protocols: Vec<String>,
    direct_source_prefix_ranges: Vec<Cidr>,
    source_type: SourceType,
    source_prefix_ranges: Vec<Cidr>,
    source_ports: Vec<u16>,
}

/// `ConnectionSourceType`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum SourceType {
    #[default]
    Any,
    /// Loopback, or the same IP as the local address.
    Local,
    External,
}

/// An IP prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    ip: IpAddr,
    len: u8,
}

impl Cidr {
    fn compile(c: &CidrRange) -> Result<Cidr> {
        let ip: IpAddr = c
            .address_prefix
            .parse()
            .map_err(|_| ConfigError::new("address_prefix", format!("{:?} is not an IP", c.address_prefix)))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let len = c.prefix_len.as_ref().map_or(max, |l| l.value);
        let len = u8::try_from(len).ok().filter(|l| u32::from(*l) <= max).ok_or_else(|| {
            ConfigError::new("prefix_len", format!("{len} is not a prefix length for {}", c.address_prefix))
        })?;
        Ok(Cidr { ip, len })
    }

    /// Whether `ip` is in this prefix (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.ip, ip) {
            (IpAddr::V4(net), IpAddr::V4(a)) => prefix_eq(&net.octets(), &a.octets(), self.len),
            (IpAddr::V6(net), IpAddr::V6(a)) => prefix_eq(&net.octets(), &a.octets(), self.len),
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], len: u8) -> bool {
    let (whole, bits) = (usize::from(len / 8), len % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    bits == 0 || (a[whole] ^ b[whole]) >> (8 - bits) == 0
}

/// How well one chain meets one criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fit {
    /// It names values and none matches: the chain is out.
    Miss,
    /// It leaves the criterion empty: it goes on only if no chain fits specifically.
    Any,
    /// It matches, with this specificity (higher wins).
    Hit(u32),
}

fn best_prefix(ranges: &[Cidr], ip: IpAddr) -> Fit {
    if ranges.is_empty() {
        return Fit::Any;
    }
    ranges.iter().filter(|c| c.contains(ip)).map(|c| Fit::Hit(u32::from(c.len))).max().unwrap_or(Fit::Miss)
}

fn listed<T: PartialEq>(values: &[T], v: Option<&T>) -> Fit {
    match v {
        _ if values.is_empty() => Fit::Any,
        Some(v) if values.contains(v) => Fit::Hit(0),
        _ => Fit::Miss,
    }
}

/// The server-name fit: exact beats any wildcard, a longer `*.suffix` beats a shorter one.
fn server_name_fit(names: &[String], sni: Option<&str>) -> Fit {
    if names.is_empty() {
        return Fit::Any;
    }
    let Some(sni) = sni.map(str::to_ascii_lowercase) else { return Fit::Miss };
    let fit = |name: &String| match name.strip_prefix('*') {
        // `*.example.com` matches any name ending in `.example.com`, at any depth (Envoy).
        Some(suffix) if sni.len() > suffix.len() && sni.ends_with(suffix) => {
            Some(u32::try_from(suffix.len()).unwrap_or(u32::MAX))
        }
        Some(_) => None,
        None if *name == sni => Some(u32::MAX),
        None => None,
    };
    names.iter().filter_map(fit).max().map_or(Fit::Miss, Fit::Hit)
}

impl ChainMatch {
    /// How this chain meets criterion `step` (0..9, in Envoy's order) for `c`.
    fn fit(&self, step: usize, c: &Connection<'_>) -> Fit {
        match step {
            0 => self.destination_port.map_or(Fit::Any, |p| if p == c.local.port() { Fit::Hit(0) } else { Fit::Miss }),
            1 => best_prefix(&self.prefix_ranges, c.local.ip()),
            2 => server_name_fit(&self.server_names, c.server_name),
            3 => match &self.transport_protocol {
                None => Fit::Any,
                Some(t) if t == c.transport_protocol => Fit::Hit(0),
                Some(_) => Fit::Miss,
            },
            4 => {
                let offered = c.application_protocols;
                match self.application_protocols.is_empty() {
                    true => Fit::Any,
                    false if offered.iter().any(|p| self.application_protocols.contains(p)) => Fit::Hit(0),
                    false => Fit::Miss,
                }
            }
            // Without the PROXY protocol the direct source is the source.
            5 => best_prefix(&self.direct_source_prefix_ranges, c.remote.ip()),
            6 => match self.source_type {
                SourceType::Any => Fit::Any,
                t if (t == SourceType::Local) == is_local(c) => Fit::Hit(0),
                _ => Fit::Miss,
            },
            7 => best_prefix(&self.source_prefix_ranges, c.remote.ip()),
            _ => listed(&self.source_ports, Some(&c.remote.port())),
        }
    }
}

fn is_local(c: &Connection<'_>) -> bool {
    c.remote.ip().is_loopback() || c.remote.ip() == c.local.ip()
}

/// Envoy's criteria, in order.
const STEPS: usize = 9;

/// Picks among `matches` (by index) the chain for `c`, if any.
pub fn select(matches: &[&ChainMatch], c: &Connection<'_>) -> Option<usize> {
    let mut candidates: Vec<usize> = (0..matches.len()).collect();
    for step in 0..STEPS {
        let fits: Vec<Fit> = candidates.iter().map(|&i| matches[i].fit(step, c)).collect();
        let best = fits.iter().copied().max()?;
        if best == Fit::Miss {
            return None;
        }
        candidates = candidates.into_iter().zip(fits).filter(|(_, f)| *f == best).map(|(i, _)| i).collect();
    }
    candidates.first().copied()
}

impl TryFrom<&FilterChainMatch> for ChainMatch {
    type Error = ConfigError;

    fn try_from(m: &FilterChainMatch) -> Result<Self> {
        let port = |p: u32| u16::try_from(p).map_err(|_| ConfigError::new("destination_port", "port out of range"));
        let cidrs = |field: &str, ranges: &[CidrRange]| super::super::each(field, ranges, Cidr::compile);
        let source_type = match ConnectionSourceType::try_from(m.source_type) {
            Ok(ConnectionSourceType::Any) => SourceType::Any,
            Ok(ConnectionSourceType::SameIpOrLoopback) => SourceType::Local,
            Ok(ConnectionSourceType::External) => SourceType::External,
            Err(_) => return Err(ConfigError::new("source_type", format!("unknown value {}", m.source_type))),
        };
        let source_ports = m
            .source_ports
            .iter()
            .map(|p| u16::try_from(*p).map_err(|_| ConfigError::new("source_ports", "port out of range")))
            .collect::<Result<Vec<u16>>>()?;
        let compiled = ChainMatch {
            destination_port: m.destination_port.as_ref().map(|p| port(p.value)).transpose()?,
            prefix_ranges: cidrs("prefix_ranges", &m.prefix_ranges)?,
            server_names: m.server_names.iter().map(|s| s.to_ascii_lowercase()).collect(),
            transport_protocol: Some(m.transport_protocol.clone()).filter(|t| !t.is_empty()),
            application_protocols: m.application_protocols.clone(),
            direct_source_prefix_ranges: cidrs("direct_source_prefix_ranges", &m.direct_source_prefix_ranges)?,
            source_type,
            source_prefix_ranges: cidrs("source_prefix_ranges", &m.source_prefix_ranges)?,
            source_ports,
        };
        if let Some(bad) = compiled.server_names.iter().find(|n| n.contains('*') && !n.starts_with("*.")) {
            // Envoy's words.
            let why = format!("partial wildcards are not supported in \"server_names\": {bad}");
            return Err(ConfigError::new("server_names", why));
        }
        let rest = FilterChainMatch {
            destination_port: None,
            prefix_ranges: Vec::new(),
            server_names: Vec::new(),
            transport_protocol: String::new(),
            application_protocols: Vec::new(),
            direct_source_prefix_ranges: Vec::new(),
            source_type: 0,
            source_prefix_ranges: Vec::new(),
            source_ports: Vec::new(),
            ..m.clone()
        };
        // Left: `address_suffix` and `suffix_len`, which Envoy itself does not implement.
        no_other_fields(&rest)?;
        Ok(compiled)
    }
}

#[cfg(test)]
#[path = "chain_match_tests.rs"]
mod tests;

//! Metrics, fed by completion records ([`crate::access_log::Sink::complete`], the one place
//! that also writes the access log line): Istio's standard metrics (`istio_requests_total`,
//! `istio_request_duration_milliseconds`, `istio_request_bytes`, `istio_response_bytes`,
//! `istio_tcp_{sent,received}_bytes_total`, `istio_tcp_connections_{opened,closed}_total`)
//! with Istio's labels ([`labels`]) and Envoy's default histogram buckets (Istio sets none of
//! its own), served on `IP:15090/stats/prometheus` and the admin API; and the Envoy counters
//! the records tell ([`envoy`]). Label values come from node metadata and from the cluster
//! and endpoint metadata of the xDS resources ([`index`], refreshed after every applied
//! response).
//!
//! Hot path: a request's series (its four metrics plus its cluster's and connection
//! manager's counters) is found in one cache lookup keyed by what the labels depend on,
//! hashed without allocating; the label set is derived, and the prometheus-client family
//! entries created, only on a miss. Request and response sizes are body bytes (the access
//! log's `BYTES_RECEIVED`/`BYTES_SENT`), where Istio counts bytes on the wire.

pub mod envoy;
pub mod index;
pub mod labels;

use crate::access_log::Record;
use arc_swap::ArcSwap;
use envoy::{ClusterStats, EnvoyStats, HttpStats, TcpStats};
use index::Index;
use labels::{Labels, Local, Peer};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

/// Envoy's default histogram buckets, which Istio's metrics use (in their own unit: ms, bytes).
pub const BUCKETS: [f64; 19] = [
    0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0, 60000.0, 300000.0,
    600000.0, 1800000.0, 3600000.0,
];

/// Counters, registered without the `_total` that the exposition appends.
const COUNTERS: [&str; 5] = [
    "istio_requests",
    "istio_tcp_connections_opened",
    "istio_tcp_connections_closed",
    "istio_tcp_sent_bytes",
    "istio_tcp_received_bytes",
];

/// A cached series beyond this many is not kept (a passthrough flood of distinct `Host`
/// headers must not grow memory without bound); the families themselves keep every series.
const CACHE_LIMIT: usize = 10_000;

type Hist = Family<Labels, Histogram, fn() -> Histogram>;

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// The metrics of one HTTP label set, and the Envoy counters its requests feed.
#[derive(Debug)]
struct HttpSeries {
    requests: Counter,
    duration: Histogram,
    request_bytes: Histogram,
    response_bytes: Histogram,
    cluster: Option<Arc<ClusterStats>>,
    manager: Option<Arc<HttpStats>>,
}

/// The metrics of one TCP label set, and the Envoy counters its connections feed.
#[derive(Debug)]
struct TcpSeries {
    opened: Counter,
    closed: Counter,
    sent: Counter,
    received: Counter,
    cluster: Option<Arc<ClusterStats>>,
    proxy: Option<Arc<TcpStats>>,
}

#[derive(Debug)]
enum Series {
    Http(HttpSeries),
    Tcp(TcpSeries),
}

/// What a record's labels depend on, borrowed from the record.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Key<'a> {
    prefix: Option<&'a str>,
    cluster: Option<&'a str>,
    host: Option<SocketAddr>,
    authority: Option<&'a str>,
    route: Option<&'a str>,
    status: u16,
    flags: &'a str,
    grpc: Option<Option<u32>>,
    tcp: bool,
}

impl<'a> Key<'a> {
    fn of(r: &'a Record) -> Self {
        let tcp = r.protocol.is_none();
        // Only the special routes change the labels.
        let route = r.route_name.as_deref().filter(|n| matches!(*n, "allow_any" | "block_all"));
        Key {
            prefix: r.meta.stat_prefix.as_deref(),
            cluster: r.upstream_cluster.as_deref(),
            host: r.upstream_host,
            authority: if tcp { None } else { r.authority.as_deref() },
            route,
            status: if tcp { 0 } else { r.status },
            flags: r.flags,
            grpc: r.meta.grpc.then(|| labels::grpc_status(r.meta.grpc_status, r.status)),
            tcp,
        }
    }

    fn hash64(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.hash(&mut h);
        h.finish()
    }

    fn owned(&self) -> OwnedKey {
        OwnedKey {
            prefix: self.prefix.map(str::to_string),
            cluster: self.cluster.map(str::to_string),
            host: self.host,
            authority: self.authority.map(str::to_string),
            route: self.route.map(str::to_string),
            status: self.status,
            flags: self.flags.to_string(),
            grpc: self.grpc,
            tcp: self.tcp,
        }
    }
}

#[derive(Debug)]
struct OwnedKey {
    prefix: Option<String>,
    cluster: Option<String>,
    host: Option<SocketAddr>,
    authority: Option<String>,
    route: Option<String>,
    status: u16,
    flags: String,
    grpc: Option<Option<u32>>,
    tcp: bool,
}

impl OwnedKey {
    fn borrowed(&self) -> Key<'_> {
        Key {
            prefix: self.prefix.as_deref(),
            cluster: self.cluster.as_deref(),
            host: self.host,
            authority: self.authority.as_deref(),
            route: self.route.as_deref(),
            status: self.status,
            flags: &self.flags,
            grpc: self.grpc,
            tcp: self.tcp,
        }
    }
}

type Cache = HashMap<u64, Vec<(OwnedKey, Arc<Series>)>>;

/// Istio's metrics and Envoy's counters.
#[derive(Debug)]
pub struct Telemetry {
    local: Local,
    registry: Registry,
    requests: Family<Labels, Counter>,
    duration: Hist,
    request_bytes: Hist,
    response_bytes: Hist,
    tcp_opened: Family<Labels, Counter>,
    tcp_closed: Family<Labels, Counter>,
    tcp_sent: Family<Labels, Counter>,
    tcp_received: Family<Labels, Counter>,
    index: ArcSwap<Index>,
    cache: RwLock<Cache>,
    envoy: EnvoyStats,
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry::new(Local::default())
    }
}

impl Telemetry {
    /// Metrics for the workload `local`.
    pub fn new(local: Local) -> Self {
        let hist = || Hist::new_with_constructor(histogram as fn() -> Histogram);
        let mut t = Telemetry {
            local,
            registry: Registry::default(),
            requests: Family::default(),
            duration: hist(),
            request_bytes: hist(),
            response_bytes: hist(),
            tcp_opened: Family::default(),
            tcp_closed: Family::default(),
            tcp_sent: Family::default(),
            tcp_received: Family::default(),
            index: ArcSwap::from_pointee(Index::default()),
            cache: RwLock::new(HashMap::new()),
            envoy: EnvoyStats::default(),
        };
        let r = &mut t.registry;
        r.register("istio_requests", "Requests.", t.requests.clone());
        r.register("istio_request_duration_milliseconds", "Request durations.", t.duration.clone());
        r.register("istio_request_bytes", "Request body sizes.", t.request_bytes.clone());
        r.register("istio_response_bytes", "Response body sizes.", t.response_bytes.clone());
        r.register("istio_tcp_connections_opened", "TCP connections opened.", t.tcp_opened.clone());
        r.register("istio_tcp_connections_closed", "TCP connections closed.", t.tcp_closed.clone());
        r.register("istio_tcp_sent_bytes", "Bytes sent to the downstream.", t.tcp_sent.clone());
        r.register("istio_tcp_received_bytes", "Bytes received from the downstream.", t.tcp_received.clone());
        t
    }

    /// This proxy's workload labels.
    pub fn local(&self) -> &Local {
        &self.local
    }

    /// Counts a finished request or closed connection.
    pub fn complete(&self, r: &Record) {
        match &*self.series(r) {
            Series::Http(s) => {
                s.requests.inc();
                s.duration.observe(r.duration_ms as f64);
                s.request_bytes.observe(r.bytes_received as f64);
                s.response_bytes.observe(r.bytes_sent as f64);
                if let Some(c) = &s.cluster {
                    c.http(r);
                }
                if let Some(m) = &s.manager {
                    EnvoyStats::http_record(m, r);
                }
            }
            Series::Tcp(s) => {
                s.closed.inc();
                s.sent.inc_by(r.bytes_sent);
                s.received.inc_by(r.bytes_received);
                if let Some(c) = &s.cluster {
                    c.tcp(r);
                }
                if let Some(p) = &s.proxy {
                    EnvoyStats::tcp_record(p, r);
                }
            }
        }
    }

    /// Counts a TCP connection opened (once its upstream connect finished).
    pub fn tcp_opened(&self, r: &Record) {
        if let Series::Tcp(s) = &*self.series(r) {
            s.opened.inc();
        }
    }

    /// Re-reads cluster and endpoint metadata after a config change.
    pub fn refresh(&self, store: &crate::state::store::Store) {
        let next = Index::refresh(&self.index.load(), store);
        self.index.store(Arc::new(next));
        // Cached label sets may name old metadata.
        self.cache.write().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }

    /// The cluster and endpoint metadata.
    pub fn index(&self) -> Arc<Index> {
        self.index.load_full()
    }

    /// Envoy's counters.
    pub fn envoy(&self) -> &EnvoyStats {
        &self.envoy
    }

    /// Envoy's counters as stats, clusters by their observability name.
    pub fn envoy_stats(&self) -> Vec<envoy::Stat> {
        let index = self.index.load();
        self.envoy.all(|c| index.observability_name(c).to_string())
    }

    fn series(&self, r: &Record) -> Arc<Series> {
        let key = Key::of(r);
        let hash = key.hash64();
        {
            let cache = self.cache.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(s) = cache.get(&hash).and_then(|b| b.iter().find(|(k, _)| k.borrowed() == key)) {
                return s.1.clone();
            }
        }
        let series = Arc::new(self.create(r, &key));
        let mut cache = self.cache.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.entry(hash).or_default().push((key.owned(), series.clone()));
        series
    }

    /// Derives the labels of `key` and takes its series from the families.
    fn create(&self, r: &Record, key: &Key<'_>) -> Series {
        let index = self.index.load();
        let inbound = r.meta.inbound();
        let (service, workload) = match key.cluster {
            Some(c) => index.destination(c, if inbound { None } else { key.host }),
            None => (None, None),
        };
        let peer = Peer {
            inbound,
            cluster: key.cluster,
            route: key.route,
            authority: key.authority,
            service: service.as_deref(),
            workload: workload.as_deref(),
        };
        let mut l = labels::peer_labels(&self.local, &peer);
        let cluster = key.cluster.map(|c| self.envoy.cluster(c));
        if key.tcp {
            labels::tcp_tail(&mut l, inbound, key.flags);
            return Series::Tcp(TcpSeries {
                opened: self.tcp_opened.get_or_create_owned(&l),
                closed: self.tcp_closed.get_or_create_owned(&l),
                sent: self.tcp_sent.get_or_create_owned(&l),
                received: self.tcp_received.get_or_create_owned(&l),
                cluster,
                proxy: key.prefix.map(|p| self.envoy.tcp(p)),
            });
        }
        let grpc = key.grpc.map(|s| s.map(|s| s.to_string()).unwrap_or_default());
        labels::http_tail(&mut l, inbound, grpc.as_deref(), key.status, key.flags);
        Series::Http(HttpSeries {
            requests: self.requests.get_or_create_owned(&l),
            duration: self.duration.get_or_create_owned(&l),
            request_bytes: self.request_bytes.get_or_create_owned(&l),
            response_bytes: self.response_bytes.get_or_create_owned(&l),
            cluster,
            manager: key.prefix.map(|p| self.envoy.http(p)),
        })
    }

    /// Istio's metrics, then Envoy's counters and the `server` gauges given, in Prometheus'
    /// text format (0.0.4, what Envoy's `/stats/prometheus` serves).
    pub fn prometheus(&self, server: &[envoy::Stat]) -> String {
        let mut open = String::new();
        let _ = prometheus_client::encoding::text::encode_registry(&mut open, &self.registry);
        let mut out = String::with_capacity(open.len() + 4096);
        for line in open.lines() {
            out.push_str(&classic(line));
            out.push('\n');
        }
        let mut stats = self.envoy_stats();
        stats.extend_from_slice(server);
        envoy_prometheus(&stats, &mut out);
        out
    }
}

/// An OpenMetrics line as Prometheus' classic text format says it: counter families are named
/// with their `_total` suffix.
fn classic(line: &str) -> String {
    for prefix in ["# HELP ", "# TYPE "] {
        if let Some(rest) = line.strip_prefix(prefix) {
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            if COUNTERS.contains(&name) {
                return format!("{prefix}{name}_total {tail}");
            }
        }
    }
    line.to_string()
}

/// Envoy's counters with Envoy's Prometheus names, grouped by name.
fn envoy_prometheus(stats: &[envoy::Stat], out: &mut String) {
    use std::fmt::Write as _;
    let mut by_name: std::collections::BTreeMap<String, (&str, Vec<String>)> = std::collections::BTreeMap::new();
    for s in stats {
        // Per-cluster and per-prefix stats here are counters; server-wide ones are gauges.
        let kind = if matches!(s.scope, "cluster" | "http" | "tcp") { "counter" } else { "gauge" };
        let (name, labels) = envoy::prometheus_name(s);
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
        let sample = if labels.is_empty() {
            format!("{name} {}", s.value)
        } else {
            format!("{name}{{{}}} {}", labels.join(","), s.value)
        };
        by_name.entry(name).or_insert_with(|| (kind, Vec::new())).1.push(sample);
    }
    for (name, (kind, samples)) in by_name {
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for s in samples {
            let _ = writeln!(out, "{s}");
        }
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests;

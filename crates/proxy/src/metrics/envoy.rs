//! Envoy's own statistics, as far as completion records tell them honestly, for `/stats` (Envoy's
//! `name: value` text) and `/stats/prometheus` (Envoy's tag-extracted names):
//! `cluster.NAME.upstream_rq_{CODE,Nxx,completed,total,timeout,pending_overflow}`,
//! `cluster.NAME.upstream_cx_{connect_fail,none_healthy,total,rx_bytes_total,tx_bytes_total}`,
//! `http.PREFIX.{downstream_rq_{total,completed,Nxx},no_route,no_cluster,rq_direct_response}`,
//! `tcp.PREFIX.downstream_cx_{total,rx_bytes_total,tx_bytes_total}`, and per-host
//! `rq_{total,success,error,timeout}` / `cx_connect_fail` for `/clusters`. A request counts
//! once, by how it ended (its last attempt): retried attempts are not seen by the completion
//! record, so unlike Envoy a retried 503 followed by a 200 counts one `upstream_rq_200`.

use crate::access_log::Record;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Per-host counters, in `/clusters`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HostStats {
    /// Requests sent to the host.
    pub rq_total: u64,
    /// Non-5xx responses.
    pub rq_success: u64,
    /// 5xx responses, resets and connect failures.
    pub rq_error: u64,
    /// Requests that timed out.
    pub rq_timeout: u64,
    /// Failed connects.
    pub cx_connect_fail: u64,
}

/// One cluster's counters.
#[derive(Debug, Default)]
pub struct ClusterStats {
    rq_completed: AtomicU64,
    rq_total: AtomicU64,
    rq_xx: [AtomicU64; 5],
    codes: Mutex<BTreeMap<u16, u64>>,
    rq_timeout: AtomicU64,
    rq_pending_overflow: AtomicU64,
    cx_connect_fail: AtomicU64,
    cx_none_healthy: AtomicU64,
    cx_total: AtomicU64,
    cx_rx_bytes: AtomicU64,
    cx_tx_bytes: AtomicU64,
    hosts: Mutex<HashMap<SocketAddr, HostStats>>,
}

/// One HTTP connection manager's counters.
#[derive(Debug, Default)]
pub struct HttpStats {
    rq_total: AtomicU64,
    rq_xx: [AtomicU64; 5],
    no_route: AtomicU64,
    no_cluster: AtomicU64,
    direct_response: AtomicU64,
}

/// One TCP proxy's counters.
#[derive(Debug, Default)]
pub struct TcpStats {
    cx_total: AtomicU64,
    rx_bytes: AtomicU64,
    tx_bytes: AtomicU64,
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

fn class(status: u16) -> Option<usize> {
    (100..600).contains(&status).then(|| usize::from(status / 100 - 1))
}

fn has(flags: &str, flag: &str) -> bool {
    flags.split(',').any(|f| f == flag)
}

impl ClusterStats {
    /// Counts an HTTP request that reached the router for this cluster.
    pub fn http(&self, r: &Record) {
        if r.status == 0 || has(r.flags, "FI") {
            // Aborted before the router (fault injection), or no response: not the cluster's.
            return;
        }
        bump(&self.rq_completed, 1);
        if let Some(c) = class(r.status) {
            bump(&self.rq_xx[c], 1);
        }
        *lock(&self.codes).entry(r.status).or_default() += 1;
        self.flags(r.flags);
        let Some(host) = r.upstream_host else { return };
        let connect_fail = has(r.flags, "UF");
        if !connect_fail {
            bump(&self.rq_total, 1);
        }
        let mut hosts = lock(&self.hosts);
        let h = hosts.entry(host).or_default();
        if connect_fail {
            h.cx_connect_fail += 1;
            h.rq_error += 1;
            return;
        }
        h.rq_total += 1;
        if r.status >= 500 {
            h.rq_error += 1
        } else {
            h.rq_success += 1
        }
        if has(r.flags, "UT") {
            h.rq_timeout += 1;
        }
    }

    /// Counts a TCP connection proxied to this cluster.
    pub fn tcp(&self, r: &Record) {
        self.flags(r.flags);
        if r.upstream_local.is_some() {
            bump(&self.cx_total, 1);
            bump(&self.cx_tx_bytes, r.bytes_received);
            bump(&self.cx_rx_bytes, r.bytes_sent);
        }
        if let (Some(host), true) = (r.upstream_host, has(r.flags, "UF")) {
            lock(&self.hosts).entry(host).or_default().cx_connect_fail += 1;
        }
    }

    fn flags(&self, flags: &str) {
        let counters = [
            ("UF", &self.cx_connect_fail),
            ("UH", &self.cx_none_healthy),
            ("UT", &self.rq_timeout),
            ("UO", &self.rq_pending_overflow),
        ];
        for (flag, c) in counters {
            if has(flags, flag) {
                bump(c, 1);
            }
        }
    }

    /// Per-host counters.
    pub fn host(&self, addr: SocketAddr) -> HostStats {
        lock(&self.hosts).get(&addr).copied().unwrap_or_default()
    }

    fn list(&self, out: &mut Vec<(String, u64)>) {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        for (name, c) in [
            ("upstream_rq_completed", &self.rq_completed),
            ("upstream_rq_total", &self.rq_total),
            ("upstream_rq_timeout", &self.rq_timeout),
            ("upstream_rq_pending_overflow", &self.rq_pending_overflow),
            ("upstream_cx_connect_fail", &self.cx_connect_fail),
            ("upstream_cx_none_healthy", &self.cx_none_healthy),
            ("upstream_cx_total", &self.cx_total),
            ("upstream_cx_rx_bytes_total", &self.cx_rx_bytes),
            ("upstream_cx_tx_bytes_total", &self.cx_tx_bytes),
        ] {
            out.push((name.into(), load(c)));
        }
        for (i, c) in self.rq_xx.iter().enumerate() {
            out.push((format!("upstream_rq_{}xx", i + 1), load(c)));
        }
        for (code, n) in lock(&self.codes).iter() {
            out.push((format!("upstream_rq_{code}"), *n));
        }
    }
}

impl HttpStats {
    fn record(&self, r: &Record) {
        bump(&self.rq_total, 1);
        if let Some(c) = class(r.status) {
            bump(&self.rq_xx[c], 1);
        }
        if has(r.flags, "NR") {
            bump(&self.no_route, 1);
        }
        if has(r.flags, "NC") {
            bump(&self.no_cluster, 1);
        }
        if r.details == "direct_response" {
            bump(&self.direct_response, 1);
        }
    }

    fn list(&self, out: &mut Vec<(String, u64)>) {
        let total = self.rq_total.load(Ordering::Relaxed);
        // Counted when the request ends, so every counted request is a completed one.
        out.push(("downstream_rq_total".into(), total));
        out.push(("downstream_rq_completed".into(), total));
        for (i, c) in self.rq_xx.iter().enumerate() {
            out.push((format!("downstream_rq_{}xx", i + 1), c.load(Ordering::Relaxed)));
        }
        for (name, c) in [
            ("no_route", &self.no_route),
            ("no_cluster", &self.no_cluster),
            ("rq_direct_response", &self.direct_response),
        ] {
            out.push((name.into(), c.load(Ordering::Relaxed)));
        }
    }
}

impl TcpStats {
    fn record(&self, r: &Record) {
        bump(&self.cx_total, 1);
        bump(&self.rx_bytes, r.bytes_received);
        bump(&self.tx_bytes, r.bytes_sent);
    }

    fn list(&self, out: &mut Vec<(String, u64)>) {
        for (name, c) in [
            ("downstream_cx_total", &self.cx_total),
            ("downstream_cx_rx_bytes_total", &self.rx_bytes),
            ("downstream_cx_tx_bytes_total", &self.tx_bytes),
        ] {
            out.push((name.into(), c.load(Ordering::Relaxed)));
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A map of counter groups by name, created on first use.
#[derive(Debug)]
struct Groups<T>(RwLock<HashMap<String, Arc<T>>>);

impl<T> Default for Groups<T> {
    fn default() -> Self {
        Groups(RwLock::new(HashMap::new()))
    }
}

impl<T: Default> Groups<T> {
    fn get(&self, name: &str) -> Arc<T> {
        if let Some(g) = self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(name) {
            return g.clone();
        }
        let mut map = self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(name.to_string()).or_default().clone()
    }

    fn snapshot(&self) -> Vec<(String, Arc<T>)> {
        let map = self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.iter().map(|(n, g)| (n.clone(), g.clone())).collect()
    }
}

/// All of Envoy's counters that we keep.
#[derive(Debug, Default)]
pub struct EnvoyStats {
    clusters: Groups<ClusterStats>,
    http: Groups<HttpStats>,
    tcp: Groups<TcpStats>,
}

/// A stat: `cluster.NAME.upstream_rq_200` style name, and its scope (`cluster`, `http`,
/// `tcp`, `server`, …), scope name and stat, for the Prometheus form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// Scope: `cluster`, `http`, `tcp` or a server-wide one (`server`, `cluster_manager`, …).
    pub scope: &'static str,
    /// The cluster name or stat prefix (empty for server-wide stats).
    pub name: String,
    /// The stat (`upstream_rq_200`).
    pub stat: String,
    /// Its value.
    pub value: u64,
}

impl Stat {
    /// Envoy's flat name.
    pub fn flat(&self) -> String {
        if self.name.is_empty() {
            format!("{}.{}", self.scope, self.stat)
        } else {
            format!("{}.{}.{}", self.scope, self.name, self.stat)
        }
    }
}

impl EnvoyStats {
    /// A cluster's counters.
    pub fn cluster(&self, name: &str) -> Arc<ClusterStats> {
        self.clusters.get(name)
    }

    /// An HTTP connection manager's counters.
    pub fn http(&self, prefix: &str) -> Arc<HttpStats> {
        self.http.get(prefix)
    }

    /// A TCP proxy's counters.
    pub fn tcp(&self, prefix: &str) -> Arc<TcpStats> {
        self.tcp.get(prefix)
    }

    /// Counts a finished HTTP request on its connection manager's counters.
    pub fn http_record(http: &HttpStats, r: &Record) {
        http.record(r);
    }

    /// Counts a closed TCP connection on its proxy's counters.
    pub fn tcp_record(tcp: &TcpStats, r: &Record) {
        tcp.record(r);
    }

    /// Every stat, sorted by flat name; cluster stats go by `rename(cluster)` (Envoy's
    /// observability name, `alt_stat_name`).
    pub fn all(&self, rename: impl Fn(&str) -> String) -> Vec<Stat> {
        let mut out = Vec::new();
        let mut add = |scope: &'static str, name: &str, list: Vec<(String, u64)>| {
            out.extend(list.into_iter().map(|(stat, value)| Stat { scope, name: name.to_string(), stat, value }));
        };
        for (name, c) in self.clusters.snapshot() {
            let mut v = Vec::new();
            c.list(&mut v);
            add("cluster", &rename(&name), v);
        }
        for (name, h) in self.http.snapshot() {
            let mut v = Vec::new();
            h.list(&mut v);
            add("http", &name, v);
        }
        for (name, t) in self.tcp.snapshot() {
            let mut v = Vec::new();
            t.list(&mut v);
            add("tcp", &name, v);
        }
        out.sort_by_cached_key(Stat::flat);
        out
    }
}

/// Envoy's Prometheus name and labels for a stat (its default tag extraction): the scope
/// name becomes `envoy_cluster_name` / `envoy_http_conn_manager_prefix` / `envoy_tcp_prefix`,
/// `upstream_rq_200` becomes `upstream_rq{envoy_response_code="200"}` and `upstream_rq_2xx`
/// becomes `upstream_rq_xx{envoy_response_code_class="2"}`.
pub fn prometheus_name(s: &Stat) -> (String, Vec<(&'static str, String)>) {
    let mut labels = Vec::new();
    let mut stat = s.stat.clone();
    if let Some((base, code)) = s.stat.rsplit_once('_') {
        let digits = code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit());
        let class = code.len() == 3 && code.ends_with("xx") && code.as_bytes()[0].is_ascii_digit();
        if digits {
            stat = base.to_string();
            labels.push(("envoy_response_code", code.to_string()));
        } else if class {
            stat = format!("{base}_xx");
            labels.push(("envoy_response_code_class", code[..1].to_string()));
        }
    }
    let key = match s.scope {
        "cluster" => Some("envoy_cluster_name"),
        "http" => Some("envoy_http_conn_manager_prefix"),
        "tcp" => Some("envoy_tcp_prefix"),
        _ => None,
    };
    if let Some(key) = key {
        labels.push((key, s.name.clone()));
    }
    (format!("envoy_{}_{}", s.scope, stat), labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(scope: &'static str, name: &str, stat: &str) -> Stat {
        Stat { scope, name: name.into(), stat: stat.into(), value: 1 }
    }

    #[test]
    fn prometheus_names_follow_envoys_tag_extraction() {
        let (n, l) = prometheus_name(&stat("cluster", "c", "upstream_rq_503"));
        assert_eq!(n, "envoy_cluster_upstream_rq");
        assert_eq!(l, vec![("envoy_response_code", "503".to_string()), ("envoy_cluster_name", "c".to_string())]);
        let (n, l) = prometheus_name(&stat("http", "outbound_0.0.0.0_9080", "downstream_rq_2xx"));
        assert_eq!(n, "envoy_http_downstream_rq_xx");
        assert_eq!(l[0], ("envoy_response_code_class", "2".to_string()));
        let (n, l) = prometheus_name(&stat("cluster", "c", "upstream_rq_total"));
        assert_eq!((n.as_str(), l.len()), ("envoy_cluster_upstream_rq_total", 1));
        let (n, l) = prometheus_name(&stat("server", "", "live"));
        assert_eq!((n.as_str(), l.len()), ("envoy_server_live", 0));
    }
}

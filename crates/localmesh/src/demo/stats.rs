//! Per-service numbers from the sidecars' access logs: requests, rate, error rate, p99 latency
//! and response flags, by destination service and version. Each request is counted once: by
//! the destination's sidecar (its inbound line) when it got there; otherwise by the caller's
//! sidecar (an outbound line whose upstream is not a pod with a sidecar: a local reply such
//! as `FI`, `UO`, `UH`/`BlackHoleCluster`, `NR`, or a call leaving the mesh).

use super::access_log::Entry;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// What the stats know about a pod.
#[derive(Clone, Debug, Default)]
pub struct PodInfo {
    /// Pod name.
    pub name: String,
    /// `app` label.
    pub app: String,
    /// `version` label.
    pub version: String,
    /// Runs a sidecar (its inbound lines count its requests).
    pub sidecar: bool,
}

/// Pods by IP.
pub type Directory = HashMap<String, PodInfo>;

/// One destination's numbers.
#[derive(Clone, Debug, Default)]
pub struct Row {
    /// Requests.
    pub requests: u64,
    /// Failed requests (5xx or no response).
    pub errors: u64,
    /// Failed requests the scenario does not explain.
    pub unexpected: u64,
    /// Durations (ms).
    pub durations: Vec<u64>,
    /// Response flags seen (`-` excluded).
    pub flags: BTreeMap<String, u64>,
}

impl Row {
    /// The 99th percentile duration (nearest rank).
    pub fn p99(&self) -> Option<u64> {
        let mut d = self.durations.clone();
        d.sort_unstable();
        let rank = (d.len() * 99).div_ceil(100);
        d.get(rank.checked_sub(1)?).copied()
    }
}

/// The aggregate of a run.
#[derive(Debug, Default)]
pub struct Stats {
    /// By (service, version).
    pub rows: BTreeMap<(String, String), Row>,
    /// Sample lines: (pod, line), at most one per (service, code, flags).
    pub samples: Vec<(String, String)>,
    sampled: std::collections::BTreeSet<(String, u16, String)>,
}

/// Sample lines kept.
const SAMPLES: usize = 8;

/// The IP of `host:port` (`-` and empty give `None`).
fn ip_of(addr: &str) -> Option<&str> {
    let (ip, _) = addr.rsplit_once(':')?;
    Some(ip.trim_matches(['[', ']'])).filter(|ip| !ip.is_empty())
}

/// Response flags of requests that never reached the upstream, although the access log may
/// name the host the load balancer had picked (a pool overflow, say): the caller's line is the
/// only one.
const NEVER_SENT: [&str; 16] =
    ["UO", "FI", "NR", "UH", "UF", "URX", "NC", "RL", "RLSE", "UAEX", "IH", "NFCF", "OM", "DPE", "SI", "UMSDR"];

/// The (service, version) an entry written by `source`'s sidecar counts for, or `None` when
/// another sidecar counts it.
pub fn destination(e: &Entry, source: &PodInfo, pods: &Directory) -> Option<(String, String)> {
    if e.inbound() {
        return Some((source.app.clone(), source.version.clone()));
    }
    let upstream = ip_of(&e.upstream_host).and_then(|ip| pods.get(ip));
    let never_sent = e.flags.split(',').any(|f| NEVER_SENT.contains(&f));
    if upstream.is_some_and(|p| p.sidecar) && !never_sent {
        return None;
    }
    // A pod we know (outside the mesh, named by a CONNECT authority, or under capture the
    // original destination of a connection refused before it had an upstream): its labels.
    let by_authority = || ip_of(&e.authority).and_then(|ip| pods.get(ip));
    let by_destination = || ip_of(&e.downstream_local).and_then(|ip| pods.get(ip)).filter(|p| p.name != source.name);
    if let Some(p) = upstream.or_else(by_authority).or_else(by_destination) {
        return Some((p.app.clone(), p.version.clone()));
    }
    // outbound|PORT|SUBSET|HOST: the service's short name and the subset.
    let mut parts = e.cluster.split('|');
    if parts.next() == Some("outbound") {
        let (_, subset, host) = (parts.next(), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let service = host.split('.').next().unwrap_or(host).to_string();
        return Some((service, if subset.is_empty() { "-".into() } else { subset.to_string() }));
    }
    let host = e.authority.rsplit_once(':').map_or(e.authority.as_str(), |(h, _)| h);
    Some((host.split('.').next().unwrap_or(host).to_string(), "-".into()))
}

impl Stats {
    /// Counts `e` (from `line`, written by `source`'s sidecar); `expected` says whether a
    /// failure is what the scenario causes.
    pub fn record(
        &mut self,
        source: &PodInfo,
        line: &str,
        e: &Entry,
        pods: &Directory,
        expected: &dyn Fn(&Entry) -> bool,
    ) {
        let Some(key) = destination(e, source, pods) else { return };
        let row = self.rows.entry(key.clone()).or_default();
        row.requests += 1;
        row.durations.push(e.duration_ms);
        if e.failed() {
            row.errors += 1;
            if !expected(e) {
                row.unexpected += 1;
            }
        }
        if e.flags != "-" {
            *row.flags.entry(e.flags.clone()).or_default() += 1;
        }
        let sample = (key.0, e.code, e.flags.clone());
        if self.samples.len() < SAMPLES && !self.sampled.contains(&sample) {
            self.sampled.insert(sample);
            self.samples.push((source.name.clone(), line.trim_end().to_string()));
        }
    }

    /// Failures no scenario explains.
    pub fn unexpected(&self) -> u64 {
        self.rows.values().map(|r| r.unexpected).sum()
    }

    /// The table over a window of `elapsed`.
    pub fn table(&self, elapsed: Duration) -> Vec<String> {
        let secs = elapsed.as_secs_f64().max(0.001);
        let mut rows =
            vec![["SERVICE", "VERSION", "REQUESTS", "RATE/s", "ERRORS", "P99", "FLAGS"].map(String::from).to_vec()];
        for ((service, version), r) in &self.rows {
            let errors = if r.requests == 0 { 0.0 } else { 100.0 * r.errors as f64 / r.requests as f64 };
            let flags: Vec<String> = r.flags.iter().map(|(f, n)| format!("{f}:{n}")).collect();
            rows.push(vec![
                service.clone(),
                version.clone(),
                r.requests.to_string(),
                format!("{:.1}", r.requests as f64 / secs),
                format!("{errors:.1}%"),
                r.p99().map_or("-".into(), |p| format!("{p}ms")),
                if flags.is_empty() { "-".into() } else { flags.join(" ") },
            ]);
        }
        let widths: Vec<usize> =
            (0..rows[0].len()).map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0)).collect();
        rows.iter()
            .map(|r| {
                r.iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_string()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, app: &str, version: &str, sidecar: bool) -> PodInfo {
        PodInfo { name: name.into(), app: app.into(), version: version.into(), sidecar }
    }

    fn entry(cluster: &str, upstream: &str, authority: &str, code: u16, flags: &str) -> Entry {
        Entry {
            cluster: cluster.into(),
            upstream_host: upstream.into(),
            authority: authority.into(),
            code,
            flags: flags.into(),
            duration_ms: 1,
            ..Default::default()
        }
    }

    #[test]
    fn each_request_counts_once() {
        let pods: Directory = [
            ("127.10.1.1".to_string(), pod("pp", "productpage", "v1", true)),
            ("127.10.1.4".to_string(), pod("r2", "reviews", "v2", true)),
            ("127.10.0.1".to_string(), pod("api", "books-api", "v1", false)),
        ]
        .into();
        let pp = pod("pp", "productpage", "v1", true);
        let r2 = pod("r2", "reviews", "v2", true);
        let key = |s: &str, v: &str| Some((s.to_string(), v.to_string()));
        let cases = [
            (&r2, entry("inbound|9080||", "127.11.1.4:9080", "reviews:9080", 200, "-"), key("reviews", "v2")),
            (
                &pp,
                entry(
                    "outbound|9080|v2|reviews.default.svc.cluster.local",
                    "127.10.1.4:9080",
                    "reviews:9080",
                    200,
                    "-",
                ),
                None,
            ),
            (
                &r2,
                entry("outbound|9080||ratings.default.svc.cluster.local", "-", "ratings:9080", 500, "FI"),
                key("ratings", "-"),
            ),
            (
                &pp,
                entry("outbound|9080|v1|details.default.svc.cluster.local", "-", "details:9080", 503, "UO"),
                key("details", "v1"),
            ),
            (&pp, entry("BlackHoleCluster", "-", "127.10.0.1:8443", 503, "UH"), key("books-api", "v1")),
            (
                &pp,
                Entry { downstream_local: "127.10.0.1:8443".into(), ..entry("BlackHoleCluster", "-", "-", 0, "UH") },
                key("books-api", "v1"),
            ),
            (
                &pp,
                Entry { downstream_local: "127.10.1.1:15001".into(), ..entry("-", "-", "-", 0, "UH") },
                key("-", "-"),
            ),
            (&pp, entry("PassthroughCluster", "127.10.0.1:8443", "127.10.0.1:8443", 200, "-"), key("books-api", "v1")),
            (&pp, entry("-", "-", "unknown.example:80", 502, "-"), key("unknown", "-")),
        ];
        for (source, e, want) in cases {
            assert_eq!(destination(&e, source, &pods), want, "{e:?}");
        }
    }

    #[test]
    fn rows_and_percentiles() {
        let mut stats = Stats::default();
        let pods = Directory::new();
        let src = pod("r2", "reviews", "v2", true);
        let fi = |e: &Entry| e.flags == "FI";
        for i in 1..=100u64 {
            let mut e = entry("inbound|9080||", "x:1", "a", 200, "-");
            e.duration_ms = i;
            stats.record(&src, "line", &e, &pods, &fi);
        }
        let mut e = entry("outbound|9080||ratings.default.svc.cluster.local", "-", "ratings:9080", 500, "FI");
        stats.record(&src, "fault line", &e, &pods, &fi);
        e.flags = "-".into();
        e.code = 503;
        stats.record(&src, "app error", &e, &pods, &fi);
        let r = &stats.rows[&("reviews".to_string(), "v2".to_string())];
        assert_eq!((r.requests, r.errors, r.p99()), (100, 0, Some(99)));
        let r = &stats.rows[&("ratings".to_string(), "-".to_string())];
        assert_eq!((r.requests, r.errors, r.unexpected), (2, 2, 1));
        assert_eq!(stats.unexpected(), 1);
        assert_eq!(stats.samples.len(), 3, "one sample per (service, code, flags)");
        let table = stats.table(Duration::from_secs(10));
        assert!(
            table[1].starts_with("ratings") && table[1].contains("100.0%") && table[1].contains("FI:1"),
            "{table:?}"
        );
        assert!(table[2].contains("10.0") && table[2].contains("99ms"), "{table:?}");
    }
}

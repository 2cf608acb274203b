//! Per-proxy sync status and control-plane counters, as `istioctl proxy-status` and istiod's
//! metrics show them: for each proxy and xDS type, the version sent and the version ACKed, or
//! the NACK message. SYNCED = ACKed what was sent; NOT SENT = nothing sent; STALE = sent but
//! not yet ACKed; NACK = the proxy rejected it (and keeps its last good config).

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// One xDS type on one connection.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TypeStatus {
    /// Version last sent.
    pub sent: Option<String>,
    /// Version last ACKed.
    pub acked: Option<String>,
    /// The proxy's message for the last NACK, while it stands.
    pub nack: Option<String>,
}

impl TypeStatus {
    /// The istioctl word for this state.
    pub fn state(&self) -> &'static str {
        match (&self.sent, &self.acked, &self.nack) {
            (_, _, Some(_)) => "NACK",
            (None, _, _) => "NOT SENT",
            (Some(s), Some(a), _) if s == a => "SYNCED",
            _ => "STALE",
        }
    }
}

/// One connected proxy.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ConnStatus {
    /// The node id.
    pub node_id: String,
    /// `sotw` or `delta`.
    pub protocol: &'static str,
    /// The proxy's admin address (node metadata `ADMIN_ADDRESS`), for `proxy-config`.
    pub admin: Option<String>,
    /// Status by short type name (CDS, EDS, LDS, RDS).
    pub types: BTreeMap<&'static str, TypeStatus>,
    /// Time from the last config change to this proxy's ACK of it, in milliseconds.
    pub last_convergence_ms: Option<u64>,
}

#[derive(Default)]
struct Board {
    conns: BTreeMap<u64, ConnStatus>,
    pushes: BTreeMap<&'static str, u64>,
    nacks: u64,
    convergence_ms_sum: u64,
    convergence_count: u64,
}

/// All connections and counters.
#[derive(Default)]
pub struct StatusBoard {
    next_id: AtomicU64,
    inner: Mutex<Board>,
}

/// A row of `/debug/syncz`.
#[derive(Debug, Serialize)]
pub struct SyncRow {
    /// Node id.
    pub proxy: String,
    /// `sotw` or `delta`.
    pub protocol: &'static str,
    /// Admin address, when the proxy announced it.
    pub admin: Option<String>,
    /// State per type (CDS, LDS, EDS, RDS).
    pub state: BTreeMap<&'static str, &'static str>,
    /// Versions sent per type.
    pub sent: BTreeMap<&'static str, String>,
    /// NACK messages per type.
    pub nacks: BTreeMap<&'static str, String>,
    /// Last convergence time.
    pub last_convergence_ms: Option<u64>,
}

impl StatusBoard {
    fn with<R>(&self, f: impl FnOnce(&mut Board) -> R) -> R {
        let mut guard = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    /// Registers a connection; returns its id.
    pub fn connect(&self, node_id: &str, protocol: &'static str, admin: Option<String>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.with(|b| {
            b.conns.insert(id, ConnStatus { node_id: node_id.into(), protocol, admin, ..ConnStatus::default() })
        });
        id
    }

    /// Forgets a connection.
    pub fn disconnect(&self, id: u64) {
        self.with(|b| b.conns.remove(&id));
    }

    /// Records a push of `ty` at `version`.
    pub fn sent(&self, id: u64, ty: &'static str, version: &str) {
        self.with(|b| {
            *b.pushes.entry(ty).or_default() += 1;
            if let Some(c) = b.conns.get_mut(&id) {
                c.types.entry(ty).or_default().sent = Some(version.to_string());
            }
        });
    }

    /// Records an ACK; `convergence` is the time since the change, when this ACK completes it.
    pub fn acked(&self, id: u64, ty: &'static str, version: &str, convergence: Option<Duration>) {
        self.with(|b| {
            if let Some(c) = b.conns.get_mut(&id) {
                let t = c.types.entry(ty).or_default();
                t.acked = Some(version.to_string());
                t.nack = None;
                if let Some(d) = convergence {
                    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
                    c.last_convergence_ms = Some(ms);
                    b.convergence_ms_sum = b.convergence_ms_sum.saturating_add(ms);
                    b.convergence_count += 1;
                }
            }
        });
    }

    /// Records that the proxy already holds `version` of `ty` (a Delta reconnect whose initial
    /// resource versions are current): nothing is sent, yet it is in sync, not "NOT SENT".
    pub fn current(&self, id: u64, ty: &'static str, version: &str) {
        self.with(|b| {
            if let Some(c) = b.conns.get_mut(&id) {
                let t = c.types.entry(ty).or_default();
                t.sent = Some(version.to_string());
                t.acked = Some(version.to_string());
                t.nack = None;
            }
        });
    }

    /// Records a NACK with the proxy's message.
    pub fn nacked(&self, id: u64, ty: &'static str, message: &str) {
        self.with(|b| {
            b.nacks += 1;
            if let Some(c) = b.conns.get_mut(&id) {
                c.types.entry(ty).or_default().nack = Some(message.to_string());
            }
        });
    }

    /// Rows for `/debug/syncz` and `strait proxy-status`.
    pub fn rows(&self) -> Vec<SyncRow> {
        self.with(|b| {
            b.conns
                .values()
                .map(|c| SyncRow {
                    proxy: c.node_id.clone(),
                    protocol: c.protocol,
                    admin: c.admin.clone(),
                    state: ["CDS", "LDS", "EDS", "RDS"]
                        .into_iter()
                        .map(|t| (t, c.types.get(t).map_or("NOT SENT", TypeStatus::state)))
                        .collect(),
                    sent: c.types.iter().filter_map(|(t, s)| Some((*t, s.sent.clone()?))).collect(),
                    nacks: c.types.iter().filter_map(|(t, s)| Some((*t, s.nack.clone()?))).collect(),
                    last_convergence_ms: c.last_convergence_ms,
                })
                .collect()
        })
    }

    /// Prometheus text exposition of the control-plane counters (istiod's metric names).
    pub fn metrics(&self) -> String {
        self.with(|b| {
            let mut out = String::new();
            out.push_str("# TYPE pilot_xds_pushes counter\n");
            for (ty, n) in &b.pushes {
                out.push_str(&format!("pilot_xds_pushes{{type=\"{}\"}} {n}\n", ty.to_ascii_lowercase()));
            }
            out.push_str(&format!("# TYPE pilot_total_xds_rejects counter\npilot_total_xds_rejects {}\n", b.nacks));
            out.push_str(&format!("# TYPE pilot_xds gauge\npilot_xds {}\n", b.conns.len()));
            out.push_str("# TYPE pilot_proxy_convergence_time_ms summary\n");
            out.push_str(&format!("pilot_proxy_convergence_time_ms_sum {}\n", b.convergence_ms_sum));
            out.push_str(&format!("pilot_proxy_convergence_time_ms_count {}\n", b.convergence_count));
            out
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states() {
        let board = StatusBoard::default();
        let id = board.connect("sidecar~1.2.3.4~a.default~default.svc.cluster.local", "sotw", None);
        board.sent(id, "CDS", "1");
        board.sent(id, "LDS", "1");
        board.acked(id, "CDS", "1", Some(Duration::from_millis(12)));
        board.nacked(id, "LDS", "bad listener");
        let row = &board.rows()[0];
        assert_eq!(row.state["CDS"], "SYNCED");
        assert_eq!(row.state["LDS"], "NACK");
        assert_eq!(row.state["EDS"], "NOT SENT");
        assert_eq!(row.nacks["LDS"], "bad listener");
        board.sent(id, "CDS", "2");
        assert_eq!(board.rows()[0].state["CDS"], "STALE");
        assert!(board.metrics().contains("pilot_total_xds_rejects 1"));
        // A Delta reconnect that already holds the current version is in sync, and no push counts.
        let pushes = board.metrics();
        board.current(id, "EDS", "2");
        assert_eq!(board.rows()[0].state["EDS"], "SYNCED");
        assert_eq!(board.metrics(), pushes);
    }
}

//! The live status view of `strait up`: one row per pod (name, IP, ready containers, phase,
//! restarts, the sidecar's xDS sync from the control plane's `/debug/syncz`, age), redrawn in
//! place on a terminal; when stdout is not a terminal, one plain line per change instead, so
//! logs and CI output stay readable.

use crate::supervisor::state::{PodStatus, Shared};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A proxy's overall xDS state from its per-type states: `NACK` if any type was rejected,
/// `STALE` if any waits for an ACK, `SYNCED` once CDS and LDS are acknowledged and nothing
/// waits, `-` when not connected.
pub fn sync_word(row: &Value) -> &'static str {
    let state = |t: &str| row["state"][t].as_str().unwrap_or("NOT SENT");
    let all = ["CDS", "LDS", "EDS", "RDS"].map(state);
    if all.contains(&"NACK") {
        "NACK"
    } else if all.contains(&"STALE") {
        "STALE"
    } else if all[0] == "SYNCED" && all[1] == "SYNCED" {
        "SYNCED"
    } else {
        "CONNECTING"
    }
}

/// `POD.NS` → overall sync state, from `/debug/syncz`.
pub async fn fetch_sync(debug: SocketAddr) -> BTreeMap<String, String> {
    let Some(body) = get(debug, "/debug/syncz").await else { return BTreeMap::new() };
    let rows: Vec<Value> = serde_json::from_str(&body).unwrap_or_default();
    rows.iter()
        .map(|r| {
            let node = r["proxy"].as_str().unwrap_or_default();
            let name = node.split('~').nth(2).unwrap_or(node).to_string();
            (name, sync_word(r).to_string())
        })
        .collect()
}

/// A GET to a local debug endpoint; the body when it answers 200.
pub async fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let run = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.ok()?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.1 200").then(|| body.to_string())
    };
    tokio::time::timeout(Duration::from_secs(2), run).await.ok().flatten()
}

/// The table's cells: a header and one row per pod.
pub fn rows(
    shared: &Shared,
    status: &[PodStatus],
    sync: &BTreeMap<String, String>,
    age_of: Duration,
) -> Vec<Vec<String>> {
    let mut rows = vec![["NAME", "IP", "READY", "STATUS", "RESTARTS", "XDS", "AGE"].map(String::from).to_vec()];
    for (p, s) in shared.pods.iter().zip(status) {
        let total = p.containers.len() + usize::from(p.sidecar);
        let ready = s.containers_ready.iter().filter(|r| **r).count() + usize::from(p.sidecar && s.sidecar_ready);
        let xds = if p.sidecar {
            sync.get(&p.proxy_name()).cloned().unwrap_or_else(|| "-".into())
        } else {
            "no sidecar".into()
        };
        rows.push(vec![
            format!("{}/{}", p.namespace, p.name),
            p.ip.to_string(),
            format!("{ready}/{total}"),
            format!("{:?}", s.phase),
            s.restarts.to_string(),
            xds,
            age(age_of),
        ]);
    }
    rows
}

/// Rows as aligned lines.
pub fn format(rows: &[Vec<String>]) -> Vec<String> {
    let widths: Vec<usize> = (0..rows[0].len()).map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0)).collect();
    rows.iter()
        .map(|r| {
            r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect::<Vec<_>>().join("  ").trim_end().to_string()
        })
        .collect()
}

fn age(d: Duration) -> String {
    let s = d.as_secs();
    if s < 120 { format!("{s}s") } else { format!("{}m", s / 60) }
}

/// A full-screen redraw of `lines` that does not flicker: cursor home, each line written over
/// the old one and cleared to its end, then everything below cleared.
pub fn redraw(lines: &[String]) -> String {
    let mut out = String::from("\x1b[H");
    for l in lines {
        out.push_str(l);
        out.push_str("\x1b[K\n");
    }
    out.push_str("\x1b[J");
    out
}

fn print_now(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Runs the view until the task is dropped: on a terminal, redraws the table every second
/// under `header`; otherwise prints a line for each pod whose row changed.
pub async fn run(shared: Arc<Shared>, debug: SocketAddr, header: Vec<String>, tty: bool) {
    let started = Instant::now();
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let sync = fetch_sync(debug).await;
        let rows = rows(&shared, &shared.snapshot(), &sync, started.elapsed());
        let lines = format(&rows);
        let mut text = String::new();
        if tty {
            let all: Vec<String> = header.iter().chain(&lines).cloned().collect();
            text = redraw(&all);
        } else {
            for row in rows.iter().skip(1) {
                // Compare without the AGE column, which changes every second.
                let key = row[..row.len() - 1].join(" ");
                if last.get(&row[0]) != Some(&key) {
                    text.push_str(&format!("{key}  (after {})\n", row[row.len() - 1]));
                    last.insert(row[0].clone(), key);
                }
            }
        }
        print_now(&text);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The control plane's published config version (`/debug/registryz`).
pub async fn registry_version(debug: SocketAddr) -> Option<u64> {
    let body = get(debug, "/debug/registryz").await?;
    serde_json::from_str::<Value>(&body).ok()?["version"].as_u64()
}

/// Waits until every proxy in `proxies` (`POD.NS`) is SYNCED. With `after`, first waits for a
/// config version newer than `after`, then for each proxy to have been sent that version (or,
/// for a proxy the change does not touch, one second to pass) and to have acknowledged it.
pub async fn wait_synced(
    debug: SocketAddr,
    proxies: &[String],
    after: Option<u64>,
    timeout: Duration,
) -> Result<(), String> {
    let started = Instant::now();
    let mut target = None;
    let mut bumped_at = None;
    let mut last = String::new();
    while started.elapsed() < timeout {
        if let Some(v) = after.filter(|_| target.is_none()) {
            match registry_version(debug).await {
                Some(now) if now > v => {
                    target = Some(now);
                    bumped_at = Some(Instant::now());
                }
                _ => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            }
        }
        let rows: Vec<Value> =
            get(debug, "/debug/syncz").await.and_then(|b| serde_json::from_str(&b).ok()).unwrap_or_default();
        let settled = bumped_at.is_none_or(|t| t.elapsed() > Duration::from_secs(1));
        let pending: Vec<String> = proxies
            .iter()
            .filter(|name| {
                let row =
                    rows.iter().find(|r| r["proxy"].as_str().and_then(|p| p.split('~').nth(2)) == Some(name.as_str()));
                let Some(row) = row else { return true };
                let sent_new = target.is_none_or(|t| {
                    row["sent"]
                        .as_object()
                        .is_some_and(|m| m.values().any(|v| v.as_str().and_then(|s| s.parse::<u64>().ok()) >= Some(t)))
                });
                sync_word(row) != "SYNCED" || !(sent_new || settled)
            })
            .cloned()
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        last = pending.join(", ");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("proxies not SYNCED after {timeout:?}: {last} (see `strait proxy-status --control-plane {debug}`)"))
}

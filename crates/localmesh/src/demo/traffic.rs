//! The demo's traffic: a few clients outside the mesh calling productpage's pods (their
//! sidecars' inbound listeners, as an ingress would) at a steady total rate, plus the progress
//! line and the tailing of the sidecars' access logs.

use super::scenario::Scenario;
use crate::apps::client::Client;
use http::HeaderMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// What the clients saw.
#[derive(Debug, Default)]
pub struct Counters {
    /// Requests sent.
    pub sent: AtomicU64,
    /// Requests that did not get a 200.
    pub failed: AtomicU64,
}

/// Runs `scenario.concurrency()` clients against `targets` (`IP:PORT`) at `rps` requests per
/// second in total until `stop`.
pub async fn drive(
    targets: Vec<String>,
    scenario: Scenario,
    rps: u32,
    counters: Arc<Counters>,
    stop: watch::Receiver<bool>,
) {
    let client = Arc::new(Client::direct());
    let workers = scenario.concurrency();
    let period = Duration::from_secs_f64(workers as f64 / f64::from(rps.max(1)));
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (client, targets, counters, mut stop) = (client.clone(), targets.clone(), counters.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            // Stagger the workers over one period so requests are spread evenly, except where
            // the scenario needs bursts (all workers at once, as a traffic spike).
            if !scenario.bursts() {
                tokio::time::sleep(period.mul_f64(w as f64 / workers as f64)).await;
            }
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.changed() => return,
                }
                let n = counters.sent.fetch_add(1, Ordering::Relaxed);
                let target = &targets[(n as usize) % targets.len()];
                let mut headers = HeaderMap::new();
                headers.insert(http::header::USER_AGENT, http::HeaderValue::from_static("strait-demo"));
                if let Some(user) = scenario.user(n) {
                    headers.insert("end-user", http::HeaderValue::from_static(user));
                }
                let ok = matches!(client.get(&format!("http://{target}/productpage"), &headers).await, Ok(r) if r.status == 200);
                if !ok {
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// `[#####-----] 8s/20s  160 requests  0 failed`, or without a duration `8s  160 requests …`.
pub fn progress(elapsed: Duration, total: Option<Duration>, sent: u64, failed: u64) -> String {
    const WIDTH: usize = 30;
    let tail = format!("{sent} requests to productpage  {failed} failed");
    match total {
        Some(total) => {
            let frac = (elapsed.as_secs_f64() / total.as_secs_f64().max(0.001)).min(1.0);
            let done = (frac * WIDTH as f64).round() as usize;
            format!(
                "[{}{}] {}s/{}s  {tail}",
                "#".repeat(done),
                "-".repeat(WIDTH - done),
                elapsed.as_secs(),
                total.as_secs()
            )
        }
        None => format!("{}s  {tail}  (Ctrl-C stops and prints the summary)", elapsed.as_secs()),
    }
}

/// New complete lines of a growing log file.
pub struct Tail {
    path: PathBuf,
    pos: u64,
    partial: String,
}

impl Tail {
    /// Follows `path` from its current end (what was logged before is not the demo's traffic).
    pub fn from_end(path: PathBuf) -> Tail {
        let pos = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        Tail { path, pos, partial: String::new() }
    }

    /// Lines completed since the last call.
    pub fn lines(&mut self) -> Vec<String> {
        let Ok(mut f) = std::fs::File::open(&self.path) else { return Vec::new() };
        if f.seek(SeekFrom::Start(self.pos)).is_err() {
            return Vec::new();
        }
        let mut buf = Vec::new();
        let Ok(n) = f.read_to_end(&mut buf) else { return Vec::new() };
        self.pos += n as u64;
        self.partial.push_str(&String::from_utf8_lossy(&buf));
        let Some(end) = self.partial.rfind('\n') else { return Vec::new() };
        let complete: String = self.partial.drain(..=end).collect();
        complete.lines().map(str::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_bar() {
        let p = progress(Duration::from_secs(10), Some(Duration::from_secs(20)), 200, 1);
        assert!(p.starts_with(&format!("[{}{}] 10s/20s", "#".repeat(15), "-".repeat(15))), "{p}");
        assert!(p.ends_with("200 requests to productpage  1 failed"), "{p}");
        assert!(progress(Duration::from_secs(3), None, 5, 0).starts_with("3s  5 requests"));
    }

    #[test]
    fn tail_returns_complete_lines_once() {
        use std::io::Write;
        let path = std::env::temp_dir().join(format!("strait-tail-{}", std::process::id()));
        std::fs::write(&path, "old\n").expect("write");
        let mut tail = Tail::from_end(path.clone());
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).expect("open");
        write!(f, "one\ntw").expect("write");
        assert_eq!(tail.lines(), ["one"]);
        writeln!(f, "o").expect("write");
        assert_eq!(tail.lines(), ["two"]);
        assert!(tail.lines().is_empty());
        let _ = std::fs::remove_file(&path);
    }
}

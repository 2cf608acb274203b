//! Readiness checks as the kubelet runs them: `httpGet` passes on 2xx/3xx, `tcpSocket` on a
//! connection, `exec` on exit status 0, each within the probe's timeout; a container becomes
//! ready after `successThreshold` passes in a row and unready after `failureThreshold` failures.
//! The sidecar's own readiness is its `/healthz/ready` on the pod IP, as Istio's injected
//! readiness probe on port 15021.

use crate::plan::{Probe, ProbeAction};
use std::sync::Arc;
use std::time::Duration;
use strait_testkit::netns::Netns;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One check of `action` within `timeout`.
pub async fn check(action: &ProbeAction, timeout: Duration, env: &[(String, String)]) -> bool {
    let run = async {
        match action {
            ProbeAction::Http { host, port, path } => http_ok(host, *port, path).await,
            ProbeAction::Tcp { host, port } => TcpStream::connect((host.as_str(), *port)).await.is_ok(),
            ProbeAction::Exec { argv } => exec_ok(argv, env).await,
        }
    };
    tokio::time::timeout(timeout, run).await.unwrap_or(false)
}

/// One check run inside `netns` when the pod has one: from the pod's own network stack, as
/// the kubelet's probes reach the app through pilot-agent without crossing the sidecar (and
/// without showing in its access log).
pub async fn check_in(
    netns: Option<Arc<Netns>>,
    action: &ProbeAction,
    timeout: Duration,
    env: &[(String, String)],
) -> bool {
    let Some(ns) = netns else { return check(action, timeout, env).await };
    let action = action.clone();
    let env = env.to_vec();
    if let ProbeAction::Exec { argv } = &action {
        let mut in_ns = vec!["ip".to_string(), "netns".into(), "exec".into(), ns.name().to_string()];
        in_ns.extend(argv.iter().cloned());
        return check(&ProbeAction::Exec { argv: in_ns }, timeout, &env).await;
    }
    // A thread that joins the namespace (Netns::run), so no runtime thread changes namespace.
    let run = tokio::task::spawn_blocking(move || ns.run(|| blocking_check(&action, timeout)));
    run.await.unwrap_or(false)
}

/// `httpGet` or `tcpSocket` with blocking sockets, for a thread inside a namespace.
fn blocking_check(action: &ProbeAction, timeout: Duration) -> bool {
    use std::io::{Read, Write};
    let (host, port) = match action {
        ProbeAction::Http { host, port, .. } | ProbeAction::Tcp { host, port } => (host, *port),
        ProbeAction::Exec { .. } => return false,
    };
    let Ok(ip) = host.parse::<std::net::IpAddr>() else { return false };
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&(ip, port).into(), timeout) else { return false };
    let ProbeAction::Http { path, .. } = action else { return true };
    let _ = s.set_read_timeout(Some(timeout));
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: strait-probe\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && status_ok(&head)
}

/// `HTTP/1.x 2xx` or `3xx`.
fn status_ok(head: &[u8]) -> bool {
    let status = head.get(9..12).and_then(|s| std::str::from_utf8(s).ok()).and_then(|s| s.parse::<u16>().ok());
    head.starts_with(b"HTTP/1.") && status.is_some_and(|s| (200..400).contains(&s))
}

/// A GET that passes on 2xx or 3xx (HTTP/1.1, `Connection: close`).
pub async fn http_ok(host: &str, port: u16, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect((host, port)).await else { return false };
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: strait-probe\r\nConnection: close\r\n\r\n");
    if stream.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = [0u8; 16];
    let mut got = 0;
    while got < 12 {
        match stream.read(&mut head[got..]).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => got += n,
        }
    }
    status_ok(&head)
}

async fn exec_ok(argv: &[String], env: &[(String, String)]) -> bool {
    let Some((program, args)) = argv.split_first() else { return false };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args).envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    cmd.kill_on_drop(true);
    matches!(cmd.status().await, Ok(s) if s.success())
}

/// Consecutive results → readiness, with the probe's thresholds.
#[derive(Debug, Default)]
pub struct Tracker {
    passes: u32,
    failures: u32,
    /// Current readiness.
    pub ready: bool,
}

impl Tracker {
    /// Records one result; returns true when readiness changed.
    pub fn record(&mut self, probe: &Probe, ok: bool) -> bool {
        let before = self.ready;
        if ok {
            self.passes += 1;
            self.failures = 0;
            if self.passes >= probe.success_threshold {
                self.ready = true;
            }
        } else {
            self.failures += 1;
            self.passes = 0;
            if self.failures >= probe.failure_threshold {
                self.ready = false;
            }
        }
        before != self.ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        let probe = Probe {
            action: ProbeAction::Exec { argv: vec![] },
            initial_delay: Duration::ZERO,
            period: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            success_threshold: 2,
            failure_threshold: 3,
        };
        let mut t = Tracker::default();
        let steps = [(true, false), (true, true), (false, true), (false, true), (true, true), (false, true)];
        for (i, (ok, want)) in steps.into_iter().enumerate() {
            t.record(&probe, ok);
            assert_eq!(t.ready, want, "step {i}");
        }
        t.record(&probe, false);
        t.record(&probe, false);
        assert!(!t.ready, "three failures in a row");
    }
}

//! The access log: Istio's default TEXT format (what the control plane asks Envoy for, see
//! [`ISTIO_TEXT_FORMAT`]) written to stdout, one line per completed request or TCP
//! connection, from one completion [`Record`]. Lines are formatted on the request path and
//! handed to a writer thread through a bounded queue, so a slow stdout never stalls traffic
//! (a full queue drops lines and counts them); the writer flushes whenever the queue runs dry.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::SystemTime;

/// Istio's `EnvoyTextLogFormat`, byte for byte: the only format this proxy writes, so the
/// listener config must ask for exactly this.
pub const ISTIO_TEXT_FORMAT: &str = "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" \
%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% \
\"%UPSTREAM_TRANSPORT_FAILURE_REASON%\" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% \
%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" \
\"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% \
%DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n";

/// Everything one access log line says about a finished request or connection.
#[derive(Debug, Clone)]
pub struct Record {
    /// When the request (connection) started.
    pub start: SystemTime,
    /// Method (None for TCP).
    pub method: Option<String>,
    /// Original path (before rewrites).
    pub path: Option<String>,
    /// `HTTP/1.1`, `HTTP/2` (None for TCP).
    pub protocol: Option<&'static str>,
    /// Response status (0 when none was sent, and for TCP).
    pub status: u16,
    /// Envoy response flags (`UH`, `NR`, `FI`, …), empty for none.
    pub flags: &'static str,
    /// `%RESPONSE_CODE_DETAILS%` (`via_upstream`, `route_not_found`, …).
    pub details: String,
    /// `%UPSTREAM_TRANSPORT_FAILURE_REASON%` (logged with spaces as `_`, as Envoy does).
    pub transport_failure: String,
    /// Request body (TCP: downstream) bytes received.
    pub bytes_received: u64,
    /// Response body (TCP: upstream) bytes sent.
    pub bytes_sent: u64,
    /// Total duration in milliseconds.
    pub duration_ms: u64,
    /// `x-envoy-upstream-service-time` of the response.
    pub upstream_service_time: Option<u64>,
    /// Request headers the format names.
    pub x_forwarded_for: Option<String>,
    /// `user-agent`.
    pub user_agent: Option<String>,
    /// `x-request-id`.
    pub request_id: Option<String>,
    /// `:authority`.
    pub authority: Option<String>,
    /// Upstream host picked.
    pub upstream_host: Option<SocketAddr>,
    /// Upstream cluster.
    pub upstream_cluster: Option<String>,
    /// Local address of the upstream connection.
    pub upstream_local: Option<SocketAddr>,
    /// Where the downstream connection arrived.
    pub downstream_local: SocketAddr,
    /// Who connected.
    pub downstream_remote: SocketAddr,
    /// Route name.
    pub route_name: Option<String>,
}

fn dash(s: Option<&str>) -> &str {
    match s {
        Some(s) if !s.is_empty() => s,
        _ => "-",
    }
}

fn addr(a: Option<SocketAddr>) -> String {
    a.map_or_else(|| "-".to_string(), |a| a.to_string())
}

impl Record {
    /// The line in Istio's TEXT format, newline included.
    pub fn format(&self) -> String {
        let mut out = String::with_capacity(320);
        let service_time = self.upstream_service_time.map_or_else(|| "-".to_string(), |t| t.to_string());
        let _ = writeln!(
            out,
            "[{}] \"{} {} {}\" {} {} {} - \"{}\" {} {} {} {} \"{}\" \"{}\" \"{}\" \"{}\" \"{}\" {} {} {} {} - {}",
            rfc3339_millis(self.start),
            dash(self.method.as_deref()),
            dash(self.path.as_deref()),
            dash(self.protocol),
            self.status,
            dash(Some(self.flags)),
            dash(Some(&self.details)),
            dash(Some(&self.transport_failure.replace(' ', "_"))),
            self.bytes_received,
            self.bytes_sent,
            self.duration_ms,
            service_time,
            dash(self.x_forwarded_for.as_deref()),
            dash(self.user_agent.as_deref()),
            dash(self.request_id.as_deref()),
            dash(self.authority.as_deref()),
            addr(self.upstream_host),
            dash(self.upstream_cluster.as_deref()),
            addr(self.upstream_local),
            self.downstream_local,
            self.downstream_remote,
            dash(self.route_name.as_deref()),
        );
        out
    }
}

/// `2026-11-23T12:21:36.574Z`, as Envoy's `%START_TIME%` prints by default.
pub fn rfc3339_millis(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem % 3600 / 60, rem % 60, d.subsec_millis())
}

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Where lines go: a bounded queue to the stdout writer thread.
#[derive(Debug)]
pub struct Sink {
    tx: SyncSender<String>,
    dropped: AtomicU64,
}

impl Sink {
    /// Starts the writer thread (stdout).
    pub fn stdout() -> Self {
        let (tx, rx) = sync_channel(8192);
        let spawned = std::thread::Builder::new().name("access-log".into()).spawn(move || write_loop(&rx));
        if let Err(e) = spawned {
            tracing::error!("cannot start the access log writer: {e}");
        }
        Sink { tx, dropped: AtomicU64::new(0) }
    }

    /// Queues a record's line (dropped, and counted, when the queue is full).
    pub fn log(&self, record: &Record) {
        match self.tx.try_send(record.format()) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Lines dropped because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

fn write_loop(rx: &Receiver<String>) {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    while let Ok(line) = rx.recv() {
        let _ = out.write_all(line.as_bytes());
        while let Ok(more) = rx.try_recv() {
            let _ = out.write_all(more.as_bytes());
        }
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_with_millis() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_436_496_574);
        assert_eq!(rfc3339_millis(t), "2026-11-23T12:21:36.574Z");
        assert_eq!(rfc3339_millis(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn line_matches_envoys_layout() {
        let r = Record {
            start: SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_436_496_574),
            method: Some("GET".into()),
            path: Some("/?i=0".into()),
            protocol: Some("HTTP/1.1"),
            status: 503,
            flags: "FI",
            details: "fault_filter_abort".into(),
            transport_failure: String::new(),
            bytes_received: 0,
            bytes_sent: 18,
            duration_ms: 0,
            upstream_service_time: None,
            x_forwarded_for: None,
            user_agent: Some("curl/7.88.1".into()),
            request_id: Some("id".into()),
            authority: Some("ratings:9080".into()),
            upstream_host: None,
            upstream_cluster: Some("outbound|9080||ratings.default.svc.cluster.local".into()),
            upstream_local: None,
            downstream_local: "127.0.0.102:15001".parse().expect("addr"),
            downstream_remote: "127.0.0.1:5000".parse().expect("addr"),
            route_name: None,
        };
        assert_eq!(
            r.format(),
            "[2026-11-23T12:21:36.574Z] \"GET /?i=0 HTTP/1.1\" 503 FI fault_filter_abort - \"-\" 0 18 0 - \"-\" \
             \"curl/7.88.1\" \"id\" \"ratings:9080\" \"-\" outbound|9080||ratings.default.svc.cluster.local - \
             127.0.0.102:15001 127.0.0.1:5000 - -\n"
        );
    }
}

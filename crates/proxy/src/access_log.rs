//! The access log: Istio's default TEXT format ([`ISTIO_TEXT_FORMAT`]) or its JSON encoding
//! ([`ISTIO_JSON_FORMAT`], meshConfig `accessLogEncoding: JSON`), whichever the listener's config
//! asks for ([`from_config`]), written to stdout, one line per completed request or TCP
//! connection, from one completion [`Record`]. The same record feeds the metrics
//! ([`crate::metrics`]): [`Sink::complete`] is the one place where both are emitted, so a
//! line and a count can never disagree. Lines are formatted on the request path straight into a
//! bounded buffer ([`line`]) that a writer thread swaps out and writes every 100 ms, so a slow
//! stdout never stalls traffic (a full buffer drops lines and counts them).

use crate::config::{ConfigError, unpack};
use crate::metrics::Telemetry;
use envoy_types::pb::envoy::config::accesslog::v3::{AccessLog, access_log};
use envoy_types::pb::envoy::config::core::v3::{data_source, substitution_format_string};
use envoy_types::pb::envoy::extensions::access_loggers::file::v3::{FileAccessLog, file_access_log::AccessLogFormat};
use envoy_types::pb::google::protobuf::value::Kind;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

mod line;

#[cfg(test)]
use line::civil_from_days;
pub use line::rfc3339_millis;

/// Istio's `EnvoyTextLogFormat`, byte for byte: the TEXT layout this proxy writes, so a TEXT
/// log config must ask for exactly this.
pub const ISTIO_TEXT_FORMAT: &str = "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" \
%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% \
\"%UPSTREAM_TRANSPORT_FAILURE_REASON%\" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% \
%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" \
\"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% \
%DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n";

/// Istio's `EnvoyJSONLogFormatIstio` (`accessLogEncoding: JSON`): key and command, sorted by key
/// as Envoy prints them. The values are the TEXT format's commands.
pub const ISTIO_JSON_FORMAT: [(&str, &str); 24] = [
    ("authority", "%REQ(:AUTHORITY)%"),
    ("bytes_received", "%BYTES_RECEIVED%"),
    ("bytes_sent", "%BYTES_SENT%"),
    ("connection_termination_details", "%CONNECTION_TERMINATION_DETAILS%"),
    ("downstream_local_address", "%DOWNSTREAM_LOCAL_ADDRESS%"),
    ("downstream_remote_address", "%DOWNSTREAM_REMOTE_ADDRESS%"),
    ("duration", "%DURATION%"),
    ("method", "%REQ(:METHOD)%"),
    ("path", "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%"),
    ("protocol", "%PROTOCOL%"),
    ("request_id", "%REQ(X-REQUEST-ID)%"),
    ("requested_server_name", "%REQUESTED_SERVER_NAME%"),
    ("response_code", "%RESPONSE_CODE%"),
    ("response_code_details", "%RESPONSE_CODE_DETAILS%"),
    ("response_flags", "%RESPONSE_FLAGS%"),
    ("route_name", "%ROUTE_NAME%"),
    ("start_time", "%START_TIME%"),
    ("upstream_cluster", "%UPSTREAM_CLUSTER_RAW%"),
    ("upstream_host", "%UPSTREAM_HOST%"),
    ("upstream_local_address", "%UPSTREAM_LOCAL_ADDRESS%"),
    ("upstream_service_time", "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%"),
    ("upstream_transport_failure_reason", "%UPSTREAM_TRANSPORT_FAILURE_REASON%"),
    ("user_agent", "%REQ(USER-AGENT)%"),
    ("x_forwarded_for", "%REQ(X-FORWARDED-FOR)%"),
];

/// The file access logger's extension name.
pub const FILE_ACCESS_LOG: &str = "envoy.access_loggers.file";

/// How lines are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Istio's TEXT format.
    #[default]
    Text,
    /// Istio's JSON encoding (keys sorted, typed values, `null` where TEXT prints `-`).
    Json,
}

/// Checks a listener's access logs: none (None), or one file log to `/dev/stdout` in Istio's
/// TEXT format or its JSON encoding; anything else is an error naming the field.
#[allow(deprecated)]
pub fn from_config(field: &str, logs: &[AccessLog]) -> Result<Option<Format>, ConfigError> {
    let log = match logs {
        [] => return Ok(None),
        [log] => log,
        _ => return Err(ConfigError::new(field, "at most one access log is supported")),
    };
    let err = |what: &str| {
        Err(ConfigError::new(format!("{field}[0].{what}"), "only Istio's TEXT or JSON log to /dev/stdout is supported"))
    };
    let Some(access_log::ConfigType::TypedConfig(any)) = &log.config_type else { return err("typed_config") };
    if log.name != FILE_ACCESS_LOG || log.filter.is_some() {
        return err("name");
    }
    let file: FileAccessLog = unpack(&format!("{field}[0].typed_config"), any)?;
    if file.path != "/dev/stdout" {
        return err("typed_config.path");
    }
    let format = match &file.access_log_format {
        Some(AccessLogFormat::LogFormat(f)) if f.omit_empty_values || !f.content_type.is_empty() => None,
        Some(AccessLogFormat::LogFormat(f)) => match &f.format {
            Some(substitution_format_string::Format::TextFormat(t)) => text_format(t),
            Some(substitution_format_string::Format::TextFormatSource(ds)) => match &ds.specifier {
                Some(data_source::Specifier::InlineString(s)) => text_format(s),
                _ => None,
            },
            Some(substitution_format_string::Format::JsonFormat(j)) => json_format(j),
            None => None,
        },
        Some(AccessLogFormat::Format(t)) => text_format(t),
        Some(AccessLogFormat::JsonFormat(j)) => json_format(j),
        _ => None,
    };
    format.map(Some).map_or_else(|| err("typed_config.log_format"), Ok)
}

fn text_format(t: &str) -> Option<Format> {
    (t == ISTIO_TEXT_FORMAT).then_some(Format::Text)
}

/// JSON only when the keys and commands are exactly Istio's.
fn json_format(j: &envoy_types::pb::google::protobuf::Struct) -> Option<Format> {
    let same = j.fields.len() == ISTIO_JSON_FORMAT.len()
        && ISTIO_JSON_FORMAT.iter().all(
            |(k, cmd)| matches!(j.fields.get(*k).and_then(|v| v.kind.as_ref()), Some(Kind::StringValue(s)) if s == cmd),
        );
    same.then_some(Format::Json)
}

/// What the completion needs beyond the line's fields: where the record goes and what the
/// metrics label it with.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// The access log encoding the listener asked for; None: no line (metrics still count).
    pub log: Option<Format>,
    /// The stat prefix of the HTTP connection manager or TCP proxy (`inbound_…` prefixes
    /// mark the inbound side: metrics `reporter="destination"`).
    pub stat_prefix: Option<Arc<str>>,
    /// A gRPC request (`content-type: application/grpc…`).
    pub grpc: bool,
    /// The response's `grpc-status` (trailers, else headers).
    pub grpc_status: Option<u32>,
    /// The SNI of a TLS connection (`%REQUESTED_SERVER_NAME%`).
    pub requested_server_name: Option<Arc<str>>,
}

impl Meta {
    /// For a listener filter with this stat prefix and log format.
    pub fn new(stat_prefix: &Arc<str>, log: Option<Format>) -> Self {
        Meta {
            log,
            stat_prefix: Some(stat_prefix.clone()),
            grpc: false,
            grpc_status: None,
            requested_server_name: None,
        }
    }

    /// Whether the record comes from an inbound listener.
    pub fn inbound(&self) -> bool {
        self.stat_prefix.as_deref().is_some_and(|p| p.starts_with("inbound"))
    }
}

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
    /// Where the record goes and what labels its metrics.
    pub meta: Meta,
}

/// Lines waiting for the writer, at most this many bytes (about 10,000 lines): past it lines
/// are dropped and counted, so a stalled stdout never grows memory or stalls traffic.
const PENDING_LIMIT: usize = 4 << 20;

/// Where completion records go: the metrics, and a buffer the stdout writer thread drains.
#[derive(Debug)]
pub struct Sink {
    shared: Arc<Pending>,
    writer: Option<std::thread::JoinHandle<()>>,
    dropped: AtomicU64,
    telemetry: Arc<Telemetry>,
}

/// Lines formatted on the request path, appended in place: no allocation per line and no
/// cross-thread free (the buffer keeps its capacity; the writer swaps it for its empty one).
#[derive(Debug, Default)]
struct Pending {
    lines: Mutex<String>,
    closed: AtomicBool,
}

impl Drop for Sink {
    /// Writes out what is queued before the process ends.
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        if let Some(writer) = self.writer.take() {
            writer.thread().unpark();
            let _ = writer.join();
        }
    }
}

impl Sink {
    /// Starts the writer thread (stdout); records also feed `telemetry`.
    pub fn new(telemetry: Arc<Telemetry>) -> Self {
        let shared = Arc::new(Pending::default());
        let pending = shared.clone();
        let spawned = std::thread::Builder::new().name("access-log".into()).spawn(move || write_loop(&pending));
        let writer = spawned.map_err(|e| tracing::error!("cannot start the access log writer: {e}")).ok();
        Sink { shared, writer, dropped: AtomicU64::new(0), telemetry }
    }

    /// A sink with metrics for an unnamed node (tests, tools).
    pub fn stdout() -> Self {
        Self::new(Arc::new(Telemetry::default()))
    }

    /// A request or connection is over: count it in the metrics and, when its listener asked
    /// for an access log, append its line for the writer (dropped, and counted, when the
    /// writer is that far behind). The one place both are emitted.
    pub fn complete(&self, record: &Record) {
        self.telemetry.complete(record);
        let Some(format) = record.meta.log else { return };
        let mut lines = self.shared.lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if lines.len() >= PENDING_LIMIT || self.writer.is_none() {
            drop(lines);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match format {
            Format::Text => record.format_into(&mut lines),
            Format::Json => lines.push_str(&record.json()),
        }
    }

    /// A TCP connection reached (or failed to reach) its upstream: Istio counts it opened then.
    pub fn tcp_opened(&self, record: &Record) {
        self.telemetry.tcp_opened(record);
    }

    /// The metrics.
    pub fn telemetry(&self) -> &Arc<Telemetry> {
        &self.telemetry
    }

    /// Lines dropped because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// How often the writer drains the buffer: lines reach stdout within this (Envoy flushes its
/// access logs every `--file-flush-interval-msec`, 200 ms under `strait proxy`). Polling
/// instead of blocking means a request never wakes the writer: waking it per line cost a
/// thread switch per request, more than formatting and writing the line.
const FLUSH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

fn write_loop(pending: &Pending) {
    let mut out = std::io::stdout().lock();
    let mut batch = String::new();
    loop {
        // Woken early only when the sink closes.
        std::thread::park_timeout(FLUSH_INTERVAL);
        let closed = pending.closed.load(Ordering::Acquire);
        std::mem::swap(&mut *pending.lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner), &mut batch);
        if !batch.is_empty() {
            let _ = out.write_all(batch.as_bytes());
            let _ = out.flush();
            // A burst's capacity is not kept forever.
            if batch.capacity() > PENDING_LIMIT / 4 {
                batch = String::new();
            }
            batch.clear();
        }
        if closed {
            return;
        }
    }
}

#[cfg(test)]
mod tests;

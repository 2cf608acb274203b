//! The access log: Istio's default TEXT format ([`ISTIO_TEXT_FORMAT`]) or its JSON encoding
//! ([`ISTIO_JSON_FORMAT`], meshConfig `accessLogEncoding: JSON`), whichever the listener's config
//! asks for ([`from_config`]), written to stdout, one line per completed request or TCP
//! connection, from one completion [`Record`]. The same record feeds the metrics
//! ([`crate::metrics`]): [`Sink::complete`] is the one place where both are emitted, so a
//! line and a count can never disagree. Lines are formatted on the request path and handed to
//! a writer thread through a bounded queue, so a slow stdout never stalls traffic (a full
//! queue drops lines and counts them); the writer drains and flushes it every 100 ms.

use crate::config::{ConfigError, unpack};
use crate::metrics::Telemetry;
use envoy_types::pb::envoy::config::accesslog::v3::{AccessLog, access_log};
use envoy_types::pb::envoy::config::core::v3::{data_source, substitution_format_string};
use envoy_types::pb::envoy::extensions::access_loggers::file::v3::{FileAccessLog, file_access_log::AccessLogFormat};
use envoy_types::pb::google::protobuf::value::Kind;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::time::SystemTime;

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
            "[{}] \"{} {} {}\" {} {} {} - \"{}\" {} {} {} {} \"{}\" \"{}\" \"{}\" \"{}\" \"{}\" {} {} {} {} {} {}",
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
            dash(self.meta.requested_server_name.as_deref()),
            dash(self.route_name.as_deref()),
        );
        out
    }
}

impl Record {
    /// The line in Istio's JSON encoding, newline included, as Envoy writes it: keys sorted,
    /// numbers for counts, durations and the status, `null` where TEXT prints `-` (except
    /// `response_flags`, which Envoy prints as `"-"` in both).
    pub fn json(&self) -> String {
        let mut out = String::with_capacity(640);
        let service_time = self.upstream_service_time.map(|t| t.to_string());
        let transport = Some(self.transport_failure.replace(' ', "_")).filter(|t| !t.is_empty());
        let fields: [(&str, Json<'_>); 24] = [
            ("authority", Json::text(self.authority.as_deref())),
            ("bytes_received", Json::Number(self.bytes_received)),
            ("bytes_sent", Json::Number(self.bytes_sent)),
            ("connection_termination_details", Json::Null),
            ("downstream_local_address", Json::Addr(Some(self.downstream_local))),
            ("downstream_remote_address", Json::Addr(Some(self.downstream_remote))),
            ("duration", Json::Number(self.duration_ms)),
            ("method", Json::text(self.method.as_deref())),
            ("path", Json::text(self.path.as_deref())),
            ("protocol", Json::text(self.protocol)),
            ("request_id", Json::text(self.request_id.as_deref())),
            ("requested_server_name", Json::text(self.meta.requested_server_name.as_deref())),
            ("response_code", Json::Number(u64::from(self.status))),
            ("response_code_details", Json::text(Some(&self.details))),
            ("response_flags", Json::Text(dash(Some(self.flags)))),
            ("route_name", Json::text(self.route_name.as_deref())),
            ("start_time", Json::Owned(rfc3339_millis(self.start))),
            ("upstream_cluster", Json::text(self.upstream_cluster.as_deref())),
            ("upstream_host", Json::Addr(self.upstream_host)),
            ("upstream_local_address", Json::Addr(self.upstream_local)),
            ("upstream_service_time", service_time.map_or(Json::Null, Json::Owned)),
            ("upstream_transport_failure_reason", transport.map_or(Json::Null, Json::Owned)),
            ("user_agent", Json::text(self.user_agent.as_deref())),
            ("x_forwarded_for", Json::text(self.x_forwarded_for.as_deref())),
        ];
        out.push('{');
        for (i, (key, value)) in fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "\"{key}\":");
            value.write(&mut out);
        }
        out.push_str("}\n");
        out
    }
}

/// A JSON value of an access log field.
enum Json<'a> {
    Null,
    Number(u64),
    Text(&'a str),
    Owned(String),
    Addr(Option<SocketAddr>),
}

impl<'a> Json<'a> {
    /// A string, or `null` when absent or empty (where TEXT prints `-`).
    fn text(s: Option<&'a str>) -> Self {
        match s {
            Some(s) if !s.is_empty() => Json::Text(s),
            _ => Json::Null,
        }
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null | Json::Addr(None) => out.push_str("null"),
            Json::Number(n) => {
                let _ = write!(out, "{n}");
            }
            Json::Text(s) => quote(out, s),
            Json::Owned(s) => quote(out, s),
            Json::Addr(Some(a)) => {
                let _ = write!(out, "\"{a}\"");
            }
        }
    }
}

/// Appends `s` as a JSON string.
fn quote(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
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

/// Where completion records go: the metrics, and a bounded queue to the stdout writer thread.
#[derive(Debug)]
pub struct Sink {
    tx: Option<SyncSender<String>>,
    writer: Option<std::thread::JoinHandle<()>>,
    dropped: AtomicU64,
    telemetry: Arc<Telemetry>,
}

impl Drop for Sink {
    /// Writes out what is queued before the process ends.
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(writer) = self.writer.take() {
            writer.thread().unpark();
            let _ = writer.join();
        }
    }
}

impl Sink {
    /// Starts the writer thread (stdout); records also feed `telemetry`.
    pub fn new(telemetry: Arc<Telemetry>) -> Self {
        let (tx, rx) = sync_channel(8192);
        let spawned = std::thread::Builder::new().name("access-log".into()).spawn(move || write_loop(&rx));
        let writer = spawned.map_err(|e| tracing::error!("cannot start the access log writer: {e}")).ok();
        Sink { tx: Some(tx), writer, dropped: AtomicU64::new(0), telemetry }
    }

    /// A sink with metrics for an unnamed node (tests, tools).
    pub fn stdout() -> Self {
        Self::new(Arc::new(Telemetry::default()))
    }

    /// A request or connection is over: count it in the metrics and, when its listener asked
    /// for an access log, queue its line (dropped, and counted, when the queue is full). The
    /// one place both are emitted.
    pub fn complete(&self, record: &Record) {
        self.telemetry.complete(record);
        let Some(format) = record.meta.log else { return };
        let line = match format {
            Format::Text => record.format(),
            Format::Json => record.json(),
        };
        let sent = self.tx.as_ref().map(|tx| tx.try_send(line));
        if let Some(Err(TrySendError::Full(_) | TrySendError::Disconnected(_))) = sent {
            self.dropped.fetch_add(1, Ordering::Relaxed);
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

/// How often the writer drains the queue: lines reach stdout within this (Envoy flushes its
/// access logs every `--file-flush-interval-msec`, 200 ms under `strait proxy`). Polling
/// instead of blocking means a request never wakes the writer: waking it per line cost a
/// thread switch per request, more than formatting and writing the line.
const FLUSH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

fn write_loop(rx: &Receiver<String>) {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    loop {
        // Woken early only when the sink closes.
        std::thread::park_timeout(FLUSH_INTERVAL);
        loop {
            match rx.try_recv() {
                Ok(line) => {
                    let _ = out.write_all(line.as_bytes());
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    let _ = out.flush();
                    return;
                }
            }
        }
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests;

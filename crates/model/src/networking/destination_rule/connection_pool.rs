//! Connection limits towards a destination (Envoy circuit breakers and connection options):
//! [`ConnectionPoolSettings`] with its TCP and HTTP parts, shared with Sidecar's inbound
//! connection pools, and Istio's `validateConnectionPool` rules.

use super::{ms_duration, opt_ms_duration};
use crate::types::Duration;
use crate::validation::{Validate, Validator};
use serde::{Deserialize, Serialize};

/// Istio `ConnectionPoolSettings`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectionPoolSettings {
    /// Settings common to HTTP and TCP upstream connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpSettings>,
    /// HTTP connection pool settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpSettings>,
}

/// Istio `ConnectionPoolSettings.TCPSettings`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpSettings {
    /// Maximum connections to each destination host (Envoy default 2^32-1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<i32>,
    /// TCP connect timeout (mesh default 10s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<Duration>,
    /// SO_KEEPALIVE on upstream sockets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_keepalive: Option<TcpKeepalive>,
    /// Maximum lifetime of a connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connection_duration: Option<Duration>,
    /// Idle timeout of TCP connections; `0s` disables it (Envoy default 1h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<Duration>,
}

/// Istio `TCPSettings.TcpKeepalive`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpKeepalive {
    /// Unanswered probes before the connection is dropped (OS default 9 on Linux).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probes: Option<u32>,
    /// Idle time before the first probe (OS default 2h on Linux).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Duration>,
    /// Time between probes (OS default 75s on Linux).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
}

/// Istio `HTTPSettings.H2UpgradePolicy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum H2UpgradePolicy {
    /// Use the mesh-wide default (`h2UpgradePolicy` in MeshConfig).
    #[default]
    Default,
    /// Keep HTTP/1.1.
    DoNotUpgrade,
    /// Upgrade HTTP/1.1 connections to HTTP/2.
    Upgrade,
}

/// Istio `ConnectionPoolSettings.HTTPSettings`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpSettings {
    /// Maximum queued requests waiting for a connection (Envoy default 2^32-1).
    #[serde(default, rename = "http1MaxPendingRequests", skip_serializing_if = "Option::is_none")]
    pub http1_max_pending_requests: Option<i32>,
    /// Maximum active requests to a destination (Envoy default 2^32-1).
    #[serde(default, rename = "http2MaxRequests", skip_serializing_if = "Option::is_none")]
    pub http2_max_requests: Option<i32>,
    /// Requests per connection; 1 disables keep-alive, 0 means unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests_per_connection: Option<i32>,
    /// Maximum outstanding retries to a destination (Envoy default 2^32-1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<i32>,
    /// Idle timeout of upstream HTTP connections (Envoy default 1h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<Duration>,
    /// Whether to upgrade HTTP/1.1 to HTTP/2.
    #[serde(default)]
    pub h2_upgrade_policy: H2UpgradePolicy,
    /// Use the client's protocol (HTTP/1.1 or HTTP/2) upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_client_protocol: Option<bool>,
    /// Maximum concurrent streams per HTTP/2 connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_streams: Option<i32>,
    /// HTTP/2 PING keep-alive on upstream connections.
    #[serde(default, rename = "http2KeepAlive", skip_serializing_if = "Option::is_none")]
    pub http2_keep_alive: Option<ConnectionKeepalive>,
}

/// Istio `HTTPSettings.ConnectionKeepalive` (HTTP/2 PING keep-alive).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectionKeepalive {
    /// Time between PINGs. Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Time to wait for a PING ack. Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

impl Validate for ConnectionPoolSettings {
    fn validate(&self, v: &mut Validator<'_>) {
        if self.tcp.is_none() && self.http.is_none() {
            v.error("connection pool must have at least one field");
        }
        v.opt("tcp", &self.tcp, |v, t| t.validate(v));
        v.opt("http", &self.http, |v, h| h.validate(v));
    }
}

/// Records Istio's "`what` must be non-negative" error for a negative count at `field`.
fn non_negative(v: &mut Validator<'_>, field: &str, what: &str, value: Option<i32>) {
    if let Some(n) = value.filter(|n| *n < 0) {
        v.error_at(field, format!("{what} must be non-negative, got {n}"));
    }
}

impl Validate for TcpSettings {
    fn validate(&self, v: &mut Validator<'_>) {
        non_negative(v, "maxConnections", "max connections", self.max_connections);
        opt_ms_duration(v, "connectTimeout", self.connect_timeout);
        opt_ms_duration(v, "maxConnectionDuration", self.max_connection_duration);
        // `0s` is how users turn the idle timeout off, so only non-zero values are checked.
        if let Some(d) = self.idle_timeout.filter(|d| !d.get().is_zero()) {
            v.field("idleTimeout", |v| ms_duration(v, d));
        }
        v.opt("tcpKeepalive", &self.tcp_keepalive, |v, ka| {
            opt_ms_duration(v, "time", ka.time);
            opt_ms_duration(v, "interval", ka.interval);
        });
    }
}

impl Validate for HttpSettings {
    fn validate(&self, v: &mut Validator<'_>) {
        non_negative(v, "http1MaxPendingRequests", "http1 max pending requests", self.http1_max_pending_requests);
        non_negative(v, "http2MaxRequests", "http2 max requests", self.http2_max_requests);
        non_negative(v, "maxRequestsPerConnection", "max requests per connection", self.max_requests_per_connection);
        non_negative(v, "maxRetries", "max retries", self.max_retries);
        non_negative(v, "maxConcurrentStreams", "max concurrent streams", self.max_concurrent_streams);
        opt_ms_duration(v, "idleTimeout", self.idle_timeout);
        if self.h2_upgrade_policy == H2UpgradePolicy::Upgrade && self.use_client_protocol == Some(true) {
            v.error_at("useClientProtocol", "use client protocol must not be true when H2UpgradePolicy is UPGRADE");
        }
        v.opt("http2KeepAlive", &self.http2_keep_alive, |v, ka| {
            match ka.interval {
                None => v.error_at("interval", "http2 keepalive interval is required"),
                Some(d) => v.field("interval", |v| ms_duration(v, d)),
            }
            match ka.timeout {
                None => v.error_at("timeout", "http2 keepalive timeout is required"),
                Some(d) => v.field("timeout", |v| ms_duration(v, d)),
            }
        });
    }
}

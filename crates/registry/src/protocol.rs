//! Protocol selection, as Istio does it: `appProtocol` wins, then the port name's prefix
//! (`http`, `http-web`, `grpc`, `tcp`, …, case-insensitive), then well-known server-first ports
//! as TCP; anything else is `Unknown` and gets protocol sniffing.

use std::fmt;

/// A port's protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum Protocol {
    Http,
    Http2,
    Grpc,
    GrpcWeb,
    Https,
    Tls,
    Tcp,
    Udp,
    Mongo,
    Mysql,
    Redis,
    /// Not declared: the proxy sniffs (HTTP/1, h2c, TLS, else TCP).
    Unknown,
}

impl Protocol {
    /// Parses Istio's protocol names (`HTTP`, `HTTP2`, `GRPC`, `GRPC-Web`, `HTTPS`, `TLS`, `TCP`,
    /// `UDP`, `Mongo`, `MySQL`, `Redis`), case-insensitive.
    pub fn parse(s: &str) -> Protocol {
        match s.to_ascii_lowercase().as_str() {
            "http" => Protocol::Http,
            "http2" => Protocol::Http2,
            "grpc" => Protocol::Grpc,
            "grpc-web" => Protocol::GrpcWeb,
            "https" => Protocol::Https,
            "tls" => Protocol::Tls,
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "mongo" => Protocol::Mongo,
            "mysql" => Protocol::Mysql,
            "redis" => Protocol::Redis,
            _ => Protocol::Unknown,
        }
    }

    /// Istio's selection for a Kubernetes Service port: `appProtocol`, then the name's prefix
    /// before the first `-` (`grpc-web` is matched whole first), then well-known ports.
    pub fn for_service_port(name: &str, app_protocol: Option<&str>, port: u32) -> Protocol {
        if let Some(app) = app_protocol {
            let p = match app {
                "kubernetes.io/h2c" => Protocol::Http2,
                "kubernetes.io/ws" => Protocol::Http,
                "kubernetes.io/wss" => Protocol::Https,
                other => Protocol::parse(other),
            };
            if p != Protocol::Unknown {
                return p;
            }
        }
        let lower = name.to_ascii_lowercase();
        let by_name = if lower == "grpc-web" || lower.starts_with("grpc-web-") {
            Protocol::GrpcWeb
        } else {
            Protocol::parse(lower.split('-').next().unwrap_or_default())
        };
        if by_name != Protocol::Unknown {
            return by_name;
        }
        match port {
            25 | 53 | 3306 | 27017 => Protocol::Tcp,
            _ => Protocol::Unknown,
        }
    }

    /// True for protocols routed by an HTTP connection manager.
    pub fn is_http(self) -> bool {
        matches!(self, Protocol::Http | Protocol::Http2 | Protocol::Grpc | Protocol::GrpcWeb)
    }

    /// True for protocols that speak HTTP/2 to the upstream.
    pub fn is_http2(self) -> bool {
        matches!(self, Protocol::Http2 | Protocol::Grpc)
    }

    /// True for TLS passthrough protocols (routed by SNI).
    pub fn is_tls(self) -> bool {
        matches!(self, Protocol::Https | Protocol::Tls)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Http => "HTTP",
            Protocol::Http2 => "HTTP2",
            Protocol::Grpc => "GRPC",
            Protocol::GrpcWeb => "GRPC-Web",
            Protocol::Https => "HTTPS",
            Protocol::Tls => "TLS",
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Mongo => "Mongo",
            Protocol::Mysql => "MySQL",
            Protocol::Redis => "Redis",
            Protocol::Unknown => "UnsupportedProtocol",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_table() {
        let cases = [
            ("http", None, 9080, Protocol::Http),
            ("HTTP-web", None, 80, Protocol::Http),
            ("http2", None, 80, Protocol::Http2),
            ("grpc-web", None, 80, Protocol::GrpcWeb),
            ("grpc-api", None, 80, Protocol::Grpc),
            ("tcp-db", None, 5432, Protocol::Tcp),
            ("web", None, 80, Protocol::Unknown),
            ("", None, 3306, Protocol::Tcp),
            ("web", Some("kubernetes.io/h2c"), 80, Protocol::Http2),
            ("tcp", Some("http"), 80, Protocol::Http),
            ("httpx", None, 80, Protocol::Unknown),
        ];
        for (name, app, port, want) in cases {
            assert_eq!(Protocol::for_service_port(name, app, port), want, "{name} {app:?} {port}");
        }
    }
}

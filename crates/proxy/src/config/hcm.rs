//! The HTTP connection manager: `HttpConnectionManager` → [`HttpManager`]: where routes come
//! from (RDS over ADS, or inline), the HTTP filter chain (only fault → CORS → router, as the
//! control plane generates it; the fault filter's per-route config is what applies), the
//! codec, the access log, which must be Istio's TEXT format to stdout (the one format
//! `crate::access_log` writes), and the connection manager's own header handling ([`Edge`]:
//! `use_remote_address` and the XFF settings gateways use, request ids, the `server` header).

use super::route_table::RouteTable;
use super::{ConfigError, Result, no_other_fields, unpack};
use crate::access_log::Format;
use envoy_types::pb::envoy::config::accesslog::v3::AccessLog;
use envoy_types::pb::envoy::config::core::v3::config_source::ConfigSourceSpecifier;
use envoy_types::pb::envoy::extensions::filters::http::cors::v3::Cors;
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::HttpFault;
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter,
    http_connection_manager::{CodecType, RouteSpecifier, ServerHeaderTransformation},
    http_filter::ConfigType,
};
use http::HeaderValue;
use std::sync::Arc;

/// The fault injection HTTP filter.
pub const FAULT_FILTER: &str = "envoy.filters.http.fault";
/// The CORS HTTP filter.
pub const CORS_FILTER: &str = "envoy.filters.http.cors";
/// The router HTTP filter.
pub const ROUTER_FILTER: &str = "envoy.filters.http.router";
/// The file access logger.
pub const FILE_ACCESS_LOG: &str = crate::access_log::FILE_ACCESS_LOG;

/// A compiled HTTP connection manager.
#[derive(Debug)]
pub struct HttpManager {
    /// Stats prefix (`outbound_15001`, `inbound_IP_PORT`).
    pub stat_prefix: Arc<str>,
    /// Where the routes come from.
    pub routes: RouteSource,
    /// HTTP/1, HTTP/2 or both (auto-detected).
    pub codec: Codec,
    /// Whether the fault filter runs (per-route faults apply only then).
    pub faults: bool,
    /// Whether Istio's stdout access log is on.
    pub access_log: bool,
    /// Its encoding (TEXT or JSON).
    pub log_format: Format,
    /// RFC 3986 path normalisation before routing.
    pub normalize_path: bool,
    /// Upgrade types allowed (lower case: `websocket`, `connect`).
    pub upgrades: Vec<String>,
    /// How requests and responses are marked at this hop (`crate::http::xff`).
    pub edge: Edge,
    /// Local-reply mappers (`local_reply_config`: the `x-strait-reason` header).
    pub local_replies: super::local_reply::LocalReplies,
}

/// The connection manager's own header handling (Envoy's `mutateRequestHeaders` and the
/// `server` header): whether the peer address is trusted as the client's (gateways set
/// `use_remote_address`), XFF appending, request id preservation, the `server` value.
#[derive(Debug, Clone)]
pub struct Edge {
    /// The downstream peer is the client: XFF gets its address, `x-envoy-external-address`
    /// is set, `x-forwarded-proto` is overwritten, edge-only `x-envoy-*` headers are dropped.
    pub use_remote_address: bool,
    /// Trusted proxies in front of this one (the client address is read from XFF).
    pub xff_num_trusted_hops: u32,
    /// Do not append to XFF.
    pub skip_xff_append: bool,
    /// Keep an edge request's `x-request-id` instead of making a new one.
    pub preserve_external_request_id: bool,
    /// The `server` response header value (Envoy's default `envoy`).
    pub server_name: HeaderValue,
    /// What happens to the upstream's `server` header.
    pub server_header: ServerHeader,
}

/// `server_header_transformation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerHeader {
    /// Replace it with `server_name` (Envoy's default).
    Overwrite,
    /// Set `server_name` only when the upstream sent none.
    AppendIfAbsent,
    /// Leave it as the upstream sent it.
    PassThrough,
}

impl Edge {
    fn try_from(h: &HttpConnectionManager) -> Result<Self> {
        if h.generate_request_id.as_ref().is_some_and(|b| !b.value) {
            return Err(ConfigError::unsupported("generate_request_id"));
        }
        let server_header = match ServerHeaderTransformation::try_from(h.server_header_transformation) {
            Ok(ServerHeaderTransformation::Overwrite) => ServerHeader::Overwrite,
            Ok(ServerHeaderTransformation::AppendIfAbsent) => ServerHeader::AppendIfAbsent,
            Ok(ServerHeaderTransformation::PassThrough) => ServerHeader::PassThrough,
            Err(_) => return Err(ConfigError::unsupported("server_header_transformation")),
        };
        let name = if h.server_name.is_empty() { "envoy" } else { h.server_name.as_str() };
        let server_name = HeaderValue::from_str(name)
            .map_err(|_| ConfigError::new("server_name", format!("{name:?} is not a valid header value")))?;
        Ok(Edge {
            use_remote_address: h.use_remote_address.as_ref().is_some_and(|b| b.value),
            xff_num_trusted_hops: h.xff_num_trusted_hops,
            skip_xff_append: h.skip_xff_append,
            preserve_external_request_id: h.preserve_external_request_id,
            server_name,
            server_header,
        })
    }
}

/// Route config source.
#[derive(Debug)]
pub enum RouteSource {
    /// RDS over the ADS stream, by name.
    Rds(String),
    /// Inline.
    Inline(Arc<RouteTable>),
}

/// Downstream codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// HTTP/1.1 and h2c prior knowledge.
    Auto,
    /// HTTP/1 only.
    Http1,
    /// HTTP/2 only.
    Http2,
}

impl TryFrom<&HttpConnectionManager> for HttpManager {
    type Error = ConfigError;

    fn try_from(h: &HttpConnectionManager) -> Result<Self> {
        let routes = match &h.route_specifier {
            Some(RouteSpecifier::Rds(rds)) => {
                let ads = rds.config_source.as_ref().and_then(|c| c.config_source_specifier.as_ref());
                if !matches!(ads, Some(ConfigSourceSpecifier::Ads(_))) {
                    return Err(ConfigError::new("rds.config_source", "only ADS is supported"));
                }
                RouteSource::Rds(rds.route_config_name.clone())
            }
            Some(RouteSpecifier::RouteConfig(rc)) => {
                RouteSource::Inline(Arc::new(RouteTable::try_from(rc).map_err(|e| e.within("route_config"))?))
            }
            _ => return Err(ConfigError::new("route_specifier", "RDS or an inline route config is required")),
        };
        let codec = match CodecType::try_from(h.codec_type) {
            Ok(CodecType::Auto) => Codec::Auto,
            Ok(CodecType::Http1) => Codec::Http1,
            Ok(CodecType::Http2) => Codec::Http2,
            _ => return Err(ConfigError::unsupported("codec_type")),
        };
        let faults = http_filters(&h.http_filters).map_err(|e| e.within("http_filters"))?;
        let log = access_log("access_log", &h.access_log)?;
        let upgrades = h.upgrade_configs.iter().map(|u| u.upgrade_type.to_ascii_lowercase()).collect();
        let edge = Edge::try_from(h)?;
        let local_replies = h
            .local_reply_config
            .as_ref()
            .map(super::local_reply::LocalReplies::try_from)
            .transpose()
            .map_err(|e| e.within("local_reply_config"))?
            .unwrap_or_default();
        let rest = HttpConnectionManager {
            codec_type: 0,
            stat_prefix: String::new(),
            http_filters: Vec::new(),
            access_log: Vec::new(),
            use_remote_address: None,
            xff_num_trusted_hops: 0,
            skip_xff_append: false,
            preserve_external_request_id: false,
            generate_request_id: None,
            server_name: String::new(),
            server_header_transformation: 0,
            normalize_path: None,
            upgrade_configs: Vec::new(),
            route_specifier: None,
            local_reply_config: None,
            ..h.clone()
        };
        no_other_fields(&rest)?;
        Ok(HttpManager {
            stat_prefix: h.stat_prefix.as_str().into(),
            routes,
            codec,
            faults,
            access_log: log.is_some(),
            log_format: log.unwrap_or_default(),
            normalize_path: h.normalize_path.as_ref().is_some_and(|b| b.value),
            upgrades,
            edge,
            local_replies,
        })
    }
}

/// Checks the filter chain (fault? cors? router, with empty filter-level configs); true when
/// the fault filter is present.
fn http_filters(filters: &[HttpFilter]) -> Result<bool> {
    let mut faults = false;
    for (i, f) in filters.iter().enumerate() {
        let at = |e: ConfigError| e.within(format!("[{i}]"));
        if f.disabled || f.is_optional {
            return Err(at(ConfigError::unsupported("disabled/is_optional")));
        }
        let Some(ConfigType::TypedConfig(any)) = &f.config_type else {
            return Err(at(ConfigError::new("typed_config", "a typed config is required")));
        };
        let last = i + 1 == filters.len();
        match f.name.as_str() {
            FAULT_FILTER => {
                let fault: HttpFault = unpack("typed_config", any).map_err(at)?;
                if fault != HttpFault::default() {
                    return Err(at(ConfigError::new("typed_config", "only per-route fault config is supported")));
                }
                faults = true;
            }
            // CORS policies are per route; a route that has one is refused in `route_table`.
            CORS_FILTER => {
                let cors: Cors = unpack("typed_config", any).map_err(at)?;
                no_other_fields(&cors).map_err(|e| at(e.within("typed_config")))?;
            }
            ROUTER_FILTER if last => {
                let router: Router = unpack("typed_config", any).map_err(at)?;
                no_other_fields(&router).map_err(|e| at(e.within("typed_config")))?;
            }
            ROUTER_FILTER => return Err(at(ConfigError::new("name", "the router must be the last filter"))),
            other => {
                return Err(at(ConfigError::new(
                    "name",
                    format!("HTTP filter {other} is not supported by the Strait proxy"),
                )));
            }
        }
    }
    if filters.last().is_none_or(|f| f.name != ROUTER_FILTER) {
        return Err(ConfigError::new("", "the last HTTP filter must be the router"));
    }
    Ok(faults)
}

/// Checks access logs (`crate::access_log::from_config`): none, or one file log to
/// `/dev/stdout` in Istio's TEXT format or its JSON encoding.
pub fn access_log(field: &str, logs: &[AccessLog]) -> Result<Option<Format>> {
    crate::access_log::from_config(field, logs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::config::core::v3::{ConfigSource, config_source::ConfigSourceSpecifier};
    use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::Rds;
    use envoy_types::pb::google::protobuf::{Any, BoolValue};
    use prost::Name;

    /// A gateway's connection manager as the control plane makes it, minus filters and logs.
    fn gateway() -> HttpConnectionManager {
        let ads = ConfigSource {
            config_source_specifier: Some(ConfigSourceSpecifier::Ads(Default::default())),
            ..Default::default()
        };
        let router = HttpFilter {
            name: ROUTER_FILTER.into(),
            config_type: Some(ConfigType::TypedConfig(Any { type_url: Router::type_url(), value: Vec::new() })),
            ..Default::default()
        };
        HttpConnectionManager {
            stat_prefix: "outbound_127.0.0.220_8080".into(),
            use_remote_address: Some(BoolValue { value: true }),
            http_filters: vec![router],
            route_specifier: Some(RouteSpecifier::Rds(Rds {
                config_source: Some(ads),
                route_config_name: "http.8080".into(),
            })),
            ..Default::default()
        }
    }

    #[test]
    fn edge_settings_compile() {
        let edge = HttpManager::try_from(&gateway()).expect("compiles").edge;
        assert!(edge.use_remote_address && !edge.skip_xff_append && !edge.preserve_external_request_id);
        assert_eq!((edge.server_name.to_str().ok(), edge.server_header), (Some("envoy"), ServerHeader::Overwrite));
        let named =
            HttpConnectionManager { server_name: "istio-envoy".into(), server_header_transformation: 1, ..gateway() };
        let edge = HttpManager::try_from(&named).expect("compiles").edge;
        assert_eq!(
            (edge.server_name.to_str().ok(), edge.server_header),
            (Some("istio-envoy"), ServerHeader::AppendIfAbsent)
        );
    }

    #[test]
    fn edge_settings_it_cannot_honour_are_refused() {
        let nack = |h: HttpConnectionManager| HttpManager::try_from(&h).expect_err("refused").to_string();
        let no_ids = HttpConnectionManager { generate_request_id: Some(BoolValue { value: false }), ..gateway() };
        assert_eq!(nack(no_ids), "generate_request_id: not supported by the Strait proxy");
        let via = HttpConnectionManager { via: "gw".into(), ..gateway() };
        assert!(nack(via).contains(
            "field number 22 of envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
        ));
        let bad = HttpConnectionManager { server_name: "a\nb".into(), ..gateway() };
        assert!(nack(bad).starts_with("server_name: "));
    }
}

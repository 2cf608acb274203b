//! The access log every HTTP connection manager and TCP proxy gets: a file log to
//! `/dev/stdout` in Istio's default TEXT format (istio-compat §3.2), so response flags such as
//! `UH`, `NR` and `FI` and the upstream cluster show up where users look for them; or, when the
//! mesh says `accessLogEncoding: JSON`, Istio's JSON encoding with the same fields
//! (`EnvoyJSONLogFormatIstio`). Listeners are built with the TEXT log; [`for_mesh`] switches a
//! finished listener set to the mesh's encoding, so the builders need not carry the mesh.

use crate::any::pack;
use envoy_types::pb::envoy::config::accesslog::v3::{AccessLog, access_log};
use envoy_types::pb::envoy::config::core::v3::{
    DataSource, SubstitutionFormatString, data_source::Specifier, substitution_format_string::Format,
};
use envoy_types::pb::envoy::config::listener::v3::{Filter, Listener, filter};
use envoy_types::pb::envoy::extensions::access_loggers::file::v3::{FileAccessLog, file_access_log::AccessLogFormat};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy;
use envoy_types::pb::google::protobuf::{Struct, Value, value::Kind};
use prost::{Message, Name};
use strait_model::mesh::{AccessLogEncoding, MeshConfig};

/// Istio's `EnvoyTextLogFormat`, byte for byte.
pub const ISTIO_TEXT_FORMAT: &str = "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" \
%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% \
\"%UPSTREAM_TRANSPORT_FAILURE_REASON%\" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% \
%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" \
\"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% \
%DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n";

/// Istio's `EnvoyJSONLogFormatIstio`: key and command (the TEXT format's commands).
pub const ISTIO_JSON_FORMAT: [(&str, &str); 24] = [
    ("start_time", "%START_TIME%"),
    ("route_name", "%ROUTE_NAME%"),
    ("method", "%REQ(:METHOD)%"),
    ("path", "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%"),
    ("protocol", "%PROTOCOL%"),
    ("response_code", "%RESPONSE_CODE%"),
    ("response_flags", "%RESPONSE_FLAGS%"),
    ("response_code_details", "%RESPONSE_CODE_DETAILS%"),
    ("connection_termination_details", "%CONNECTION_TERMINATION_DETAILS%"),
    ("bytes_received", "%BYTES_RECEIVED%"),
    ("bytes_sent", "%BYTES_SENT%"),
    ("duration", "%DURATION%"),
    ("upstream_service_time", "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%"),
    ("x_forwarded_for", "%REQ(X-FORWARDED-FOR)%"),
    ("user_agent", "%REQ(USER-AGENT)%"),
    ("request_id", "%REQ(X-REQUEST-ID)%"),
    ("authority", "%REQ(:AUTHORITY)%"),
    ("upstream_host", "%UPSTREAM_HOST%"),
    ("upstream_cluster", "%UPSTREAM_CLUSTER_RAW%"),
    ("upstream_local_address", "%UPSTREAM_LOCAL_ADDRESS%"),
    ("downstream_local_address", "%DOWNSTREAM_LOCAL_ADDRESS%"),
    ("downstream_remote_address", "%DOWNSTREAM_REMOTE_ADDRESS%"),
    ("requested_server_name", "%REQUESTED_SERVER_NAME%"),
    ("upstream_transport_failure_reason", "%UPSTREAM_TRANSPORT_FAILURE_REASON%"),
];

/// The file access logger's extension name.
pub const FILE_ACCESS_LOG: &str = "envoy.access_loggers.file";

/// A file access log to `/dev/stdout` with Istio's TEXT format.
pub fn stdout() -> AccessLog {
    let format = Format::TextFormatSource(DataSource {
        specifier: Some(Specifier::InlineString(ISTIO_TEXT_FORMAT.into())),
        ..Default::default()
    });
    file_log(format)
}

/// A file access log to `/dev/stdout` with Istio's JSON encoding.
pub fn stdout_json() -> AccessLog {
    // The process-wide hasher keeps the encoding (and so the resource's hash) stable.
    let mut fields = crate::any::stable_map();
    fields.extend(
        ISTIO_JSON_FORMAT
            .iter()
            .map(|(k, cmd)| ((*k).to_string(), Value { kind: Some(Kind::StringValue((*cmd).to_string())) })),
    );
    file_log(Format::JsonFormat(Struct { fields }))
}

fn file_log(format: Format) -> AccessLog {
    let format = SubstitutionFormatString { format: Some(format), ..Default::default() };
    let file =
        FileAccessLog { path: "/dev/stdout".into(), access_log_format: Some(AccessLogFormat::LogFormat(format)) };
    AccessLog {
        name: FILE_ACCESS_LOG.into(),
        filter: None,
        config_type: Some(access_log::ConfigType::TypedConfig(pack(&file))),
    }
}

/// Switches every stdout access log of `listeners` (HTTP connection managers and TCP proxies,
/// in filter chains and default chains) to the mesh's `accessLogEncoding`. TEXT, the default,
/// leaves them as built.
pub fn for_mesh(listeners: &mut [Listener], mesh: &MeshConfig) {
    if mesh.effective_access_log_encoding() != AccessLogEncoding::Json {
        return;
    }
    let json = stdout_json();
    for l in listeners {
        let chains = l.filter_chains.iter_mut().chain(l.default_filter_chain.as_mut());
        for f in chains.flat_map(|c| c.filters.iter_mut()) {
            to_json(f, &json);
        }
    }
}

fn to_json(f: &mut Filter, json: &AccessLog) {
    let Some(filter::ConfigType::TypedConfig(any)) = &mut f.config_type else { return };
    let swap = |logs: &mut Vec<AccessLog>| {
        for log in logs.iter_mut().filter(|l| l.name == FILE_ACCESS_LOG) {
            *log = json.clone();
        }
    };
    if any.type_url == HttpConnectionManager::type_url() {
        if let Ok(mut hcm) = HttpConnectionManager::decode(any.value.as_slice()) {
            swap(&mut hcm.access_log);
            *any = pack(&hcm);
        }
    } else if any.type_url == TcpProxy::type_url()
        && let Ok(mut tcp) = TcpProxy::decode(any.value.as_slice())
    {
        swap(&mut tcp.access_log);
        *any = pack(&tcp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_is_istios() {
        let want = concat!(
            r#"[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% "#,
            r#"%RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "#,
            r#""%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% "#,
            r#"%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "#,
            r#""%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% "#,
            r#"%DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%"#,
            "\n"
        );
        assert_eq!(ISTIO_TEXT_FORMAT, want);
    }

    #[test]
    fn json_has_the_text_formats_commands() {
        // Every TEXT command appears in the JSON encoding and vice versa.
        let mut text: Vec<&str> = ISTIO_TEXT_FORMAT.split('%').skip(1).step_by(2).collect();
        let mut json: Vec<&str> = ISTIO_JSON_FORMAT.iter().map(|(_, c)| c.trim_matches('%')).collect();
        text.sort_unstable();
        json.sort_unstable();
        assert_eq!(text, json);
    }

    #[test]
    fn mesh_json_encoding_switches_every_log() {
        use envoy_types::pb::envoy::config::listener::v3::FilterChain;
        let hcm = HttpConnectionManager { access_log: vec![stdout()], ..Default::default() };
        let tcp = TcpProxy { access_log: vec![stdout()], ..Default::default() };
        let filter = |any| Filter { name: "f".into(), config_type: Some(filter::ConfigType::TypedConfig(any)) };
        let chain = FilterChain { filters: vec![filter(pack(&hcm))], ..Default::default() };
        let default = FilterChain { filters: vec![filter(pack(&tcp))], ..Default::default() };
        let mut listeners =
            vec![Listener { filter_chains: vec![chain], default_filter_chain: Some(default), ..Default::default() }];
        let before = listeners.clone();
        for_mesh(&mut listeners, &MeshConfig::default());
        assert_eq!(listeners, before, "TEXT (the default) changes nothing");
        let mesh = MeshConfig { access_log_encoding: Some(AccessLogEncoding::Json), ..Default::default() };
        for_mesh(&mut listeners, &mesh);
        let any = |f: &Filter| match &f.config_type {
            Some(filter::ConfigType::TypedConfig(a)) => a.value.clone(),
            _ => Vec::new(),
        };
        let hcm =
            HttpConnectionManager::decode(any(&listeners[0].filter_chains[0].filters[0]).as_slice()).expect("hcm");
        assert_eq!(hcm.access_log, vec![stdout_json()]);
        let chain = listeners[0].default_filter_chain.as_ref().expect("default chain");
        let tcp = TcpProxy::decode(any(&chain.filters[0]).as_slice()).expect("tcp");
        assert_eq!(tcp.access_log, vec![stdout_json()]);
    }
}

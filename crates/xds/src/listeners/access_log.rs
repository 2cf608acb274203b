//! The access log every HTTP connection manager and TCP proxy gets: a file log to
//! `/dev/stdout` in Istio's default TEXT format (istio-compat §3.2), so response flags such as
//! `UH`, `NR` and `FI` and the upstream cluster show up where users look for them.

use crate::any::pack;
use envoy_types::pb::envoy::config::accesslog::v3::{AccessLog, access_log};
use envoy_types::pb::envoy::config::core::v3::{
    DataSource, SubstitutionFormatString, data_source::Specifier, substitution_format_string::Format,
};
use envoy_types::pb::envoy::extensions::access_loggers::file::v3::{FileAccessLog, file_access_log::AccessLogFormat};

/// Istio's `EnvoyTextLogFormat`, byte for byte.
pub const ISTIO_TEXT_FORMAT: &str = "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" \
%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% \
\"%UPSTREAM_TRANSPORT_FAILURE_REASON%\" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% \
%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" \
\"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% \
%DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n";

/// The file access logger's extension name.
pub const FILE_ACCESS_LOG: &str = "envoy.access_loggers.file";

/// A file access log to `/dev/stdout` with Istio's TEXT format.
pub fn stdout() -> AccessLog {
    let format = SubstitutionFormatString {
        format: Some(Format::TextFormatSource(DataSource {
            specifier: Some(Specifier::InlineString(ISTIO_TEXT_FORMAT.into())),
            ..Default::default()
        })),
        ..Default::default()
    };
    let file =
        FileAccessLog { path: "/dev/stdout".into(), access_log_format: Some(AccessLogFormat::LogFormat(format)) };
    AccessLog {
        name: FILE_ACCESS_LOG.into(),
        filter: None,
        config_type: Some(access_log::ConfigType::TypedConfig(pack(&file))),
    }
}

#[cfg(test)]
mod tests {
    use super::ISTIO_TEXT_FORMAT;

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
}

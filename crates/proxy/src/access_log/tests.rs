use super::*;
use std::time::Duration;

#[test]
fn timestamps_are_utc_with_millis() {
    let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_436_496_574);
    assert_eq!(rfc3339_millis(t), "2026-11-23T12:21:36.574Z");
    assert_eq!(rfc3339_millis(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    assert_eq!(civil_from_days(11_016), (2000, 2, 29));
}

fn fault_record() -> Record {
    Record {
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
        meta: Meta::default(),
    }
}

#[test]
fn line_matches_envoys_layout() {
    let r = fault_record();
    assert_eq!(
        r.format(),
        "[2026-11-23T12:21:36.574Z] \"GET /?i=0 HTTP/1.1\" 503 FI fault_filter_abort - \"-\" 0 18 0 - \"-\" \
         \"curl/7.88.1\" \"id\" \"ratings:9080\" \"-\" outbound|9080||ratings.default.svc.cluster.local - \
         127.0.0.102:15001 127.0.0.1:5000 - -\n"
    );
}

#[test]
fn json_matches_envoys_encoding() {
    let mut r = fault_record();
    r.user_agent = Some("say \"hi\"\n".into());
    let line = r.json();
    assert!(line.ends_with("}\n") && !line[..line.len() - 1].contains('\n'), "one line: {line}");
    let v: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
    let keys: Vec<&str> = v.as_object().expect("object").keys().map(String::as_str).collect();
    let want: Vec<&str> = ISTIO_JSON_FORMAT.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, want, "Istio's keys, sorted as Envoy prints them");
    assert_eq!(v["response_code"], 503);
    assert_eq!(v["bytes_sent"], 18);
    assert_eq!(v["response_flags"], "FI");
    assert_eq!(v["upstream_host"], serde_json::Value::Null, "TEXT's - is null");
    assert_eq!(v["user_agent"], "say \"hi\"\n");
    assert_eq!(v["start_time"], "2026-11-23T12:21:36.574Z");
    assert_eq!(v["downstream_local_address"], "127.0.0.102:15001");
    let mut ok = fault_record();
    ok.flags = "";
    ok.upstream_service_time = Some(7);
    ok.transport_failure = "delayed connect error: Connection refused".into();
    let v: serde_json::Value = serde_json::from_str(&ok.json()).expect("valid JSON");
    assert_eq!(v["response_flags"], "-", "Envoy prints no flags as \"-\" in JSON too");
    assert_eq!(v["upstream_service_time"], "7", "a header value stays a string");
    assert_eq!(v["upstream_transport_failure_reason"], "delayed_connect_error:_Connection_refused");
}

#[test]
#[allow(deprecated)]
fn config_selects_text_or_json_and_refuses_others() {
    use envoy_types::pb::envoy::config::core::v3::{SubstitutionFormatString, substitution_format_string as sfs};
    use envoy_types::pb::google::protobuf::{Any, Struct, Value};
    use prost::Name;
    let log = |format: sfs::Format| {
        let file = FileAccessLog {
            path: "/dev/stdout".into(),
            access_log_format: Some(AccessLogFormat::LogFormat(SubstitutionFormatString {
                format: Some(format),
                ..Default::default()
            })),
        };
        AccessLog {
            name: FILE_ACCESS_LOG.into(),
            filter: None,
            config_type: Some(access_log::ConfigType::TypedConfig(Any {
                type_url: FileAccessLog::type_url(),
                value: prost::Message::encode_to_vec(&file),
            })),
        }
    };
    let istio_json = |skip: usize| Struct {
        fields: ISTIO_JSON_FORMAT
            .iter()
            .skip(skip)
            .map(|(k, c)| ((*k).to_string(), Value { kind: Some(Kind::StringValue((*c).to_string())) }))
            .collect(),
    };
    assert_eq!(from_config("access_log", &[]), Ok(None));
    let text = log(sfs::Format::TextFormat(ISTIO_TEXT_FORMAT.into()));
    assert_eq!(from_config("access_log", &[text]), Ok(Some(Format::Text)));
    assert_eq!(from_config("access_log", &[log(sfs::Format::JsonFormat(istio_json(0)))]), Ok(Some(Format::Json)));
    let e = from_config("access_log", &[log(sfs::Format::JsonFormat(istio_json(1)))]).expect_err("a key missing");
    assert_eq!(e.field(), "access_log[0].typed_config.log_format");
    let e = from_config("access_log", &[log(sfs::Format::TextFormat("%START_TIME%\n".into()))]).expect_err("custom");
    assert_eq!(e.field(), "access_log[0].typed_config.log_format");
}

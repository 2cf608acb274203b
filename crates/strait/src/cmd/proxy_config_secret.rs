//! `strait proxy-config secret PROXY`: the SDS secrets a proxy holds (Envoy's
//! `SecretsConfigDump`), in istioctl's columns: resource name, type (certificate chain or CA),
//! status, whether the certificate is valid now, serial number and validity. Only public
//! parts are read; the JSON output scrubs private keys even though Envoy already redacts them.

use serde_json::Value;
use strait_xds::secrets::{pem, x509};

/// Table rows (header first) for the secrets in `dump`, judged valid at `now` (Unix seconds).
pub fn rows(dump: &Value, now: i64) -> Vec<Vec<String>> {
    let header = ["RESOURCE NAME", "TYPE", "STATUS", "VALID CERT", "SERIAL NUMBER", "NOT AFTER", "NOT BEFORE"];
    let mut rows = vec![header.map(String::from).to_vec()];
    let Some(sec) = super::proxy_config::section(dump, "SecretsConfigDump") else { return rows };
    let lists =
        [("dynamic_active_secrets", "ACTIVE"), ("dynamic_warming_secrets", "WARMING"), ("static_secrets", "ACTIVE")];
    for (field, status) in lists {
        for entry in sec[field].as_array().into_iter().flatten() {
            rows.push(row(entry, status, now));
        }
    }
    rows
}

fn row(entry: &Value, status: &str, now: i64) -> Vec<String> {
    let secret = &entry["secret"];
    let name = entry["name"].as_str().or(secret["name"].as_str()).unwrap_or("-").to_string();
    let (ty, source) = if secret["tls_certificate"].is_object() {
        ("Cert Chain", &secret["tls_certificate"]["certificate_chain"])
    } else if secret["validation_context"].is_object() {
        ("CA", &secret["validation_context"]["trusted_ca"])
    } else {
        ("Other", &Value::Null)
    };
    let leaf = pem_of(source).and_then(|p| x509::certificates(&p).ok()).and_then(|mut c| c.drain(..).next());
    let (valid, serial, after, before) = match leaf {
        Some(c) => (
            (c.not_before <= now && now <= c.not_after).to_string(),
            c.serial,
            x509::rfc3339(c.not_after),
            x509::rfc3339(c.not_before),
        ),
        None => ("false".into(), "-".into(), "-".into(), "-".into()),
    };
    vec![name, ty.into(), status.into(), valid, serial, after, before]
}

/// The PEM of an inline data source as Envoy dumps it (`inline_bytes` are base64 in JSON).
fn pem_of(source: &Value) -> Option<Vec<u8>> {
    if let Some(b) = source["inline_bytes"].as_str() {
        return pem::base64(b);
    }
    source["inline_string"].as_str().map(|s| s.as_bytes().to_vec())
}

/// The secrets section with every `private_key` replaced by `[redacted]`.
pub fn scrubbed(mut v: Value) -> Value {
    match &mut v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                *child = if k == "private_key" { Value::from("[redacted]") } else { scrubbed(child.take()) };
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| *i = scrubbed(i.take())),
        _ => {}
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_scrubbed_and_unparsable_secrets_still_listed() {
        let dump = json!({"configs": [{"@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump",
            "dynamic_active_secrets": [{"name": "kubernetes://a", "secret": {"name": "kubernetes://a",
                "tls_certificate": {"certificate_chain": {"inline_bytes": "bm90IHBlbQ=="},
                                    "private_key": {"inline_bytes": "c2VjcmV0"}}}}]}]});
        let rows = rows(&dump, 0);
        assert_eq!(rows[1], ["kubernetes://a", "Cert Chain", "ACTIVE", "false", "-", "-", "-"]);
        let out = scrubbed(dump).to_string();
        assert!(!out.contains("c2VjcmV0") && out.contains("[redacted]"), "{out}");
    }
}

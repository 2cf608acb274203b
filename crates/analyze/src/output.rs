//! The three output formats of `istioctl analyze -o log|json|yaml`. JSON and YAML carry Istio's
//! keys (`code`, `documentationUrl`, `level`, `message`, `origin`, `reference`), sorted as Go
//! marshals maps; JSON is indented with tabs as `json.MarshalIndent(ms, "", "\t")` does.
//! Strait's own codes have no istio.io page, so they carry no `documentationUrl`.

use crate::message::Message;
use serde_json::{Map, Value};

/// Istio's documentation page for a code, with the `istioctl-analyze` reference tag.
pub fn documentation_url(code: &str) -> String {
    format!(
        "https://istio.io/latest/docs/reference/config/analysis/{}/?ref=istioctl-analyze",
        code.to_ascii_lowercase()
    )
}

/// The message as Istio's `Unstructured(true)` map.
pub fn unstructured(m: &Message) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("code".into(), m.kind.code.into());
    map.insert("level".into(), m.kind.level.to_string().into());
    if let Some(origin) = m.origin_name() {
        map.insert("origin".into(), origin.into());
    }
    if let Some(r) = m.reference() {
        map.insert("reference".into(), r.into());
    }
    map.insert("message".into(), m.text().into());
    if !m.kind.is_strait() {
        map.insert("documentationUrl".into(), documentation_url(m.kind.code).into());
    }
    map
}

/// `istioctl analyze -o log`: one line per message.
pub fn log(messages: &[Message], colour: bool) -> String {
    messages.iter().map(|m| m.render(colour)).collect::<Vec<_>>().join("\n")
}

/// `istioctl analyze -o json`.
pub fn json(messages: &[Message]) -> String {
    let list: Vec<Value> = messages.iter().map(|m| Value::Object(unstructured(m))).collect();
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(&list, &mut ser).expect("JSON values serialize");
    String::from_utf8(buf).expect("serde_json writes UTF-8")
}

/// True when a YAML plain scalar could be misread (as another type, or as structure).
fn needs_quotes(s: &str) -> bool {
    s.is_empty()
        || s.starts_with(|c: char| " !&*-?:,[]{}#|>@`\"'%".contains(c))
        || s.ends_with(' ')
        || s.contains(": ")
        || s.contains(" #")
        || s.contains(['\n', '\t', '"', '\\'])
        || matches!(s.to_ascii_lowercase().as_str(), "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "~")
        || s.parse::<f64>().is_ok()
}

fn scalar(s: &str) -> String {
    if needs_quotes(s) { Value::String(s.to_string()).to_string() } else { s.to_string() }
}

/// `istioctl analyze -o yaml`.
pub fn yaml(messages: &[Message]) -> String {
    if messages.is_empty() {
        return "[]\n".to_string();
    }
    let mut out = String::new();
    for m in messages {
        let map = unstructured(m);
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort();
        for (i, k) in keys.into_iter().enumerate() {
            let v = map[k].as_str().unwrap_or_default();
            out.push_str(if i == 0 { "- " } else { "  " });
            out.push_str(&format!("{k}: {}\n", scalar(v)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::istio;
    use crate::message::Origin;

    fn message() -> Message {
        Message {
            kind: &istio::REFERENCED_RESOURCE_NOT_FOUND,
            args: vec!["host".into(), "x".into()],
            origin: Some(Origin {
                kind: "VirtualService".into(),
                namespace: "default".into(),
                name: "reviews".into(),
                file: Some("vs.yaml".into()),
                line: Some(4),
            }),
            line: None,
            analyzer: "t",
        }
    }

    #[test]
    fn json_and_yaml_carry_istios_keys() {
        let j: Value = serde_json::from_str(&json(&[message()])).unwrap();
        assert_eq!(j[0]["code"], "IST0101");
        assert_eq!(j[0]["origin"], "VirtualService default/reviews");
        assert_eq!(j[0]["reference"], "vs.yaml:4");
        assert_eq!(j[0]["message"], r#"Referenced host not found: "x""#);
        let y = yaml(&[message()]);
        assert!(y.starts_with("- code: IST0101\n  documentationUrl: https://istio.io/"), "{y}");
        assert!(y.contains("  message: 'Referenced") || y.contains("  message: \"Referenced"), "{y}");
        assert!(y.contains("  reference: vs.yaml:4\n"), "{y}");
        assert_eq!(yaml(&[]), "[]\n");
    }
}

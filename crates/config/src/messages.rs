//! Rewrites serde's error messages into what a Kubernetes/Istio user expects to read:
//! `Unsupported value: "BLAH": supported values: …`, `Required value`, and unknown fields with
//! a "did you mean" hint. Also decides where the error sits and whether removing the
//! offending value lets decoding continue.

use strait_model::suggest::did_you_mean;
use strait_model::{FieldPath, Segment};

/// Message for a field a Kubernetes type does not know.
pub fn unknown_k8s_field() -> String {
    "unknown field: not part of this Kubernetes kind's schema".to_string()
}

/// The same, with a "did you mean" hint from the kind's schema when one is close.
pub fn unknown_k8s_field_hint(path: &FieldPath, known: &[String]) -> String {
    let Some(Segment::Field(field) | Segment::Key(field)) = path.0.last() else { return unknown_k8s_field() };
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    match did_you_mean(field, known.iter().copied()) {
        Some(s) => format!("unknown field {field:?}; did you mean {s:?}?"),
        None if !known.is_empty() && known.len() <= 12 => {
            format!("unknown field {field:?}; expected one of: {}", known.join(", "))
        }
        None => format!("unknown field {field:?}: not part of this Kubernetes kind's schema"),
    }
}

/// Names between backticks in serde's messages: "expected one of `a`, `b`".
fn backticked(s: &str) -> Vec<&str> {
    s.split('`').skip(1).step_by(2).collect()
}

/// Returns (where, message, whether removing the value at `where` may let decoding go on).
pub fn classify(path: &FieldPath, raw: &str) -> (FieldPath, String, bool) {
    if let Some(rest) = raw.strip_prefix("unknown field ") {
        let names = backticked(rest);
        let Some((field, expected)) = names.split_first() else { return (path.clone(), raw.to_string(), false) };
        let at = if matches!(path.0.last(), Some(Segment::Field(f)) if f == field) {
            path.clone()
        } else {
            path.field(field)
        };
        let message = unknown_field_message(field, expected);
        return (at, message, true);
    }
    if let Some(rest) = raw.strip_prefix("unknown variant ") {
        let names = backticked(rest);
        let Some((value, expected)) = names.split_first() else { return (path.clone(), raw.to_string(), true) };
        let supported: Vec<String> = expected.iter().map(|e| format!("{e:?}")).collect();
        let mut message = format!("Unsupported value: {value:?}: supported values: {}", supported.join(", "));
        if let Some(s) = did_you_mean(value, expected.iter().copied()) {
            message.push_str(&format!(" (did you mean {s:?}?)"));
        }
        return (path.clone(), message, true);
    }
    if let Some(rest) = raw.strip_prefix("missing field ") {
        let field = backticked(rest).first().map(|s| s.to_string()).unwrap_or_default();
        return (path.field(&field), "Required value".to_string(), false);
    }
    if raw.starts_with("invalid type: null") {
        return (
            path.clone(),
            format!("in body must not be null: {}", raw.trim_start_matches("invalid type: null, ")),
            true,
        );
    }
    (path.clone(), raw.to_string(), true)
}

fn unknown_field_message(field: &str, expected: &[&str]) -> String {
    if expected.is_empty() {
        return format!("unknown field {field:?}: this object has no fields");
    }
    match did_you_mean(field, expected.iter().copied()) {
        Some(s) => format!("unknown field {field:?}; did you mean {s:?}?"),
        None => format!("unknown field {field:?}; expected one of: {}", expected.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_serde_messages() {
        let p = FieldPath::parse("spec.mtls.mode");
        let (_, m, _) = classify(&p, "unknown variant `BLAH`, expected one of `UNSET`, `DISABLE`");
        assert_eq!(m, "Unsupported value: \"BLAH\": supported values: \"UNSET\", \"DISABLE\"");
        let (at, m, _) = classify(&FieldPath::parse("spec"), "unknown field `host`, expected one of `hosts`, `http`");
        assert_eq!(at.to_string(), "spec.host");
        assert_eq!(m, "unknown field \"host\"; did you mean \"hosts\"?");
        let (at, m, removable) = classify(&FieldPath::parse("spec"), "missing field `host`");
        assert_eq!((at.to_string(), m.as_str(), removable), ("spec.host".into(), "Required value", false));
    }
}

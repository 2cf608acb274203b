//! Field-name hints for the Kubernetes kinds. Their k8s-openapi types ignore unknown fields
//! (we catch those with `serde_ignored`), so the list of valid names at a path comes from the
//! types' JSON schemas instead; the Istio types get theirs from serde's own error message.

use k8s_openapi::api::{apps::v1 as apps, core::v1 as core, discovery::v1 as discovery};
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::Value;
use strait_model::{FieldPath, Kind, Segment};

fn schema<T: JsonSchema>() -> Value {
    serde_json::to_value(SchemaGenerator::default().into_root_schema_for::<T>()).unwrap_or(Value::Null)
}

fn root_schema(kind: Kind) -> Option<Value> {
    Some(match kind {
        Kind::Namespace => schema::<core::Namespace>(),
        Kind::ServiceAccount => schema::<core::ServiceAccount>(),
        Kind::Service => schema::<core::Service>(),
        Kind::Endpoints => schema::<core::Endpoints>(),
        Kind::EndpointSlice => schema::<discovery::EndpointSlice>(),
        Kind::Pod => schema::<core::Pod>(),
        Kind::Deployment => schema::<apps::Deployment>(),
        Kind::Secret => schema::<core::Secret>(),
        Kind::ConfigMap => schema::<core::ConfigMap>(),
        // Istio objects reach here only for `metadata` (ObjectMeta is a k8s-openapi type).
        _ => schema::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>(),
    })
}

/// Follows `$ref`s (`#/$defs/NAME`) and single-entry `allOf`/`anyOf` wrappers.
fn resolve<'a>(root: &'a Value, mut node: &'a Value) -> &'a Value {
    for _ in 0..16 {
        if let Some(r) = node.get("$ref").and_then(Value::as_str) {
            match r.strip_prefix("#/$defs/").and_then(|name| root.get("$defs")?.get(name)) {
                Some(target) => node = target,
                None => return node,
            }
        } else if let Some(inner) = ["allOf", "anyOf", "oneOf"]
            .iter()
            .find_map(|k| node.get(*k)?.as_array()?.iter().find(|s| s.get("type") != Some(&Value::from("null"))))
        {
            node = inner;
        } else {
            return node;
        }
    }
    node
}

/// Valid field names of the object at `parent` in a document of `kind`.
pub fn field_names(kind: Kind, parent: &FieldPath) -> Vec<String> {
    let Some(root) = root_schema(kind) else { return Vec::new() };
    // Istio kinds reach here only for `metadata`, whose schema is ObjectMeta's own root.
    let segments: &[Segment] = match parent.0.split_first() {
        Some((Segment::Field(f), rest)) if kind.is_istio() && f == "metadata" => rest,
        _ => &parent.0,
    };
    let mut node = resolve(&root, &root);
    for seg in segments {
        let next = match seg {
            Segment::Field(k) | Segment::Key(k) => {
                node.get("properties").and_then(|p| p.get(k)).or_else(|| node.get("additionalProperties"))
            }
            Segment::Index(_) => node.get("items"),
        };
        match next {
            Some(n) => node = resolve(&root, n),
            None => return Vec::new(),
        }
    }
    node.get("properties").and_then(Value::as_object).map(|p| p.keys().cloned().collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_container_fields() {
        let names = field_names(Kind::Deployment, &FieldPath::parse("spec.template.spec.containers[0]"));
        assert!(names.iter().any(|n| n == "imagePullPolicy"), "{names:?}");
        let names = field_names(Kind::Service, &FieldPath::parse("spec"));
        assert!(names.iter().any(|n| n == "ports"), "{names:?}");
        let names = field_names(Kind::VirtualService, &FieldPath::parse("metadata"));
        assert!(names.iter().any(|n| n == "labels"), "{names:?}");
    }
}

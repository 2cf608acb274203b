//! Small builders for `google.protobuf.Struct` metadata values (Envoy's `filter_metadata`).

use envoy_types::pb::google::protobuf::{ListValue, Struct, Value, value::Kind};

/// A string value.
pub fn string(s: &str) -> Value {
    Value { kind: Some(Kind::StringValue(s.to_string())) }
}

/// A list value.
pub fn list(values: Vec<Value>) -> Value {
    Value { kind: Some(Kind::ListValue(ListValue { values })) }
}

/// A struct value from (key, value) pairs.
pub fn structure<'k>(fields: impl IntoIterator<Item = (&'k str, Value)>) -> Value {
    Value { kind: Some(Kind::StructValue(to_struct(fields))) }
}

/// A struct from (key, value) pairs.
pub fn to_struct<'k>(fields: impl IntoIterator<Item = (&'k str, Value)>) -> Struct {
    let mut map = crate::any::stable_map();
    map.extend(fields.into_iter().map(|(k, v)| (k.to_string(), v)));
    Struct { fields: map }
}

//! Packing typed Envoy messages into `google.protobuf.Any` (typed_config, discovery responses).

use envoy_types::pb::google::protobuf::Any;

/// Packs `msg` with its canonical type URL.
pub fn pack<M: prost::Name + prost::Message>(msg: &M) -> Any {
    Any { type_url: M::type_url(), value: msg.encode_to_vec() }
}

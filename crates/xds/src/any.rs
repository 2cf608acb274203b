//! Packing typed Envoy messages into `google.protobuf.Any` (typed_config, discovery responses),
//! and maps that encode the same way every time.
//!
//! prost encodes protobuf `map` fields by iterating a `HashMap`, and every `HashMap::new()` draws
//! fresh random hasher keys, so two equal resources could encode to different bytes. The ADS
//! server versions resources by a hash of their encoding; a spurious difference would resend
//! unchanged config to every proxy. Every map we build therefore shares one hasher state
//! ([`stable_map`]): equal contents inserted in the same order iterate, and encode, identically.

use envoy_types::pb::google::protobuf::Any;
use std::collections::HashMap;
use std::hash::RandomState;
use std::sync::OnceLock;

/// An empty map with the process-wide hasher state (see the module docs).
pub fn stable_map<K, V>() -> HashMap<K, V> {
    static STATE: OnceLock<RandomState> = OnceLock::new();
    HashMap::with_hasher(STATE.get_or_init(RandomState::new).clone())
}

/// Packs `msg` with its canonical type URL.
pub fn pack<M: prost::Name + prost::Message>(msg: &M) -> Any {
    Any { type_url: M::type_url(), value: msg.encode_to_vec() }
}

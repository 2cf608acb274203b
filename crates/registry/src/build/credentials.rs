//! Secrets and ConfigMaps as [`Credential`]s: the key → bytes view `credentialName` reads.
//! A Secret's `stringData` is merged over its `data` (the API server does this on write, and
//! files written by hand often use `stringData` for PEM text); a ConfigMap's `data` over its
//! `binaryData`.

use super::{meta_name, meta_namespace};
use crate::store::Credential;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use std::collections::BTreeMap;

/// The credential view of a Secret.
pub(super) fn secret(s: &Secret) -> Credential {
    let mut data: BTreeMap<String, Vec<u8>> = s.data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect();
    data.extend(s.string_data.iter().flatten().map(|(k, v)| (k.clone(), v.clone().into_bytes())));
    Credential { namespace: meta_namespace(&s.metadata).into(), name: meta_name(&s.metadata).into(), data }
}

/// The credential view of a ConfigMap.
pub(super) fn config_map(c: &ConfigMap) -> Credential {
    let mut data: BTreeMap<String, Vec<u8>> =
        c.binary_data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect();
    data.extend(c.data.iter().flatten().map(|(k, v)| (k.clone(), v.clone().into_bytes())));
    Credential { namespace: meta_namespace(&c.metadata).into(), name: meta_name(&c.metadata).into(), data }
}

/// Sorts by (namespace, name); stable, so the first loaded of two duplicates is found first.
pub(super) fn sort(v: &mut [Credential]) {
    v.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    #[test]
    fn string_data_wins_over_data() {
        let s = Secret {
            metadata: ObjectMeta {
                name: Some("gw".into()),
                namespace: Some("istio-system".into()),
                ..Default::default()
            },
            data: Some(BTreeMap::from([
                ("tls.crt".to_string(), ByteString(b"old".to_vec())),
                ("tls.key".to_string(), ByteString(b"key".to_vec())),
            ])),
            string_data: Some(BTreeMap::from([("tls.crt".to_string(), "new".to_string())])),
            ..Default::default()
        };
        let c = secret(&s);
        assert_eq!((c.namespace.as_str(), c.name.as_str()), ("istio-system", "gw"));
        assert_eq!(c.value("tls.crt"), Some(&b"new"[..]));
        assert_eq!(c.value("tls.key"), Some(&b"key"[..]));
    }
}

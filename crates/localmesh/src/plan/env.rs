//! A container's environment as the kubelet builds it: literal values, the downward API
//! (`valueFrom.fieldRef`), ConfigMap and Secret keys, and `$(VAR)` references, which expand in
//! later `env` values, `command` and `args` (an undefined reference stays as written, `$$`
//! escapes a `$`, exactly as Kubernetes' `expansion` package does).

use k8s_openapi::api::core::v1 as core;
use std::collections::BTreeMap;

/// What the downward API and key references read.
pub struct Context<'a> {
    /// Pod name.
    pub pod: &'a str,
    /// Namespace.
    pub namespace: &'a str,
    /// Service account.
    pub service_account: &'a str,
    /// The pod's labels and annotations.
    pub labels: &'a BTreeMap<String, String>,
    /// Annotations.
    pub annotations: &'a BTreeMap<String, String>,
    /// `status.podIP` as the app sees it (the address it binds).
    pub pod_ip: &'a str,
    /// `status.hostIP`.
    pub host_ip: &'a str,
    /// ConfigMaps of the pod's namespace: name → data.
    pub config_maps: &'a BTreeMap<String, BTreeMap<String, String>>,
    /// Secrets of the pod's namespace: name → data (decoded).
    pub secrets: &'a BTreeMap<String, BTreeMap<String, String>>,
}

/// The container's variables in order, after `base` (what the local mesh declares for every
/// container, so the manifest may refer to it), or a message naming the variable that cannot
/// be set. A variable declared twice keeps its last value.
pub fn resolve(
    base: Vec<(String, String)>,
    vars: &[core::EnvVar],
    ctx: &Context<'_>,
) -> Result<Vec<(String, String)>, String> {
    let mut out = base;
    for v in vars {
        let value = match (&v.value, &v.value_from) {
            (_, Some(from)) => match source(from, ctx).map_err(|e| format!("env {}: {e}", v.name))? {
                Some(value) => value,
                None => continue,
            },
            (Some(value), None) => {
                let known = |name: &str| out.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone());
                expand(value, &known)
            }
            (None, None) => String::new(),
        };
        out.retain(|(k, _)| *k != v.name);
        out.push((v.name.clone(), value));
    }
    Ok(out)
}

/// A `valueFrom` source's value; `None` when an optional key is missing.
fn source(from: &core::EnvVarSource, ctx: &Context<'_>) -> Result<Option<String>, String> {
    if let Some(f) = &from.field_ref {
        return field(&f.field_path, ctx).map(Some);
    }
    let lookup = |maps: &BTreeMap<String, BTreeMap<String, String>>, kind: &str, name: &str, key: &str, opt| match maps
        .get(name)
        .and_then(|m| m.get(key))
    {
        Some(v) => Ok(Some(v.clone())),
        None if opt == Some(true) => Ok(None),
        None => Err(format!("{kind} {}/{name} has no key {key:?}", ctx.namespace)),
    };
    if let Some(r) = &from.config_map_key_ref {
        return lookup(ctx.config_maps, "ConfigMap", &r.name, &r.key, r.optional);
    }
    if let Some(r) = &from.secret_key_ref {
        return lookup(ctx.secrets, "Secret", &r.name, &r.key, r.optional);
    }
    Err("only fieldRef, configMapKeyRef and secretKeyRef are supported in valueFrom".into())
}

/// The downward API's `fieldRef` paths.
fn field(path: &str, ctx: &Context<'_>) -> Result<String, String> {
    let keyed = |prefix: &str, map: &BTreeMap<String, String>| {
        let key = path.strip_prefix(prefix)?.strip_suffix("']")?;
        Some(map.get(key).cloned().unwrap_or_default())
    };
    let value = match path {
        "metadata.name" => ctx.pod.to_string(),
        "metadata.namespace" => ctx.namespace.to_string(),
        "spec.serviceAccountName" => ctx.service_account.to_string(),
        "spec.nodeName" => "localhost".to_string(),
        "status.podIP" | "status.podIPs" => ctx.pod_ip.to_string(),
        "status.hostIP" | "status.hostIPs" => ctx.host_ip.to_string(),
        _ => keyed("metadata.labels['", ctx.labels)
            .or_else(|| keyed("metadata.annotations['", ctx.annotations))
            .ok_or_else(|| format!("fieldRef {path:?} is not supported"))?,
    };
    Ok(value)
}

/// Kubernetes' `$(VAR)` expansion: defined references are replaced, undefined ones stay as
/// written, `$$` is a literal `$`.
pub fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('(') {
            match body.find(')') {
                Some(end) => {
                    let name = &body[..end];
                    match lookup(name) {
                        Some(v) => out.push_str(&v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &body[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = body;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_table() {
        let lookup = |n: &str| (n == "A").then(|| "x".to_string());
        let cases = [
            ("plain", "plain"),
            ("$(A)", "x"),
            ("pre-$(A)-post", "pre-x-post"),
            ("$(B)", "$(B)"),
            ("$$(A)", "$(A)"),
            ("$$", "$"),
            ("a$b", "a$b"),
            ("$(A", "$(A"),
            ("$(A)$(A)", "xx"),
            ("end$", "end$"),
        ];
        for (input, want) in cases {
            assert_eq!(expand(input, &lookup), want, "{input}");
        }
    }

    fn var(name: &str, value: Option<&str>, from: Option<core::EnvVarSource>) -> core::EnvVar {
        core::EnvVar { name: name.into(), value: value.map(String::from), value_from: from }
    }

    fn field_ref(path: &str) -> Option<core::EnvVarSource> {
        Some(core::EnvVarSource {
            field_ref: Some(core::ObjectFieldSelector { field_path: path.into(), api_version: None }),
            ..Default::default()
        })
    }

    #[test]
    fn downward_api_and_references() {
        let labels = BTreeMap::from([("app".to_string(), "reviews".to_string())]);
        let none = BTreeMap::new();
        let cms = BTreeMap::from([("cfg".to_string(), BTreeMap::from([("color".to_string(), "red".to_string())]))]);
        let ctx = Context {
            pod: "reviews-v1-abc",
            namespace: "default",
            service_account: "bookinfo-reviews",
            labels: &labels,
            annotations: &none,
            pod_ip: "127.11.1.2",
            host_ip: "127.10.0.1",
            config_maps: &cms,
            secrets: &BTreeMap::new(),
        };
        let cm = Some(core::EnvVarSource {
            config_map_key_ref: Some(core::ConfigMapKeySelector {
                name: "cfg".into(),
                key: "color".into(),
                optional: None,
            }),
            ..Default::default()
        });
        let vars = [
            var("POD_IP", None, field_ref("status.podIP")),
            var("NAME", None, field_ref("metadata.name")),
            var("APP", None, field_ref("metadata.labels['app']")),
            var("ADDR", Some("$(POD_IP):9080"), None),
            var("LATER", Some("$(UNSET)"), None),
            var("COLOR", None, cm),
            var("HOST", None, field_ref("status.hostIP")),
        ];
        let got = resolve(Vec::new(), &vars, &ctx).expect("resolves");
        let get = |k: &str| got.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("POD_IP"), Some("127.11.1.2"));
        assert_eq!(get("NAME"), Some("reviews-v1-abc"));
        assert_eq!(get("APP"), Some("reviews"));
        assert_eq!(get("ADDR"), Some("127.11.1.2:9080"));
        assert_eq!(get("LATER"), Some("$(UNSET)"));
        assert_eq!(get("COLOR"), Some("red"));
        assert_eq!(get("HOST"), Some("127.10.0.1"));
        let bad = [var("X", None, field_ref("metadata.uid"))];
        assert!(resolve(Vec::new(), &bad, &ctx).unwrap_err().contains("metadata.uid"));
    }
}

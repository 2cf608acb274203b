//! STR0008: HTTP/1.0 upstreams, as far as config reveals them (seed: "Envoy won't connect to
//! my HTTP/1.0 service"). nginx proxies with HTTP/1.0 unless told `proxy_http_version 1.1`, and
//! Apache's `force-proxy-request-1.0` does the same; behind a sidecar those requests get 426
//! Upgrade Required on HTTP ports, or lose HTTP routing on sniffed ports. The ConfigMaps that
//! hold such config are reported, with the workloads that mount them.

use crate::codes::strait;
use crate::context::{Context, Reporter};
use crate::input::Obj;
use strait_model::Resource;

/// Lines of a config without `#` comments.
fn directives(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(|l| l.split('#').next().unwrap_or_default().trim()).filter(|l| !l.is_empty())
}

/// (key, what) when the text makes its proxy speak HTTP/1.0.
fn http10(key: &str, text: &str) -> Option<(String, &'static str)> {
    let lower = text.to_ascii_lowercase();
    let has = |needle: &str| directives(&lower).any(|l| l.contains(needle));
    if has("proxy_pass ") && !has("proxy_http_version 1.1") && !has("proxy_http_version 2") {
        return Some((
            format!(
                "nginx proxy_pass in {key:?} without proxy_http_version 1.1; nginx proxies with HTTP/1.0 by default"
            ),
            "add `proxy_http_version 1.1;` and `proxy_set_header Connection \"\";` next to each proxy_pass",
        ));
    }
    if has("force-proxy-request-1.0") {
        return Some((
            format!("force-proxy-request-1.0 in {key:?}"),
            "remove force-proxy-request-1.0 so Apache proxies with HTTP/1.1",
        ));
    }
    None
}

/// The workloads that mount ConfigMap `name` in `ns`, as `Kind ns/name`.
fn mounted_by(ctx: &Context<'_>, cm: &Obj) -> Vec<String> {
    ctx.workloads()
        .iter()
        .filter(|w| w.namespace == cm.namespace)
        .filter(|w| {
            w.spec.is_some_and(|s| {
                s.volumes.iter().flatten().any(|v| v.config_map.as_ref().is_some_and(|c| c.name == cm.name))
            })
        })
        .map(|w| format!("{} {}", w.obj.kind, w.obj.full_name()))
        .collect()
}

/// Runs the analyzer.
pub fn run(ctx: &Context<'_>, out: &mut Reporter) {
    for o in ctx.input.objects.iter() {
        let Resource::ConfigMap(cm) = &o.resource else { continue };
        for (key, text) in cm.data.iter().flatten() {
            let Some((what, fix)) = http10(key, text) else { continue };
            let users = mounted_by(ctx, o);
            let proxy = if users.is_empty() { "the proxy that reads it".to_string() } else { users.join(", ") };
            out.report(
                &strait::HTTP10_UPSTREAM,
                o,
                o.line_of_path(&data_path(key)),
                vec![format!("ConfigMap {}", o.full_name()).into(), proxy.into(), what.into(), fix.into()],
            );
        }
    }
}

fn data_path(key: &str) -> strait_model::FieldPath {
    use strait_model::Segment::Field;
    strait_model::FieldPath(vec![Field("data".into()), Field(key.into())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_defaults_to_http10() {
        assert!(http10("k", "location / {\n  proxy_pass http://backend;\n}\n").is_some());
        assert!(http10("k", "proxy_pass http://b;\nproxy_http_version 1.1;\n").is_none());
        assert!(http10("k", "# proxy_pass http://b;\n").is_none());
        assert!(http10("k", "SetEnv force-proxy-request-1.0 1").is_some());
    }
}

//! One document (a JSON value with positions) → a typed [`Resource`] plus findings.
//!
//! Structural problems (unknown fields, wrong types, unsupported enum values) are found by
//! serde. serde stops at the first, so we remove the offending value and decode again, up to a
//! bound, collecting each error; then the rest of the document is still validated. Unknown
//! fields on the Kubernetes kinds (whose k8s-openapi types ignore them) are caught with
//! `serde_ignored`. Kind lookup, "not supported" reports and `kind: List` unwrapping live here.

use crate::positions::{Pos, Positions};
use crate::{Finding, LoadReport, Loaded, ObjectRef};
use serde::Deserializer;
use serde_json::Value;
use std::sync::Arc;
use strait_model::kind::{self, Lookup};
use strait_model::mesh::MeshConfig;
use strait_model::{FieldPath, Issue, Kind, Resource, Segment, Severity, Support};

/// Most structural errors reported for one document before giving up.
const MAX_STRUCTURAL: usize = 50;

/// Where a document came from, for findings.
pub struct Origin<'a> {
    /// File name as the user gave it (or `<stdin>`).
    pub file: &'a Arc<str>,
    /// Positions of the document's fields.
    pub positions: &'a Positions,
    /// Namespace for documents without one.
    pub default_namespace: &'a str,
}

impl Origin<'_> {
    fn at(&self, path: &FieldPath) -> Option<Pos> {
        self.positions.locate(path)
    }

    fn finding(&self, severity: Severity, object: Option<&ObjectRef>, path: &FieldPath, message: String) -> Finding {
        Finding {
            severity,
            file: self.file.clone(),
            pos: self.at(path),
            object: object.cloned(),
            field: (!path.is_root()).then(|| path.clone()),
            message,
        }
    }
}

/// Decodes the document at `path` inside `value` (the root for plain documents, `items[i]`
/// inside a `kind: List`) and appends what it finds to `out`.
pub fn decode_document(value: &Value, path: &FieldPath, origin: &Origin<'_>, out: &mut LoadReport) {
    let Value::Object(map) = value else {
        out.findings.push(origin.finding(
            Severity::Error,
            None,
            path,
            format!("expected a Kubernetes object (a mapping with apiVersion and kind), found {}", type_name(value)),
        ));
        return;
    };
    let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let kind_name = map.get("kind").and_then(Value::as_str).unwrap_or_default();
    let looks_like_object = map.contains_key("metadata") || map.contains_key("spec") || map.contains_key("items");
    // A Helm Chart.yaml has apiVersion but no kind; swagger files have neither.
    if kind_name.is_empty() && !looks_like_object {
        let message = "skipped: not a Kubernetes object (no kind, metadata or spec)".to_string();
        out.findings.push(origin.finding(Severity::Warning, None, path, message));
        return;
    }
    if api_version.is_empty() || kind_name.is_empty() {
        for (field, present) in [("apiVersion", !api_version.is_empty()), ("kind", !kind_name.is_empty())] {
            if !present {
                out.findings.push(origin.finding(
                    Severity::Error,
                    None,
                    &path.field(field),
                    "Required value: every document needs apiVersion and kind".into(),
                ));
            }
        }
        return;
    }
    if kind_name.ends_with("List") && map.get("items").is_some_and(Value::is_array) {
        if let Some(Value::Array(items)) = map.get("items") {
            for (i, item) in items.iter().enumerate() {
                decode_document(item, &path.field("items").child(Segment::Index(i)), origin, out);
            }
        }
        return;
    }
    let object = object_ref(map, kind_name, origin.default_namespace);
    match kind::lookup(api_version, kind_name) {
        Lookup::Found(info) => match info.support {
            Support::Supported(kind) => decode_supported(kind, value, path, &object, origin, out),
            Support::NotSupported(why) => {
                out.findings.push(origin.finding(
                    Severity::Warning,
                    Some(&object),
                    path,
                    format!("not supported: {api_version} {kind_name}: {why}"),
                ));
                out.not_supported += 1;
            }
        },
        Lookup::BadVersion(info) => {
            let served: Vec<String> = info.versions.iter().map(|v| qualified(info.group, v)).collect();
            out.findings.push(origin.finding(
                Severity::Error,
                Some(&object),
                &path.field("apiVersion"),
                format!("{kind_name} is not served at {api_version:?}; use one of: {}", served.join(", ")),
            ));
        }
        Lookup::Unknown if !kind::is_known_group(kind::split_api_version(api_version).0) => {
            out.findings.push(origin.finding(
                Severity::Warning,
                Some(&object),
                path,
                format!("not supported: {api_version} {kind_name} is not a kind Strait knows (a custom resource of another project?); it is ignored"),
            ));
            out.not_supported += 1;
        }
        Lookup::Unknown => {
            out.findings.push(origin.finding(
                Severity::Error,
                Some(&object),
                &path.field("kind"),
                unknown_kind_message(api_version, kind_name),
            ));
        }
    }
}

fn qualified(group: &str, version: &str) -> String {
    if group.is_empty() { version.to_string() } else { format!("{group}/{version}") }
}

fn unknown_kind_message(api_version: &str, kind_name: &str) -> String {
    // Only point at another group for kinds we know; the user may mean a different API entirely.
    let elsewhere = kind::groups_for(kind_name);
    if let Some(info) = elsewhere.first() {
        return format!(
            "kind {kind_name} does not exist in {api_version:?}; it is served by apiVersion {}",
            qualified(info.group, info.versions[0])
        );
    }
    let names = kind::all_kind_names();
    match strait_model::suggest::did_you_mean(kind_name, names.iter().copied()) {
        Some(s) => format!("unknown kind {kind_name:?} (apiVersion {api_version}); did you mean {s:?}?"),
        None => format!("unknown kind {kind_name:?} (apiVersion {api_version}); Strait does not recognise it"),
    }
}

fn object_ref(map: &serde_json::Map<String, Value>, kind_name: &str, default_ns: &str) -> ObjectRef {
    let meta = map.get("metadata");
    let get = |k: &str| meta.and_then(|m| m.get(k)).and_then(Value::as_str).map(str::to_string);
    let cluster_scoped =
        matches!(kind_name, "Namespace" | "ClusterRole" | "ClusterRoleBinding" | "CustomResourceDefinition" | "Node")
            || kind_name.ends_with("WebhookConfiguration");
    ObjectRef {
        kind: kind_name.to_string(),
        namespace: (!cluster_scoped).then(|| get("namespace").unwrap_or_else(|| default_ns.to_string())),
        name: get("name").or_else(|| get("generateName")).unwrap_or_default(),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn decode_supported(
    kind: Kind,
    value: &Value,
    path: &FieldPath,
    object: &ObjectRef,
    origin: &Origin<'_>,
    out: &mut LoadReport,
) {
    let value = &match spec_presence(kind, value) {
        Ok(v) => v,
        Err(message) => {
            out.findings.push(origin.finding(Severity::Error, Some(object), &path.field("spec"), message.into()));
            return;
        }
    };
    let (decoded, mut structural) = decode_with_recovery(value, |d| d.resource(kind));
    for (p, message) in &mut structural {
        if message == &crate::messages::unknown_k8s_field() {
            *message = crate::messages::unknown_k8s_field_hint(
                p,
                &crate::hints::field_names(kind, &p.parent().unwrap_or_default()),
            );
        }
    }
    let mut issues: Vec<Issue> = structural.iter().map(|(p, m)| Issue::error(p.clone(), m.clone())).collect();
    let removed: Vec<FieldPath> = structural.into_iter().map(|(p, _)| p).collect();
    let Some(mut resource) = decoded else {
        report(issues, path, object, origin, out);
        return;
    };
    resource.default_namespace(origin.default_namespace);
    issues.extend(resource.validate().into_iter().filter(|i| !removed.iter().any(|r| is_prefix(r, &i.path))));
    let mesh = mesh_from_configmap(&resource, path, object, origin, out);
    let ok = report(issues, path, object, origin, out);
    if ok {
        let pos = origin.at(path);
        out.resources.push(Loaded { resource, file: origin.file.clone(), pos });
        if let Some(mesh) = mesh {
            out.resources.push(Loaded { resource: Resource::MeshConfig(mesh), file: origin.file.clone(), pos });
        }
    }
}

/// Istio's CRDs require `spec` for ServiceEntry, WorkloadEntry and WorkloadGroup; for the other
/// Istio kinds a missing spec is an empty one (an AuthorizationPolicy without spec denies all).
fn spec_presence(kind: Kind, value: &Value) -> Result<std::borrow::Cow<'_, Value>, &'static str> {
    use std::borrow::Cow;
    if !kind.is_istio() {
        return Ok(Cow::Borrowed(value));
    }
    let required = matches!(kind, Kind::ServiceEntry | Kind::WorkloadEntry | Kind::WorkloadGroup);
    match value.get("spec") {
        Some(Value::Null) if required => Err("Required value: spec must be an object, not null"),
        None if required => Err("Required value"),
        Some(Value::Null) | None => {
            let mut v = value.clone();
            if let Some(m) = v.as_object_mut() {
                m.insert("spec".into(), Value::Object(Default::default()));
            }
            Ok(Cow::Owned(v))
        }
        Some(_) => Ok(Cow::Borrowed(value)),
    }
}

fn is_prefix(prefix: &FieldPath, path: &FieldPath) -> bool {
    path.0.len() >= prefix.0.len() && crate::same_path(&FieldPath(path.0[..prefix.0.len()].to_vec()), prefix)
}

/// Turns issues into findings (paths made absolute); returns true when none is an error.
fn report(issues: Vec<Issue>, base: &FieldPath, object: &ObjectRef, origin: &Origin<'_>, out: &mut LoadReport) -> bool {
    let mut ok = true;
    let mut issues = issues;
    // Report in file order: structural and semantic errors interleave by position.
    issues.sort_by_key(|i| origin.at(&FieldPath(base.0.iter().chain(i.path.0.iter()).cloned().collect())));
    for issue in issues {
        ok &= issue.severity != Severity::Error;
        let full = FieldPath(base.0.iter().chain(issue.path.0.iter()).cloned().collect());
        out.findings.push(origin.finding(issue.severity, Some(object), &full, issue.message));
    }
    ok
}

/// Decodes with `decode`, removing each offending value and retrying so that every structural
/// error is reported. Returns the value (if it finally decoded) and (path, message) errors.
pub fn decode_with_recovery<T>(
    value: &Value,
    decode: impl Fn(&mut dyn ErasedDe) -> Result<T, serde_json::Error>,
) -> (Option<T>, Vec<(FieldPath, String)>) {
    // Borrowed until the first error: only a document that needs pruning is copied.
    let mut value = std::borrow::Cow::Borrowed(value);
    let mut errors = Vec::new();
    let mut removed: Vec<FieldPath> = Vec::new();
    for _ in 0..MAX_STRUCTURAL {
        let mut track = serde_path_to_error::Track::new();
        let mut ignored: Vec<FieldPath> = Vec::new();
        let result = {
            let de = serde_path_to_error::Deserializer::new(value.as_ref(), &mut track);
            let mut on_ignored = |p: serde_ignored::Path<'_>| ignored.push(ignored_path(&p));
            let mut de = Erased { de: Some(serde_ignored::Deserializer::new(de, &mut on_ignored)) };
            decode(&mut de)
        };
        match result {
            Ok(t) => {
                // Only the Kubernetes types (k8s-openapi, also ObjectMeta) ignore unknown fields;
                // the Istio types reject them during decoding.
                errors.extend(ignored.into_iter().map(|p| (p, crate::messages::unknown_k8s_field())));
                return (Some(t), errors);
            }
            Err(e) => {
                let path = tracked_path(&track.path());
                let (at, message, removable) = crate::messages::classify(&path, &e.to_string());
                if !removable || removed.iter().any(|r| crate::same_path(r, &at)) {
                    let is_fallout =
                        message.starts_with("Required value") && removed.iter().any(|r| crate::same_path(r, &at));
                    if !is_fallout {
                        errors.push((at, message));
                    }
                    return (None, errors);
                }
                errors.push((at.clone(), message));
                remove_at(value.to_mut(), &at);
                removed.push(at);
            }
        }
    }
    errors.push((FieldPath::root(), format!("too many errors; stopped after {MAX_STRUCTURAL}")));
    (None, errors)
}

fn tracked_path(p: &serde_path_to_error::Path) -> FieldPath {
    FieldPath(
        p.iter()
            .filter_map(|s| match s {
                serde_path_to_error::Segment::Seq { index } => Some(Segment::Index(*index)),
                serde_path_to_error::Segment::Map { key } => Some(Segment::Field(key.clone())),
                serde_path_to_error::Segment::Enum { variant } => Some(Segment::Field(variant.clone())),
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect(),
    )
}

fn ignored_path(p: &serde_ignored::Path<'_>) -> FieldPath {
    use serde_ignored::Path as P;
    let mut segs = Vec::new();
    let mut cur = p;
    loop {
        cur = match cur {
            P::Root => break,
            P::Seq { parent, index } => {
                segs.push(Segment::Index(*index));
                parent
            }
            P::Map { parent, key } => {
                segs.push(Segment::Field(key.clone()));
                parent
            }
            P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => parent,
        };
    }
    segs.reverse();
    FieldPath(segs)
}

/// Removes the value at `path` (a map entry or list element is replaced by null/removed).
fn remove_at(value: &mut Value, path: &FieldPath) {
    let Some((last, parent)) = path.0.split_last() else {
        *value = Value::Null;
        return;
    };
    let mut cur = value;
    for seg in parent {
        let next = match (seg, cur) {
            (Segment::Field(k) | Segment::Key(k), Value::Object(m)) => m.get_mut(k),
            (Segment::Index(i), Value::Array(a)) => a.get_mut(*i),
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match (last, cur) {
        (Segment::Field(k) | Segment::Key(k), Value::Object(m)) => {
            m.remove(k);
        }
        (Segment::Index(i), Value::Array(a)) if *i < a.len() => {
            a.remove(*i);
        }
        _ => {}
    }
}

/// A type-erased deserializer handle so callers can pass one closure for any kind.
pub trait ErasedDe {
    /// Decodes a resource of `kind`.
    fn resource(&mut self, kind: Kind) -> Result<Resource, serde_json::Error>;
    /// Decodes mesh config.
    fn mesh(&mut self) -> Result<MeshConfig, serde_json::Error>;
}

struct Erased<D> {
    de: Option<D>,
}

impl<'de, D: Deserializer<'de, Error = serde_json::Error>> ErasedDe for Erased<D> {
    fn resource(&mut self, kind: Kind) -> Result<Resource, serde_json::Error> {
        let de = self.de.take().ok_or_else(|| serde::de::Error::custom("deserializer used twice"))?;
        Resource::decode(kind, de)
    }

    fn mesh(&mut self) -> Result<MeshConfig, serde_json::Error> {
        let de = self.de.take().ok_or_else(|| serde::de::Error::custom("deserializer used twice"))?;
        serde::Deserialize::deserialize(de)
    }
}

/// The `istio` ConfigMap's `mesh` key holds MeshConfig as a YAML string; decode and validate it.
fn mesh_from_configmap(
    resource: &Resource,
    path: &FieldPath,
    object: &ObjectRef,
    origin: &Origin<'_>,
    out: &mut LoadReport,
) -> Option<MeshConfig> {
    let Resource::ConfigMap(cm) = resource else { return None };
    let name = cm.metadata.name.as_deref().unwrap_or_default();
    if name != "istio" && !name.starts_with("istio-") {
        return None;
    }
    let text = cm.data.as_ref()?.get("mesh")?;
    let key_path = path.field("data").field("mesh");
    let key_pos = origin.at(&key_path).unwrap_or(Pos { line: 1, col: 1 });
    let (line_shift, col_shift) =
        if text.contains('\n') { (key_pos.line, key_pos.col + 1) } else { (key_pos.line - 1, key_pos.col) };
    let mut local = LoadReport::default();
    let mesh = crate::mesh::decode_mesh_text(text, origin.file, &mut local, line_shift, col_shift);
    for mut f in local.findings {
        f.object = Some(object.clone());
        f.field = Some(FieldPath(key_path.0.iter().chain(f.field.iter().flat_map(|p| p.0.iter())).cloned().collect()));
        out.findings.push(f);
    }
    mesh
}

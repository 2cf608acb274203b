//! What the analyzers look at: a set of resources, each with where it came from
//! ([`Obj`]), the mesh config, and optional runtime facts. [`load`] reads files the way
//! `strait validate` does (`strait-config`: directories, multi-document files, `kind: List`,
//! positions), with two differences that analysis needs:
//!
//! - a resource with validation errors is still analyzed (Istio's analyzers see every object;
//!   the errors become IST0106/IST0133 messages from the schema analyzer), and only a
//!   document that cannot be decoded at all is left out;
//! - kinds Strait does not act on (EnvoyFilter, Telemetry, Gateway API, webhooks, …) are
//!   listed in [`Input::not_supported`], never analyzed, never an error.
//!
//! Objects in `kube-system`, `kube-public`, `kube-node-lease` and `local-path-storage` are
//! ignored, as Istio's file source ignores them.

use crate::message::Origin;
use crate::runtime::RuntimeFacts;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use strait_config::decode::{Origin as DecodeOrigin, decode_document, decode_with_recovery};
use strait_config::positions::Positions;
use strait_config::{Finding, LoadReport, ObjectRef, yaml};
use strait_model::kind::{self, Lookup};
use strait_model::mesh::MeshConfig;
use strait_model::{FieldPath, Resource, Segment, Support};

/// Namespaces whose objects Istio's analysis never loads.
pub const IGNORED_NAMESPACES: &[&str] = &["kube-system", "kube-public", "kube-node-lease", "local-path-storage"];

/// Stands in for "no namespace" while `strait-config` decodes (it always assigns one).
const NO_NAMESPACE: &str = "strait-analyze-no-namespace";

/// One resource under analysis.
#[derive(Clone, Debug)]
pub struct Obj {
    /// The typed resource.
    pub resource: Resource,
    /// Kind name as written (`VirtualService`).
    pub kind: String,
    /// Namespace (empty for cluster-scoped kinds, and for documents without one when loading
    /// as Istio's tests do).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// File it was read from.
    pub file: Option<Arc<str>>,
    /// Line where it starts.
    pub line: Option<usize>,
    positions: Option<Arc<Positions>>,
    base: FieldPath,
}

impl Obj {
    /// A resource that did not come from a file (tests, the future live source).
    pub fn new(resource: Resource) -> Obj {
        let meta = resource.metadata();
        Obj {
            kind: resource.kind().map(|k| format!("{k:?}")).unwrap_or_else(|| "MeshConfig".into()),
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            resource,
            file: None,
            line: None,
            positions: None,
            base: FieldPath::root(),
        }
    }

    /// The message origin for this object.
    pub fn origin(&self) -> Origin {
        Origin {
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            file: self.file.clone(),
            line: self.line,
        }
    }

    /// `ns/name` or `name`.
    pub fn full_name(&self) -> String {
        crate::message::full_name(&self.namespace, &self.name)
    }

    /// The line of the field at `path` (`spec.http[0].route[1].destination.host`), when the
    /// file has exactly that field (Istio's `ErrorLine`).
    pub fn line_of(&self, path: &str) -> Option<usize> {
        self.line_of_path(&FieldPath::parse(path))
    }

    /// [`Obj::line_of`] for a path built from segments (map keys with dots, like annotations).
    pub fn line_of_path(&self, path: &FieldPath) -> Option<usize> {
        let positions = self.positions.as_ref()?;
        let full = FieldPath(self.base.0.iter().chain(path.0.iter()).cloned().collect());
        positions.get(&full).map(|p| p.line)
    }

    /// The line of `metadata.annotations[key]`.
    pub fn annotation_line(&self, key: &str) -> Option<usize> {
        let path = FieldPath(vec![
            Segment::Field("metadata".into()),
            Segment::Field("annotations".into()),
            Segment::Field(key.into()),
        ]);
        self.line_of_path(&path)
    }

    /// Labels (empty when none).
    pub fn labels(&self) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.resource.metadata().labels.as_ref().unwrap_or(&EMPTY)
    }

    /// Annotations (empty when none).
    pub fn annotations(&self) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.resource.metadata().annotations.as_ref().unwrap_or(&EMPTY)
    }
}

/// Everything an analysis runs on.
#[derive(Debug, Default)]
pub struct Input {
    /// The resources.
    pub objects: Vec<Obj>,
    /// Mesh config read from the `istio` ConfigMap or a mesh config file (defaults otherwise).
    pub mesh: Option<MeshConfig>,
    /// Facts observed on running workloads (listening sockets), when there are any.
    pub runtime: RuntimeFacts,
    /// Problems `strait validate` finds on objects (they become schema messages).
    pub schema: Vec<Finding>,
    /// Problems that are not about an object: unreadable files, YAML syntax errors.
    pub load_errors: Vec<Finding>,
    /// Documents of kinds Strait does not act on: never analyzed (a few analyzers read a fact
    /// from them, such as a Node's topology labels).
    pub not_supported: Vec<RawObj>,
    /// Files read.
    pub files: usize,
}

/// A document of a kind Strait does not act on.
#[derive(Clone, Debug)]
pub struct RawObj {
    /// Kind name.
    pub kind: String,
    /// Namespace as written (empty when the document has none).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The document.
    pub value: Value,
}

impl RawObj {
    /// `Kind ns/name`.
    pub fn friendly_name(&self) -> String {
        format!("{} {}", self.kind, crate::message::full_name(&self.namespace, &self.name))
    }

    /// `metadata.labels`.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let labels = self.value.get("metadata").and_then(|m| m.get("labels")).and_then(Value::as_object);
        labels.into_iter().flatten().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string()))).collect()
    }
}

/// How to read files.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Namespace for documents without one; `None` keeps them without a namespace, as Istio's
    /// analyzer tests do.
    pub default_namespace: Option<String>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self { default_namespace: Some("default".into()) }
    }
}

/// Reads every path (files, directories recursively, `-` for stdin) into an [`Input`].
pub fn load(paths: &[String], opts: &LoadOptions) -> Input {
    let mut report = LoadReport::default();
    let inputs = strait_config::files::expand(paths, &mut report);
    let mut input = Input { load_errors: report.findings, ..Input::default() };
    for text in inputs {
        load_text(&text.name, &text.text, opts, &mut input);
    }
    input.dedupe();
    input
}

/// Istio's default ingress gateway (`AddDefaultResources`): what `istioctl analyze` assumes a
/// mesh has when it analyzes files only, a Pod and a Service `istio-ingressgateway` in
/// `istio-system`.
const DEFAULT_INGRESS: &str = "
apiVersion: v1
kind: Pod
metadata:
  labels:
    istio: ingressgateway
  name: NAME-dummypod
  namespace: NAMESPACE
spec:
  containers:
    - args:
      name: istio-proxy
---
apiVersion: v1
kind: Service
metadata:
  name: NAME
  namespace: NAMESPACE
spec:
  ports:
  - {name: http2, nodePort: 31380, port: 80, protocol: TCP, targetPort: 80}
  - {name: https, nodePort: 31390, port: 443, protocol: TCP, targetPort: 443}
  - {name: tcp, nodePort: 31400, port: 31400, protocol: TCP, targetPort: 31400}
  - {name: tls, nodePort: 31447, port: 15443, protocol: TCP, targetPort: 15443}
  selector:
    istio: ingressgateway
";

impl Input {
    /// Adds Istio's default ingress gateway (Pod and Service, named by the mesh config's
    /// `ingressService`, in `istio-system`) unless the mesh config turns ingress off, as
    /// `istioctl analyze` does for files. Replaces objects of the same names.
    pub fn add_default_ingress(&mut self) {
        let mesh = self.mesh.clone().unwrap_or_default();
        if mesh.ingress_controller_mode == Some(strait_model::mesh::IngressControllerMode::Off) {
            return;
        }
        let name =
            mesh.ingress_service.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "istio-ingressgateway".into());
        let text = DEFAULT_INGRESS.replace("NAMESPACE", "istio-system").replace("NAME", &name);
        let opts = LoadOptions { default_namespace: None };
        let (files, schema) = (self.files, self.schema.len());
        load_text("internal-ingress", &text, &opts, self);
        // Istio's own placeholder Pod has no image; that is not the user's problem.
        self.files = files;
        self.schema.truncate(schema);
        self.dedupe();
    }

    /// Keeps the last of objects with the same kind, namespace and name, as applying the files
    /// in order would (Istio's file source does the same).
    pub fn dedupe(&mut self) {
        let mut seen = std::collections::HashSet::new();
        let mut kept: Vec<Obj> = Vec::with_capacity(self.objects.len());
        for o in std::mem::take(&mut self.objects).into_iter().rev() {
            if seen.insert((o.kind.clone(), o.namespace.clone(), o.name.clone())) {
                kept.push(o);
            }
        }
        kept.reverse();
        self.objects = kept;
    }
}

/// Reads one YAML/JSON text that came from `file` into `input`.
pub fn load_text(file: &str, text: &str, opts: &LoadOptions, input: &mut Input) {
    let file: Arc<str> = Arc::from(file);
    input.files += 1;
    for doc in yaml::parse_stream(text) {
        match doc {
            Err(e) => input.load_errors.push(Finding {
                severity: strait_model::Severity::Error,
                file: file.clone(),
                pos: Some(e.pos),
                object: None,
                field: None,
                message: e.message,
            }),
            Ok(doc) => {
                let positions = Arc::new(doc.positions);
                let reader = DocReader { file: &file, positions: &positions, opts };
                match list_items(&doc.value) {
                    Some(items) => {
                        for (i, item) in items.iter().enumerate() {
                            let path = FieldPath::root().field("items").child(Segment::Index(i));
                            reader.read(item, &path, input);
                        }
                    }
                    None => reader.read(&doc.value, &FieldPath::root(), input),
                }
            }
        }
    }
}

fn list_items(v: &Value) -> Option<&Vec<Value>> {
    let kind = v.get("kind")?.as_str()?;
    if kind.ends_with("List") { v.get("items")?.as_array() } else { None }
}

struct DocReader<'a> {
    file: &'a Arc<str>,
    positions: &'a Arc<Positions>,
    opts: &'a LoadOptions,
}

impl DocReader<'_> {
    fn default_ns(&self) -> &str {
        self.opts.default_namespace.as_deref().unwrap_or(NO_NAMESPACE)
    }

    fn read(&self, value: &Value, path: &FieldPath, input: &mut Input) {
        let api_version = value.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
        let kind_name = value.get("kind").and_then(Value::as_str).unwrap_or_default();
        let looked_up = kind::lookup(api_version, kind_name);
        let supported = match &looked_up {
            Lookup::Found(info) => match info.support {
                Support::Supported(kind) => Some(kind),
                Support::NotSupported(_) => return self.not_supported(value, kind_name, input),
            },
            Lookup::Unknown
                if !api_version.is_empty() && !kind::is_known_group(kind::split_api_version(api_version).0) =>
            {
                return self.not_supported(value, kind_name, input);
            }
            _ => None,
        };
        let mut scratch = LoadReport::default();
        let origin = DecodeOrigin { file: self.file, positions: self.positions, default_namespace: self.default_ns() };
        decode_document(value, path, &origin, &mut scratch);
        for mut f in scratch.findings {
            if let Some(o) = &mut f.object {
                fix_namespace(o);
                if o.namespace.as_deref().is_some_and(|ns| IGNORED_NAMESPACES.contains(&ns)) {
                    continue;
                }
                input.schema.push(f);
            } else {
                input.load_errors.push(f);
            }
        }
        let mut decoded = None;
        for r in scratch.resources {
            match r.resource {
                Resource::MeshConfig(m) => input.mesh = Some(m),
                other => decoded = Some(other),
            }
        }
        let Some(kind) = supported else { return };
        let resource = decoded.or_else(|| {
            let value = with_spec(kind, value);
            let (r, _) = decode_with_recovery(&value, |d| d.resource(kind));
            r.map(|mut r| {
                r.default_namespace(self.default_ns());
                r
            })
        });
        if let Some(resource) = resource {
            self.push(resource, kind_name, path, input);
        }
    }

    fn push(&self, resource: Resource, kind_name: &str, path: &FieldPath, input: &mut Input) {
        let meta = resource.metadata();
        let mut namespace = meta.namespace.clone().unwrap_or_default();
        if namespace == NO_NAMESPACE {
            namespace.clear();
        }
        let name = meta.name.clone().or_else(|| meta.generate_name.clone()).unwrap_or_default();
        let ignored = |ns: &str| IGNORED_NAMESPACES.contains(&ns);
        if ignored(&namespace) || (kind_name == "Namespace" && ignored(&name)) {
            return;
        }
        input.objects.push(Obj {
            kind: kind_name.to_string(),
            namespace,
            name,
            file: Some(self.file.clone()),
            line: self.positions.locate(path).map(|p| p.line),
            positions: Some(self.positions.clone()),
            base: path.clone(),
            resource,
        });
    }

    fn not_supported(&self, value: &Value, kind_name: &str, input: &mut Input) {
        let meta = value.get("metadata");
        let get = |k: &str| meta.and_then(|m| m.get(k)).and_then(Value::as_str).unwrap_or_default();
        // Shown as written: whether the kind is namespaced is not known here.
        input.not_supported.push(RawObj {
            kind: kind_name.to_string(),
            namespace: get("namespace").to_string(),
            name: get("name").to_string(),
            value: value.clone(),
        });
    }
}

fn fix_namespace(o: &mut ObjectRef) {
    if o.namespace.as_deref() == Some(NO_NAMESPACE) {
        o.namespace = None;
    }
}

/// Istio kinds may omit `spec` (an empty one); `strait-config` applies the same rule.
fn with_spec(kind: strait_model::Kind, value: &Value) -> Value {
    let mut v = value.clone();
    if kind.is_istio()
        && let Some(m) = v.as_object_mut()
        && m.get("spec").is_none_or(Value::is_null)
    {
        m.insert("spec".into(), Value::Object(Default::default()));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_invalid_objects_and_skips_unsupported_kinds() {
        let text = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports:\n  - port: 80\n  - port: 81\n---\napiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: {name: f, namespace: x}\nspec: {}\n";
        let mut input = Input::default();
        load_text("t.yaml", text, &LoadOptions { default_namespace: None }, &mut input);
        assert_eq!(input.objects.len(), 1, "{input:?}");
        assert_eq!(input.objects[0].namespace, "");
        assert_eq!(input.objects[0].line, Some(1));
        assert!(!input.schema.is_empty(), "unnamed ports are a validation error");
        let names: Vec<String> = input.not_supported.iter().map(RawObj::friendly_name).collect();
        assert_eq!(names, vec!["EnvoyFilter x/f".to_string()]);
        assert_eq!(input.objects[0].line_of("spec.ports[1].port"), Some(7));
    }
}

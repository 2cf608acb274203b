//! Loading Istio and Kubernetes resources from files, directories and stdin.
//!
//! Input is YAML or JSON, one or many documents per file, `kind: List` included. Every problem
//! becomes a [`Finding`] naming the file, line and column, the object (`VirtualService
//! default/reviews`), the field path and what was expected; valid resources come back typed.
//! This crate does file I/O only; types and rules live in `strait-model`. The Kubernetes API
//! source will sit beside it later.

pub mod decode;
pub mod files;
pub mod hints;
pub mod mesh;
pub mod messages;
pub mod positions;
pub mod yaml;

pub use positions::Pos;

use std::fmt;
use std::sync::Arc;
use strait_model::{FieldPath, Resource, Segment, Severity};

/// The object a finding is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRef {
    /// Kind name.
    pub kind: String,
    /// Namespace (`None` for cluster-scoped kinds).
    pub namespace: Option<String>,
    /// Name (may be empty when the document has none).
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// One problem (or notice) found while loading.
#[derive(Clone, Debug)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// The file as named by the user (`<stdin>` for `-`).
    pub file: Arc<str>,
    /// Line and column, when known.
    pub pos: Option<Pos>,
    /// The object, when the document got far enough to have one.
    pub object: Option<ObjectRef>,
    /// The field, when the problem is inside the object.
    pub field: Option<FieldPath>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Finding {
    /// `PATH:LINE:COL: Kind ns/name: FIELD: message` (parts that are unknown are left out).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(p) = self.pos {
            write!(f, ":{}:{}", p.line, p.col)?;
        }
        if let Some(o) = &self.object {
            write!(f, ": {o}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A resource that loaded without errors, with where it came from.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The typed resource.
    pub resource: Resource,
    /// Its file.
    pub file: Arc<str>,
    /// Where its document starts.
    pub pos: Option<Pos>,
}

/// Everything a load produced.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Resources without errors (warnings allowed).
    pub resources: Vec<Loaded>,
    /// Errors and warnings, in file order.
    pub findings: Vec<Finding>,
    /// Files read.
    pub files: usize,
    /// Non-empty documents seen (List items count one each).
    pub documents: usize,
    /// Documents of recognised kinds that Strait does not act on.
    pub not_supported: usize,
}

impl LoadReport {
    /// Number of error findings.
    pub fn errors(&self) -> usize {
        self.findings.iter().filter(|f| f.severity == Severity::Error).count()
    }

    /// Number of warning findings.
    pub fn warnings(&self) -> usize {
        self.findings.iter().filter(|f| f.severity == Severity::Warning).count()
    }
}

/// Options for loading.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Namespace given to documents without one.
    pub default_namespace: String,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self { default_namespace: "default".into() }
    }
}

/// Loads YAML/JSON `text` that came from `file` into `out`.
pub fn load_text(file: &str, text: &str, opts: &LoadOptions, out: &mut LoadReport) {
    let file: Arc<str> = Arc::from(file);
    out.files += 1;
    for doc in yaml::parse_stream(text) {
        match doc {
            Err(e) => out.findings.push(Finding {
                severity: Severity::Error,
                file: file.clone(),
                pos: Some(e.pos),
                object: None,
                field: None,
                message: e.message,
            }),
            Ok(doc) => {
                out.documents += list_len(&doc.value);
                let origin = decode::Origin {
                    file: &file,
                    positions: &doc.positions,
                    default_namespace: &opts.default_namespace,
                };
                decode::decode_document(&doc.value, &FieldPath::root(), &origin, out);
            }
        }
    }
}

fn list_len(v: &serde_json::Value) -> usize {
    match (v.get("kind").and_then(|k| k.as_str()), v.get("items").and_then(|i| i.as_array())) {
        (Some(k), Some(items)) if k.ends_with("List") => items.len(),
        _ => 1,
    }
}

/// Loads every path (files, directories recursively, `-` for stdin).
pub fn load_paths(paths: &[String], opts: &LoadOptions) -> LoadReport {
    let mut out = LoadReport::default();
    for input in files::expand(paths, &mut out) {
        load_text(&input.name, &input.text, opts, &mut out);
    }
    out
}

/// Two paths are the same when they differ only in `.field` vs `[key]` spelling.
pub(crate) fn same_path(a: &FieldPath, b: &FieldPath) -> bool {
    a.0.len() == b.0.len()
        && a.0.iter().zip(&b.0).all(|(x, y)| match (x, y) {
            (Segment::Field(p) | Segment::Key(p), Segment::Field(q) | Segment::Key(q)) => p == q,
            (x, y) => x == y,
        })
}

//! The validation framework: a [`Validator`] walks a typed resource, keeps the current
//! [`FieldPath`], and collects every [`Issue`] rather than stopping at the first, so a user sees
//! all problems of a document in one run.
//!
//! Per-kind rules live next to each kind (`networking::*`, `security::*`); reusable checks
//! (hosts, ports, durations, regexes, labels, CIDRs) live in [`rules`].

pub mod rules;

use crate::path::{FieldPath, Segment};
use std::fmt;

/// How bad an issue is. Errors make a resource invalid; warnings are advice (Istio prints them
/// as "Warning" from the webhook and `istioctl validate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Advice; the resource is still accepted.
    Warning,
    /// The resource is rejected.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One problem found in a resource, at a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    /// Error or warning.
    pub severity: Severity,
    /// Where in the document, e.g. `spec.http[0].route[1].weight`.
    pub path: FieldPath,
    /// What is wrong, in Istio's wording where Istio has one.
    pub message: String,
}

impl Issue {
    /// An error at `path`.
    pub fn error(path: FieldPath, message: impl Into<String>) -> Self {
        Self { severity: Severity::Error, path, message: message.into() }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_root() { write!(f, "{}", self.message) } else { write!(f, "{}: {}", self.path, self.message) }
    }
}

/// Facts about the resource being validated that rules need (its namespace, for short host
/// names and `exportTo`).
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// The resource's namespace (`default` when the document has none).
    pub namespace: String,
}

/// Walks a resource while tracking the field path and collecting issues.
pub struct Validator<'a> {
    path: FieldPath,
    issues: Vec<Issue>,
    /// Facts about the resource being validated.
    pub ctx: &'a Context,
}

impl<'a> Validator<'a> {
    /// A validator rooted at `root` (usually `spec`).
    pub fn new(ctx: &'a Context, root: FieldPath) -> Self {
        Self { path: root, issues: Vec::new(), ctx }
    }

    /// The issues collected so far.
    pub fn into_issues(self) -> Vec<Issue> {
        self.issues
    }

    /// The current path.
    pub fn path(&self) -> &FieldPath {
        &self.path
    }

    fn within<R>(&mut self, seg: Segment, f: impl FnOnce(&mut Self) -> R) -> R {
        self.path.0.push(seg);
        let r = f(self);
        self.path.0.pop();
        r
    }

    /// Runs `f` with the path extended by field `name`.
    pub fn field<R>(&mut self, name: &str, f: impl FnOnce(&mut Self) -> R) -> R {
        self.within(Segment::Field(name.to_string()), f)
    }

    /// Runs `f` with the path extended by index `i`.
    pub fn index<R>(&mut self, i: usize, f: impl FnOnce(&mut Self) -> R) -> R {
        self.within(Segment::Index(i), f)
    }

    /// Runs `f` with the path extended by map key `key`.
    pub fn key<R>(&mut self, key: &str, f: impl FnOnce(&mut Self) -> R) -> R {
        self.within(Segment::Key(key.to_string()), f)
    }

    /// Validates each element of a list under `field[i]`.
    pub fn each<T>(&mut self, field: &str, items: &[T], mut f: impl FnMut(&mut Self, &T)) {
        self.field(field, |v| {
            for (i, item) in items.iter().enumerate() {
                v.index(i, |v| f(v, item));
            }
        });
    }

    /// Validates `field` if it is set.
    pub fn opt<T>(&mut self, field: &str, value: &Option<T>, f: impl FnOnce(&mut Self, &T)) {
        if let Some(value) = value {
            self.field(field, |v| f(v, value));
        }
    }

    /// Records an error at the current path.
    pub fn error(&mut self, message: impl Into<String>) {
        let path = self.path.clone();
        self.issues.push(Issue { severity: Severity::Error, path, message: message.into() });
    }

    /// Records a warning at the current path.
    pub fn warn(&mut self, message: impl Into<String>) {
        let path = self.path.clone();
        self.issues.push(Issue { severity: Severity::Warning, path, message: message.into() });
    }

    /// Records an error at child field `name` of the current path.
    pub fn error_at(&mut self, name: &str, message: impl Into<String>) {
        let message = message.into();
        self.field(name, |v| v.error(message));
    }

    /// Records Kubernetes' "Required value" error for missing child field `name`.
    pub fn required(&mut self, name: &str) {
        self.error_at(name, "Required value");
    }

    /// Records an error unless `cond` holds; returns `cond`.
    pub fn check(&mut self, cond: bool, message: impl Into<String>) -> bool {
        if !cond {
            self.error(message);
        }
        cond
    }

    /// Appends issues produced elsewhere (already carrying full paths).
    pub fn extend(&mut self, issues: impl IntoIterator<Item = Issue>) {
        self.issues.extend(issues);
    }
}

/// Implemented by every typed spec: report every problem through the validator.
pub trait Validate {
    /// Checks `self`, recording issues at paths below the validator's current path.
    fn validate(&self, v: &mut Validator<'_>);
}

impl<T: Validate> Validate for Option<T> {
    fn validate(&self, v: &mut Validator<'_>) {
        if let Some(t) = self {
            t.validate(v);
        }
    }
}

/// Validates `spec` as the `spec` field of a resource in namespace `ns`; returns all issues.
pub fn validate_spec<T: Validate>(spec: &T, ns: &str) -> Vec<Issue> {
    let ctx = Context { namespace: ns.to_string() };
    let mut v = Validator::new(&ctx, FieldPath::root().field("spec"));
    spec.validate(&mut v);
    v.into_issues()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_nest_and_unwind() {
        let ctx = Context::default();
        let mut v = Validator::new(&ctx, FieldPath::root().field("spec"));
        v.each("http", &[1, 2], |v, n| {
            if *n == 2 {
                v.error_at("timeout", "bad");
            }
        });
        v.required("hosts");
        let issues = v.into_issues();
        assert_eq!(issues[0].to_string(), "spec.http[1].timeout: bad");
        assert_eq!(issues[1].to_string(), "spec.hosts: Required value");
    }
}

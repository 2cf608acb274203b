//! MeshConfig from text: the `mesh` key of the `istio` ConfigMap, or a standalone file as
//! `istioctl analyze --meshConfigFile` takes.

use crate::decode::decode_with_recovery;
use crate::positions::Pos;
use crate::{Finding, LoadReport};
use std::sync::Arc;
use strait_model::mesh::MeshConfig;
use strait_model::validation::{Context, Validate, Validator};
use strait_model::{FieldPath, Severity};

/// Decodes and validates MeshConfig YAML; positions are shifted by the given lines/columns
/// (for text embedded in another document). Findings go to `out`.
pub fn decode_mesh_text(
    text: &str,
    file: &Arc<str>,
    out: &mut LoadReport,
    line_shift: usize,
    col_shift: usize,
) -> Option<MeshConfig> {
    let mut docs = crate::yaml::parse_stream(text);
    let shift = |p: Pos| Pos { line: p.line + line_shift, col: p.col + col_shift };
    let finding = |pos: Option<Pos>, field: Option<FieldPath>, severity, message| Finding {
        severity,
        file: file.clone(),
        pos: pos.map(shift),
        object: None,
        field,
        message,
    };
    if docs.is_empty() {
        return Some(MeshConfig::default());
    }
    let doc = match docs.remove(0) {
        Ok(d) => d,
        Err(e) => {
            out.findings.push(finding(Some(e.pos), None, Severity::Error, e.message));
            return None;
        }
    };
    let (mesh, errors) = decode_with_recovery(&doc.value, |d| d.mesh());
    let mut ok = errors.is_empty();
    for (path, message) in errors {
        out.findings.push(finding(doc.positions.locate(&path), Some(path), Severity::Error, message));
    }
    let mesh = mesh?;
    let ctx = Context { namespace: "istio-system".into() };
    let mut v = Validator::new(&ctx, FieldPath::root());
    mesh.validate(&mut v);
    for issue in v.into_issues() {
        ok &= issue.severity != Severity::Error;
        out.findings.push(finding(doc.positions.locate(&issue.path), Some(issue.path), issue.severity, issue.message));
    }
    ok.then_some(mesh)
}

/// Loads a standalone MeshConfig file.
pub fn load_mesh_file(path: &str, out: &mut LoadReport) -> Option<MeshConfig> {
    match std::fs::read_to_string(path) {
        Ok(text) => decode_mesh_text(&text, &Arc::from(path), out, 0, 0),
        Err(e) => {
            out.findings.push(Finding {
                severity: Severity::Error,
                file: Arc::from(path),
                pos: None,
                object: None,
                field: None,
                message: format!("cannot read mesh config: {e}"),
            });
            None
        }
    }
}

//! Turns the paths a user names into texts to load: files, directories (recursive, `.yaml`,
//! `.yml`, `.json`, in sorted order so output is stable) and `-` for stdin. Unreadable paths
//! become findings, never panics.

use crate::{Finding, LoadReport};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strait_model::Severity;

/// Largest file read (a config file bigger than this is almost certainly a mistake).
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// One input text.
pub struct Input {
    /// The name used in findings.
    pub name: String,
    /// The content.
    pub text: String,
}

fn io_finding(name: &str, message: String) -> Finding {
    Finding { severity: Severity::Error, file: Arc::from(name), pos: None, object: None, field: None, message }
}

/// True for the file endings loaded from directories.
pub fn is_config_file(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
}

/// Expands `paths` into inputs, recording read errors in `out`.
pub fn expand(paths: &[String], out: &mut LoadReport) -> Vec<Input> {
    let mut inputs = Vec::new();
    for p in paths {
        if p == "-" {
            let mut text = String::new();
            match std::io::stdin().take(MAX_FILE_BYTES).read_to_string(&mut text) {
                Ok(_) => inputs.push(Input { name: "<stdin>".into(), text }),
                Err(e) => out.findings.push(io_finding("<stdin>", format!("cannot read stdin: {e}"))),
            }
            continue;
        }
        let path = Path::new(p);
        if path.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found, out);
            found.sort();
            if found.is_empty() {
                out.findings.push(Finding {
                    severity: Severity::Warning,
                    ..io_finding(p, "directory holds no .yaml, .yml or .json files".into())
                });
            }
            inputs.extend(found.iter().filter_map(|f| read(f, out)));
        } else {
            inputs.extend(read(path, out));
        }
    }
    inputs
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>, out: &mut LoadReport) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            return out.findings.push(io_finding(&dir.display().to_string(), format!("cannot read directory: {e}")));
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, found, out),
            Ok(_) if is_config_file(&path) => found.push(path),
            _ => {}
        }
    }
}

fn read(path: &Path, out: &mut LoadReport) -> Option<Input> {
    let name = path.display().to_string();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            out.findings.push(io_finding(&name, format!("cannot read: {e}")));
            return None;
        }
    };
    if meta.len() > MAX_FILE_BYTES {
        out.findings.push(io_finding(&name, format!("file is {} bytes; the limit is {MAX_FILE_BYTES}", meta.len())));
        return None;
    }
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Some(Input { name, text }),
            Err(e) => {
                out.findings.push(io_finding(
                    &name,
                    format!("not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()),
                ));
                None
            }
        },
        Err(e) => {
            out.findings.push(io_finding(&name, format!("cannot read: {e}")));
            None
        }
    }
}

//! `strait validate -f PATH…`: load files, directories or stdin, print every problem as
//! `error: PATH:LINE:COL: Kind ns/name: FIELD: message`, then a one-line summary. Exit 0 when
//! there are no errors (warnings allowed), 1 otherwise. `-o json` prints the same records as JSON.

use serde::Serialize;
use std::process::ExitCode;
use strait_config::{Finding, LoadOptions, LoadReport};

/// Arguments of `strait validate`.
#[derive(clap::Args)]
pub struct Args {
    /// Files or directories to validate (`-` reads stdin). Directories are searched recursively
    /// for .yaml, .yml and .json files.
    #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
    files: Vec<String>,
    /// Namespace for documents that have none.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// Mesh config file (MeshConfig YAML) to validate as well.
    #[arg(long = "mesh-config")]
    mesh_config: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Output {
    Text,
    Json,
}

#[derive(Serialize)]
struct Record<'a> {
    severity: String,
    file: &'a str,
    line: Option<usize>,
    column: Option<usize>,
    kind: Option<&'a str>,
    namespace: Option<&'a str>,
    name: Option<&'a str>,
    field: Option<String>,
    message: &'a str,
}

impl<'a> From<&'a Finding> for Record<'a> {
    fn from(f: &'a Finding) -> Self {
        Record {
            severity: f.severity.to_string(),
            file: &f.file,
            line: f.pos.map(|p| p.line),
            column: f.pos.map(|p| p.col),
            kind: f.object.as_ref().map(|o| o.kind.as_str()),
            namespace: f.object.as_ref().and_then(|o| o.namespace.as_deref()),
            name: f.object.as_ref().map(|o| o.name.as_str()),
            field: f.field.as_ref().map(ToString::to_string),
            message: &f.message,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    files: usize,
    documents: usize,
    valid: usize,
    not_supported: usize,
    errors: usize,
    warnings: usize,
}

fn summary(report: &LoadReport) -> Summary {
    Summary {
        files: report.files,
        documents: report.documents,
        valid: report.resources.len(),
        not_supported: report.not_supported,
        errors: report.errors(),
        warnings: report.warnings(),
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("{n} {word}") } else { format!("{n} {word}s") }
}

/// Runs the command.
pub fn run(args: &Args) -> ExitCode {
    let opts = LoadOptions { default_namespace: args.namespace.clone() };
    let mut report = strait_config::load_paths(&args.files, &opts);
    if let Some(mesh) = &args.mesh_config {
        report.files += 1;
        strait_config::mesh::load_mesh_file(mesh, &mut report);
    }
    let s = summary(&report);
    match args.output {
        Output::Json => {
            let records: Vec<Record<'_>> = report.findings.iter().map(Record::from).collect();
            let doc = serde_json::json!({ "issues": records, "summary": s });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        Output::Text => {
            for f in &report.findings {
                println!("{}: {f}", f.severity);
            }
            let verdict = if s.errors == 0 { "OK" } else { "FAILED" };
            println!(
                "{verdict}: {}, {} in {} ({}): {} valid, {} not supported",
                plural(s.errors, "error"),
                plural(s.warnings, "warning"),
                plural(s.documents, "document"),
                plural(s.files, "file"),
                s.valid,
                s.not_supported,
            );
        }
    }
    if s.errors == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

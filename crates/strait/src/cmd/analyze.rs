//! `strait analyze -f PATH…`: Istio's config analyzers that apply to Strait plus Strait's
//! pitfall analyzers (`strait-analyze`), printed as `istioctl analyze` prints them:
//! `Error [IST0101] (VirtualService default/reviews vs.yaml:12) Referenced host not found: "x"`,
//! or as JSON/YAML with `-o`. Exit 0 when no message reaches `--failure-threshold` (default
//! Error) and every file parsed, 1 otherwise (in every output format; `istioctl` exits 79, and
//! only for `-o log`), 2 on bad usage. Runtime facts about running workloads (listening
//! sockets) can be given with `--runtime FILE`, or gathered from a running local mesh with
//! `--mesh [STATE_DIR]`: its config directory is analyzed together with what each pod's app
//! listens on right now (`strait_localmesh::facts`), so an app bound to 127.0.0.1 or to the
//! wrong port is reported with its pod's name.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use strait_analyze::runtime::{Listener, WorkloadFacts};
use strait_analyze::{Level, LoadOptions, Message, Options, RuntimeFacts};

/// Arguments of `strait analyze`.
#[derive(clap::Args)]
pub struct Args {
    /// Files or directories to analyze (`-` reads stdin). Directories are searched recursively
    /// for .yaml, .yml and .json files.
    #[arg(short = 'f', long = "filename", num_args = 1.., required_unless_present_any = ["list_analyzers", "mesh"])]
    files: Vec<String>,
    /// Namespace for documents that have none.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// Mesh config file (MeshConfig YAML) to analyze with, instead of the `istio` ConfigMap.
    #[arg(long = "mesh-config", alias = "meshConfigFile")]
    mesh_config: Option<String>,
    /// Runtime facts (YAML or JSON): what running workloads listen on and where their sidecars
    /// forward inbound traffic.
    #[arg(long)]
    runtime: Option<String>,
    /// Analyze the running local mesh (`strait up`): its config (unless `-f` is given) plus
    /// what each pod's app listens on now. STATE_DIR defaults to `strait up`'s.
    #[arg(long, value_name = "STATE_DIR", num_args = 0..=1)]
    mesh: Option<Option<PathBuf>>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Log)]
    output: Format,
    /// Lowest level printed: Info, Warning or Error.
    #[arg(long = "output-threshold", value_parser = parse_level, default_value = "Info")]
    output_threshold: Level,
    /// Lowest level that makes the exit status non-zero: Info, Warning or Error.
    #[arg(long = "failure-threshold", value_parser = parse_level, default_value = "Error")]
    failure_threshold: Level,
    /// Suppress messages: `CODE=Kind name` (glob `*` allowed in the name part, as istioctl's
    /// `--suppress "IST0102=Namespace frod"`); repeatable.
    #[arg(short = 'S', long)]
    suppress: Vec<String>,
    /// Colour the level: auto (when stdout is a terminal), always or never.
    #[arg(long, value_enum, default_value_t = Colour::Auto)]
    color: Colour,
    /// Look at workloads as Istio's analyzers do (Pods only, in the mesh when injected) instead
    /// of as Strait runs them (a Deployment's template stands for its pods; every workload has
    /// a sidecar).
    #[arg(long)]
    istio_workloads: bool,
    /// List the analyzers and exit.
    #[arg(short = 'L', long)]
    list_analyzers: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Log,
    Json,
    Yaml,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Colour {
    Auto,
    Always,
    Never,
}

fn parse_level(s: &str) -> Result<Level, String> {
    Level::parse(s).ok_or_else(|| format!("{s:?} is not a level; use Info, Warning or Error"))
}

/// `istioctl`'s glob: `*` matches any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.starts_with(head) && (0..=text.len() - head.len()).any(|i| glob(tail, &text[head.len() + i..]))
        }
    }
}

fn suppressed(m: &Message, rules: &[(String, String)]) -> bool {
    let origin = m.origin_name().unwrap_or_default();
    rules.iter().any(|(code, pattern)| code.eq_ignore_ascii_case(m.kind.code) && glob(pattern, &origin))
}

fn list_analyzers() -> ExitCode {
    println!("Analyzers run by strait analyze:");
    for a in strait_analyze::analyzers::ALL.iter().chain(strait_analyze::pitfalls::ALL) {
        println!("  {}", a.name);
    }
    for a in strait_analyze::analyzers::EXTRA {
        println!("  {} (not run by default, as in istioctl)", a.name);
    }
    println!("\nIstio analyzers not run (they check what Strait does not have):");
    for n in strait_analyze::analyzers::NOT_APPLICABLE {
        println!("  {}: {}", n.name, n.why);
    }
    ExitCode::SUCCESS
}

/// The running mesh's config paths, namespace and runtime facts (`--mesh`).
fn mesh_facts(dir: &std::path::Path) -> Result<(Vec<String>, String, Vec<WorkloadFacts>), String> {
    let (mesh, pods, skipped) = strait_localmesh::facts::gather(dir)?;
    for s in skipped {
        eprintln!("Not checked at runtime: {s}");
    }
    let workloads = pods
        .into_iter()
        .map(|p| WorkloadFacts {
            namespace: p.namespace,
            // The pod's own name: messages name the pod that misbehaves (the Services that
            // select it are found through its labels).
            name: p.name,
            labels: p.labels,
            forwards_to: p.forwards_to,
            listening: p
                .listening
                .into_iter()
                .map(|s| Listener { address: s.address, port: s.port, v6_only: s.v6_only })
                .collect(),
        })
        .collect();
    Ok((mesh.config, mesh.namespace, workloads))
}

/// The input, and the paths it was read from.
fn load(args: &Args) -> Result<(strait_analyze::Input, Vec<String>), String> {
    let (mut files, mut namespace, mut workloads) = (args.files.clone(), args.namespace.clone(), Vec::new());
    if let Some(dir) = &args.mesh {
        let dir = dir.clone().unwrap_or_else(strait_localmesh::up::default_state_dir);
        let (config, ns, facts) = mesh_facts(&dir)?;
        if files.is_empty() {
            files = config;
            if !ns.is_empty() {
                namespace = ns;
            }
        }
        workloads = facts;
    }
    let opts = LoadOptions { default_namespace: Some(namespace) };
    let mut input = strait_analyze::load(&files, &opts);
    if let Some(path) = &args.mesh_config {
        let mut report = strait_config::LoadReport::default();
        input.mesh = strait_config::mesh::load_mesh_file(path, &mut report);
        input.load_errors.extend(report.findings.into_iter().filter(|f| f.severity == strait_model::Severity::Error));
    }
    if let Some(path) = &args.runtime {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let docs = strait_config::yaml::parse_stream(&text);
        let value = match docs.into_iter().next() {
            Some(Ok(doc)) => doc.value,
            Some(Err(e)) => return Err(format!("{path}:{}:{}: {}", e.pos.line, e.pos.col, e.message)),
            None => serde_json::Value::Null,
        };
        input.runtime = serde_json::from_value::<RuntimeFacts>(value).map_err(|e| format!("{path}: {e}"))?;
    }
    input.runtime.workloads.extend(workloads);
    // As `istioctl analyze` does for files: the mesh's ingress gateway is assumed to exist.
    input.add_default_ingress();
    Ok((input, files))
}

/// Runs the command.
pub fn run(args: &Args) -> ExitCode {
    if args.list_analyzers {
        return list_analyzers();
    }
    let mut rules = Vec::new();
    for s in &args.suppress {
        match s.split_once('=') {
            Some((code, pattern)) => rules.push((code.trim().to_string(), pattern.trim().to_string())),
            None => {
                eprintln!("error: --suppress {s:?}: expected CODE=Kind name");
                return ExitCode::from(2);
            }
        }
    }
    let (input, files) = match load(args) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    for f in &input.load_errors {
        eprintln!("{}: {f}", f.severity);
    }
    if !input.not_supported.is_empty() {
        let mut kinds: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
        for r in &input.not_supported {
            *kinds.entry(&r.kind).or_default() += 1;
        }
        let list: Vec<String> =
            kinds.iter().map(|(k, n)| if *n == 1 { k.to_string() } else { format!("{k} x{n}") }).collect();
        eprintln!(
            "Not analyzed: {} document(s) of kinds Strait does not act on ({})",
            input.not_supported.len(),
            list.join(", ")
        );
    }
    let options = Options { strait_workloads: !args.istio_workloads };
    let messages: Vec<Message> =
        strait_analyze::analyze(&input, &options).into_iter().filter(|m| !suppressed(m, &rules)).collect();
    let shown: Vec<Message> =
        messages.iter().filter(|m| m.kind.level.at_least(args.output_threshold)).cloned().collect();
    let colour = match args.color {
        Colour::Always => true,
        Colour::Never => false,
        Colour::Auto => std::io::stdout().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb"),
    };
    match args.output {
        Format::Log if shown.is_empty() => {}
        Format::Log => println!("{}", strait_analyze::output::log(&shown, colour)),
        Format::Json => println!("{}", strait_analyze::output::json(&shown)),
        Format::Yaml => print!("{}", strait_analyze::output::yaml(&shown)),
    }
    let parse_errors = input.load_errors.len();
    if shown.is_empty() {
        let what = files.join(", ");
        match parse_errors {
            0 => eprintln!("\u{2714} No validation issues found when analyzing {what}."),
            n => eprintln!("No validation issues found when analyzing {what} (but {n} problem(s) reading the files)."),
        }
    }
    let failed = messages.iter().any(|m| m.kind.level.at_least(args.failure_threshold));
    if failed || parse_errors > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs_like_istioctl() {
        assert!(glob("Namespace frod", "Namespace frod"));
        assert!(glob("Pod *", "Pod testing/mypod"));
        assert!(glob("*", ""));
        assert!(!glob("Pod *", "Service x"));
    }
}

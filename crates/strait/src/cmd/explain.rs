//! `strait explain [-f DIR] LINE_OR_FLAG`: explains an access-log line (Istio TEXT or JSON), a
//! local-reply body or response flags (`UH`, `URX,UF`) — what happened, the likely causes
//! (ranked against the mesh config with `-f`), what to check. `-` reads lines from stdin and
//! explains each. Exit 0 when everything was explained, 1 when an input was not an access-log
//! line or flag (or the config could not be read at all).

use std::io::Read as _;
use std::process::ExitCode;
use strait_config::LoadOptions;
use strait_explain::{Explanation, Mesh};

/// Arguments of `strait explain`.
#[derive(clap::Args)]
pub struct Args {
    /// An access-log line, a local-reply body or response flags (`UH`, `URX,UF`); `-` reads
    /// stdin, one line per explanation. Several words are joined with spaces.
    #[arg(required = true, num_args = 1.., allow_hyphen_values = true, value_name = "LINE_OR_FLAG")]
    input: Vec<String>,
    /// Mesh config (a file or directory, as for `strait validate`; repeat for more) to rank the
    /// causes against.
    #[arg(short = 'f', long = "filename")]
    files: Vec<String>,
    /// Namespace for config documents that have none.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Output {
    Text,
    Json,
}

/// Runs the command.
pub fn run(args: &Args) -> ExitCode {
    let stdin = args.input.len() == 1 && args.input[0] == "-";
    if stdin && args.files.iter().any(|f| f == "-") {
        eprintln!("error: stdin can hold the line or the config, not both");
        return ExitCode::from(2);
    }
    let inputs = if stdin {
        let mut text = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut text) {
            eprintln!("error: cannot read stdin: {e}");
            return ExitCode::FAILURE;
        }
        text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
    } else {
        vec![args.input.join(" ")]
    };
    let mesh = if args.files.is_empty() {
        None
    } else {
        match load(args) {
            Some(m) => Some(m),
            None => return ExitCode::FAILURE,
        }
    };
    let dir = (!args.files.is_empty()).then(|| args.files.join(" -f "));
    let mut explained: Vec<Explanation> = Vec::new();
    let mut failed = false;
    for input in &inputs {
        match strait_explain::explain(input, mesh.as_ref(), dir.as_deref()) {
            Ok(e) => explained.push(e),
            Err(e) => {
                eprintln!("error: {e}");
                failed = true;
            }
        }
    }
    print(args.output, &explained);
    if failed || explained.is_empty() { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// Loads the config; problems become warnings (the valid objects are still used).
fn load(args: &Args) -> Option<Mesh> {
    let opts = LoadOptions { default_namespace: args.namespace.clone() };
    let report = strait_config::load_paths(&args.files, &opts);
    if report.files == 0 {
        eprintln!("error: no config files found in {}", args.files.join(" "));
        return None;
    }
    let errors = report.errors();
    if errors > 0 {
        eprintln!(
            "warning: the config has {errors} error(s); objects with errors are left out (strait validate shows them)"
        );
    }
    Some(Mesh::from_report(&report))
}

fn print(output: Output, explained: &[Explanation]) {
    match output {
        Output::Json => {
            let text = match explained {
                [one] => serde_json::to_string_pretty(one),
                many => serde_json::to_string_pretty(many),
            };
            println!("{}", text.unwrap_or_default());
        }
        Output::Text => {
            for (i, e) in explained.iter().enumerate() {
                if i > 0 {
                    println!("\n{}\n", "-".repeat(100));
                }
                print!("{}", strait_explain::render::text(e));
            }
        }
    }
}

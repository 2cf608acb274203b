//! `strait proxy-status`: per-proxy xDS sync state from the control plane's `/debug/syncz`,
//! in istioctl's columns (`NAME CLUSTER CDS LDS EDS RDS ECDS ISTIOD VERSION`), with NACK
//! messages underneath so a rejected config explains itself.

use serde_json::Value;
use std::process::ExitCode;

/// Arguments of `strait proxy-status`.
#[derive(clap::Args)]
pub struct Args {
    /// The control plane's debug address.
    #[arg(long, default_value = "127.0.0.1:15014")]
    control_plane: String,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    output: Format,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

/// Runs the command.
pub fn run(args: &Args) -> ExitCode {
    let rows: Value = match super::http::get(&args.control_plane, "/debug/syncz") {
        Ok((200, body)) => serde_json::from_str(&body).unwrap_or(Value::Null),
        Ok((status, _)) => {
            eprintln!("error: control plane at {} answered {status}", args.control_plane);
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("error: {e} (is `strait control-plane` running?)");
            return ExitCode::FAILURE;
        }
    };
    if let Format::Json = args.output {
        println!("{}", serde_json::to_string_pretty(&rows).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    let rows = rows.as_array().cloned().unwrap_or_default();
    let version = env!("CARGO_PKG_VERSION");
    let mut table =
        vec![["NAME", "CLUSTER", "CDS", "LDS", "EDS", "RDS", "ECDS", "ISTIOD", "VERSION"].map(String::from).to_vec()];
    let mut nacks = Vec::new();
    for r in &rows {
        let proxy = r["proxy"].as_str().unwrap_or_default();
        let state = |t: &str| r["state"][t].as_str().unwrap_or("NOT SENT").to_string();
        table.push(vec![
            super::proxy_name(proxy).to_string(),
            "Kubernetes".into(),
            state("CDS"),
            state("LDS"),
            state("EDS"),
            state("RDS"),
            "IGNORED".into(),
            format!("strait-{}", args.control_plane),
            version.into(),
        ]);
        if let Some(m) = r["nacks"].as_object() {
            for (ty, msg) in m {
                nacks.push(format!("{} {ty} NACK: {}", super::proxy_name(proxy), msg.as_str().unwrap_or_default()));
            }
        }
    }
    let widths: Vec<usize> = (0..table[0].len()).map(|i| table.iter().map(|r| r[i].len()).max().unwrap_or(0)).collect();
    for row in &table {
        let line: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", line.join("   ").trim_end());
    }
    for n in nacks {
        println!("{n}");
    }
    ExitCode::SUCCESS
}

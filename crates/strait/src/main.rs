//! `strait`: the command line of the Strait service mesh.
//!
//! Each subcommand lives in its own module under `cmd/`; this file only parses arguments and
//! maps results to exit codes (0 success, 1 problems found, 2 usage errors via clap).

mod cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Strait: a service mesh that speaks Istio's API.
#[derive(Parser)]
#[command(name = "strait", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate Istio and Kubernetes config files (like `istioctl validate`).
    Validate(cmd::validate::Args),
    /// Analyze config for problems, with Istio's analyzers and codes (like `istioctl analyze`).
    Analyze(cmd::analyze::Args),
    /// Run the control plane: serve xDS for config read from files (watched for changes).
    ControlPlane(cmd::control_plane::Args),
    /// Run a proxy (sidecar or gateway) configured by the control plane.
    Proxy(cmd::proxy::Args),
    /// Show each proxy's xDS sync state (SYNCED / NOT SENT / STALE / NACK).
    ProxyStatus(cmd::proxy_status::Args),
    /// Show a proxy's clusters, listeners, routes, endpoints or bootstrap.
    ProxyConfig(cmd::proxy_config::Args),
    /// Run Kubernetes manifests and Istio config as a local mesh (pods with sidecars, embedded control plane).
    Up(cmd::up::Args),
    /// Run the built-in demo mesh, apply a scenario, drive traffic and show what the sidecars saw.
    Demo(cmd::demo::Args),
    /// Show a local-mesh pod's container log (`-c istio-proxy` for the sidecar).
    Logs(cmd::logs::Args),
    /// A built-in demo app (run by the demo's manifests).
    #[command(hide = true)]
    DemoApp(cmd::demo::AppArgs),
    /// Explain an access-log line or response flag: what happened, likely causes, what to check.
    Explain(cmd::explain::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate(args) => cmd::validate::run(&args),
        Command::Analyze(args) => cmd::analyze::run(&args),
        Command::ControlPlane(args) => cmd::control_plane::run(&args),
        Command::Proxy(args) => cmd::proxy::run(&args),
        Command::ProxyStatus(args) => cmd::proxy_status::run(&args),
        Command::ProxyConfig(args) => cmd::proxy_config::run(&args),
        Command::Up(args) => cmd::up::run(&args),
        Command::Demo(args) => cmd::demo::run(&args),
        Command::Logs(args) => cmd::logs::run(&args),
        Command::DemoApp(args) => cmd::demo::run_app(&args),
        Command::Explain(args) => cmd::explain::run(&args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}

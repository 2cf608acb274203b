//! `strait control-plane --config DIR`: the embedded control plane (xDS on 127.0.0.1:15010,
//! debug HTTP on 127.0.0.1:15014), reading Istio and Kubernetes config from files and pushing
//! changes live.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `strait control-plane`.
#[derive(clap::Args)]
pub struct Args {
    /// Config files or directories (watched for changes).
    #[arg(long = "config", short = 'f', required = true, num_args = 1..)]
    config: Vec<String>,
    /// Namespace for documents without one.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// ADS (gRPC) listen address.
    #[arg(long, default_value = "127.0.0.1:15010")]
    xds_address: SocketAddr,
    /// Debug and metrics HTTP listen address.
    #[arg(long, default_value = "127.0.0.1:15014")]
    debug_address: SocketAddr,
    /// Quiet time after a file change before pushing, in milliseconds.
    #[arg(long, default_value_t = 100)]
    debounce_ms: u64,
}

/// Runs the control plane until interrupted.
pub fn run(args: &Args) -> ExitCode {
    super::init_logging();
    let opts = strait_control_plane::Options {
        paths: args.config.clone(),
        default_namespace: args.namespace.clone(),
        xds_address: args.xds_address,
        debug_address: args.debug_address,
        debounce: Duration::from_millis(args.debounce_ms),
        poll: Duration::from_millis(50),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        tokio::select! {
            r = strait_control_plane::run(opts) => r,
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

//! `strait demo`: a Bookinfo-like mesh built into the binary, a scenario, traffic and its
//! numbers; and `strait demo-app` (hidden), the demo's apps themselves. See
//! `strait_localmesh::demo` and `strait_localmesh::apps`.

use super::up::{DataPlane, Isolation};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `strait demo`.
#[derive(clap::Args)]
pub struct Args {
    /// What to show: routing (by header), shift (80/20), fault (FI), circuit-breaker (UO),
    /// egress (REGISTRY_ONLY).
    #[arg(long, default_value = "routing", value_parser = ["routing", "shift", "fault", "circuit-breaker", "egress"])]
    scenario: String,
    /// Stop after this long and print the summary (`20s`, `2m`); without it, run until Ctrl-C.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// The sidecars' data plane.
    #[arg(long, value_enum, default_value_t = DataPlane::Strait)]
    data_plane: DataPlane,
    /// Pod isolation: `none` (loopback addresses) or `netns` (network namespaces with iptables
    /// capture; root).
    #[arg(long, value_enum, default_value_t = Isolation::None)]
    isolation: Isolation,
    /// Requests per second to productpage.
    #[arg(long, default_value_t = 20)]
    rps: u32,
    /// Keep manifests, logs and state in this directory (default: a temporary one, removed).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The embedded control plane's ADS address.
    #[arg(long, default_value = "127.0.0.1:15010")]
    xds_address: SocketAddr,
    /// The embedded control plane's debug address.
    #[arg(long, default_value = "127.0.0.1:15014")]
    debug_address: SocketAddr,
}

/// `20s`, `1500ms`, `2m`, `1h`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let (n, unit) = s.find(|c: char| !c.is_ascii_digit()).map_or((s, "s"), |i| s.split_at(i));
    let n: u64 = n.parse().map_err(|_| format!("{s:?} is not a duration like 20s"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("{s:?}: unit must be ms, s, m or h")),
    }
}

/// Runs the demo; exit status 1 when a service got no traffic or a failure was unexpected.
pub fn run(a: &Args) -> ExitCode {
    let dir = a.dir.clone().unwrap_or_else(strait_localmesh::demo::temp_dir);
    let result = (|| {
        super::up::log_to_file(&dir.join("control-plane.log"))?;
        let opts = strait_localmesh::demo::Options {
            scenario: strait_localmesh::demo::scenario::Scenario::parse(&a.scenario)?,
            duration: a.duration,
            data_plane: a.data_plane.into(),
            isolation: a.isolation.into(),
            rps: a.rps.max(1),
            xds_address: a.xds_address,
            debug_address: a.debug_address,
            exe: std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?,
            dir: dir.clone(),
            keep: a.dir.is_some(),
        };
        super::up::runtime()?.block_on(strait_localmesh::demo::run(opts))
    })();
    match result {
        Ok(o) if o.silent.is_empty() && o.unexpected == 0 => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Arguments of `strait demo-app`.
#[derive(clap::Args)]
pub struct AppArgs {
    /// productpage, details, reviews, ratings or books-api.
    service: String,
    /// The version it reports (and, for reviews, how it behaves: v1 does not call ratings).
    #[arg(long, default_value = "v1")]
    version: String,
    /// Listen address (default: $POD_IP:$PORT).
    #[arg(long)]
    listen: Option<SocketAddr>,
}

/// Runs one demo app until stopped.
pub fn run_app(a: &AppArgs) -> ExitCode {
    let result = strait_localmesh::apps::Service::parse(&a.service)
        .and_then(|s| strait_localmesh::apps::run(s, &a.version, a.listen));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("20"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3d").is_err());
    }
}

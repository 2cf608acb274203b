//! Subcommands of `strait`.

pub mod control_plane;
pub mod http;
pub mod proxy;
pub mod proxy_config;
pub mod proxy_config_secret;
pub mod proxy_status;
pub mod validate;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// `POD.NAMESPACE` from a node id (`sidecar~IP~POD.NS~DOMAIN`), as proxy-status names proxies.
pub fn proxy_name(node_id: &str) -> &str {
    node_id.split('~').nth(2).unwrap_or(node_id)
}

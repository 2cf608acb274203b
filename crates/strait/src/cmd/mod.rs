//! Subcommands of `strait`.

pub mod analyze;
pub mod control_plane;
pub mod demo;
pub mod explain;
pub mod http;
pub mod logs;
pub mod proxy;
pub mod proxy_config;
pub mod proxy_config_secret;
pub mod proxy_status;
pub mod up;
pub mod validate;

use tracing_subscriber::EnvFilter;

/// The startup filter directives and the handle that replaces the filter at run time.
type LogReload = (String, tracing_subscriber::reload::Handle<EnvFilter, tracing_subscriber::Registry>);

static LOG_RELOAD: std::sync::OnceLock<LogReload> = std::sync::OnceLock::new();

/// Logs to stderr, filtered by `RUST_LOG` (default `info`); the filter sits behind a reload
/// layer so the Strait proxy's admin `/logging` can change levels at run time.
pub fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let env = std::env::var("RUST_LOG").ok().filter(|d| EnvFilter::try_new(d).is_ok());
    let directives = env.unwrap_or_else(|| "info".to_string());
    let (filter, handle) = tracing_subscriber::reload::Layer::new(EnvFilter::new(&directives));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if tracing_subscriber::registry().with(filter).with(fmt).try_init().is_ok() {
        let _ = LOG_RELOAD.set((directives, handle));
    }
}

/// How the Strait proxy changes log levels: the startup directives and a function that
/// installs new ones (none when logging was set up elsewhere).
pub fn log_control() -> strait_proxy::admin::logging::LogControl {
    let Some((base, handle)) = LOG_RELOAD.get() else { return Default::default() };
    let handle = handle.clone();
    let reload = move |directives: &str| {
        let filter = EnvFilter::try_new(directives).map_err(|e| e.to_string())?;
        handle.reload(filter).map_err(|e| e.to_string())
    };
    strait_proxy::admin::logging::LogControl { base: base.clone(), reload: Some(std::sync::Arc::new(reload)) }
}

/// `POD.NAMESPACE` from a node id (`sidecar~IP~POD.NS~DOMAIN`), as proxy-status names proxies.
pub fn proxy_name(node_id: &str) -> &str {
    node_id.split('~').nth(2).unwrap_or(node_id)
}

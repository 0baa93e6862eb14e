//! Logging set-up: one line per event, text or JSON.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub fn init(debug: bool, format: &str) {
    let default = if debug { "debug" } else { "info" };
    let filter = EnvFilter::try_from_env("K3RS_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

//! `k3rs`: one binary, server or agent. This file only parses flags and wires.

mod cli;
mod cluster_controllers;
mod logging;
mod netinfo;
mod server;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = match cli::config_file::args_with_config(std::env::args_os().collect()) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("k3rs: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let cli = cli::Cli::parse_from(args);
    match cli.command {
        cli::Command::Server(opts) => {
            logging::init(opts.debug, &opts.log_format);
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("k3rs: starting the async runtime: {e}");
                    return std::process::ExitCode::FAILURE;
                }
            };
            match runtime.block_on(server::run(opts)) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("k3rs server: {e:#}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
    }
}

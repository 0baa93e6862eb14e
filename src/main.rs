//! `k3rs`: one binary, server or agent. This file only parses flags and wires.

mod agent;
mod check_config;
mod cli;
mod control_plane;
mod images;
mod kubectl;
mod logging;
mod manifests;
mod netinfo;
mod server;
mod systemd_notify;
mod tokens;

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
            run_async("server", server::run(opts))
        }
        cli::Command::Agent(opts) => {
            logging::init(opts.debug, &opts.log_format);
            run_async("agent", agent::run(opts))
        }
        cli::Command::Images(opts) => {
            logging::init(false, "text");
            run_async("images", images::run(opts))
        }
        cli::Command::CheckConfig(args) => check_config::run(&args),
        cli::Command::Kubectl(args) => {
            let err = kubectl::exec(&args.args);
            eprintln!("k3rs kubectl: {err:#}");
            std::process::ExitCode::FAILURE
        }
        cli::Command::Token(cmd) => exit_code("token", cli::token::run(cmd)),
        cli::Command::Certificate(cmd) => exit_code("certificate", cli::certificate::run(cmd)),
        cli::Command::SecretsEncrypt(cmd) => exit_code("secrets-encrypt", cli::secrets_encrypt::run(cmd)),
    }
}

/// Runs a subcommand on a multi-threaded async runtime and turns its result into an exit code.
fn run_async(what: &str, work: impl std::future::Future<Output = anyhow::Result<()>>) -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("k3rs: starting the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("k3rs {what}: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn exit_code(command: &str, result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("k3rs {command}: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

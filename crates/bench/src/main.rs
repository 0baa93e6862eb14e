//! k3rs-bench: measures k3rs' building blocks and prints figures (throughput, p50/p99).
//! Each subcommand is quick by default (a few seconds); flags make runs longer or heavier.

mod api;
mod pods;
mod runtime;
mod stats;
mod store;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "k3rs-bench", about = "Benchmarks for k3rs")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The revisioned store on SQLite: create throughput, get/list latency, watch fan-out latency.
    Store(store::StoreArgs),
    /// The API server through a real client: create/get/list/watch figures and memory.
    Api(api::ApiArgs),
    /// The container runtime on a private containerd: sandbox, create and start latency.
    Runtime(runtime::RuntimeArgs),
    /// Pods through the API and the server's agent vs the runtime floor; agent memory.
    Pods(pods::PodsArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Store(args) => store::run(args).await,
        Command::Api(args) => api::run(args).await,
        Command::Runtime(args) => runtime::run(args).await,
        Command::Pods(args) => pods::run(args).await,
    }
}

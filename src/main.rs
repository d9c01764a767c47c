//! `skald`: a Loki-compatible log aggregation server. With no arguments it runs every role in
//! one process on the embedded default (data under `./data`, HTTP on 3100, gRPC on 9095).

mod cli;
mod cluster_cli;
mod config;
mod delete_api;
mod retention;
mod roles;
mod server;

use anyhow::Result;
use tracing_subscriber::EnvFilter;

use config::{Invocation, USAGE, parse_args};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    match args.peek().map(String::as_str) {
        Some("query") => {
            args.next();
            tool("query", cli::parse_query_args(args), async |cmd| cli::run_query(&cmd).await)
        }
        Some("cluster") => {
            args.next();
            tool("cluster", cluster_cli::parse_cluster_args(args), cluster_cli::run)
        }
        _ => serve(args),
    }
}

/// Runs a client subcommand: a usage error exits 2, a failure 1; the output goes to stdout.
fn tool<T>(name: &str, parsed: Result<T>, run: impl AsyncFnOnce(T) -> Result<String>) -> Result<()> {
    let parsed = match parsed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("skald {name}: {e:#}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    match runtime.block_on(run(parsed)) {
        Ok(out) => {
            print!("{out}");
            if !out.ends_with('\n') {
                println!();
            }
            Ok(())
        }
        Err(e) => {
            eprintln!("skald {name}: {e:#}");
            std::process::exit(1);
        }
    }
}

/// Runs the server (or prints help, version or the configuration).
fn serve(args: impl Iterator<Item = String>) -> Result<()> {
    let config = match parse_args(args) {
        Ok(Invocation::Run(c)) => c,
        Ok(Invocation::PrintConfig(c)) => {
            print!("{}", serde_yaml_ng::to_string(&*c)?);
            return Ok(());
        }
        Ok(Invocation::Help) => {
            print!("{USAGE}");
            return Ok(());
        }
        Ok(Invocation::Version) => {
            println!("skald {}", env!("CARGO_PKG_VERSION"));
            return Ok(());
        }
        Err(e) => {
            eprintln!("skald: {e:#}");
            std::process::exit(2);
        }
    };
    let filter = EnvFilter::try_from_env("SKALD_LOG").unwrap_or_else(|_| EnvFilter::new(&config.server.log_level));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    config.warn_ignored_keys();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(server::run(*config))
}

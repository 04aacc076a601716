//! The `huiyi` binary: parse flags, set up logging, run the server until Ctrl-C or SIGTERM.

use clap::Parser;
use huiyi_server::config::{Cli, Command, Config};
use huiyi_server::Application;
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,str0m=warn,dimpl=warn")))
        .init();
    let cli = Cli::parse();
    let Command::Serve(args) = cli.command;
    let config = match Config::resolve(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("huiyi: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("huiyi: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let dev = config.dev;
        let app = match Application::build(config).await {
            Ok(a) => a,
            Err(e) => {
                eprintln!("huiyi: cannot bind: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        if dev {
            println!("Huiyi dev server: open http://{}/?room=demo  (API key devkey, secret secret)", app.http_addr);
        }
        match app.run(shutdown_signal()).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("huiyi: server error: {e}");
                std::process::ExitCode::FAILURE
            }
        }
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}

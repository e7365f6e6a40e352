//! `cloister-host`: the untrusted host proxy. See the crate docs of `cloister_host`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use cloister_host::api::{AppState, app};
use cloister_host::link::EnclaveLink;
use cloister_host::transport::EnclaveAddr;

/// The Cloister host proxy: serves callers over HTTP and relays opaque bytes to the enclave.
/// It holds no keys and cannot read requests or results.
#[derive(Debug, Parser)]
#[command(name = "cloister-host", version)]
struct Args {
    /// HTTP listen address for callers.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "IP:PORT")]
    listen: SocketAddr,
    /// The enclave: unix:PATH (mock) or vsock:CID:PORT (Nitro).
    #[arg(long, value_name = "ADDR")]
    enclave: EnclaveAddr,
    /// Write the bound address here once listening (use with --listen 127.0.0.1:0).
    #[arg(long, value_name = "FILE")]
    addr_file: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cloister-host: starting the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("cloister-host: {msg}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let link = Arc::new(EnclaveLink::new(args.enclave.clone()));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("binding {}: {e}", args.listen))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("reading the bound address: {e}"))?;
    if let Some(path) = &args.addr_file {
        // Write then rename, so a watcher never reads a half-written address.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bound.to_string())
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    tracing::info!(listen = %bound, enclave = %args.enclave, "host proxy serving");
    axum::serve(listener, app(AppState { link }))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| format!("serving: {e}"))
}

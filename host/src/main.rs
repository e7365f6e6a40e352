//! `cloister-host`: the untrusted host proxy. See the crate docs of `cloister_host`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use cloister_host::api::{AppState, app};
use cloister_host::collateral::{CollateralCache, CollateralConfig, INTEL_PCS_URL};
use cloister_host::error::StartError;
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
    /// Intel PCS or a PCCS (base URL, no path) for the DCAP collateral of TDX evidence.
    #[arg(long, value_name = "URL", default_value = INTEL_PCS_URL, env = "CLOISTER_PCCS_URL")]
    pccs_url: String,
    /// Where the Intel SGX Root CA CRL comes from (DER or hex). Default: Intel's
    /// certificates.trustedservices.intel.com for Intel PCS, the PCCS's rootcacrl otherwise.
    #[arg(long, value_name = "URL", env = "CLOISTER_ROOT_CA_CRL_URL")]
    root_ca_crl_url: Option<String>,
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
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(StartError::AsyncRuntime)
        .and_then(|rt| rt.block_on(run(args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cloister-host: error [{}]: {e}", e.code());
            eprintln!("  hint: {}", e.hint());
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> Result<(), StartError> {
    let link = Arc::new(EnclaveLink::new(args.enclave.clone()));
    let collateral = Arc::new(CollateralCache::new(&CollateralConfig {
        pccs_url: args.pccs_url.clone(),
        root_ca_crl_url: args.root_ca_crl_url.clone(),
        ..CollateralConfig::default()
    })?);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: args.listen,
            source,
        })?;
    let bound = listener.local_addr().map_err(StartError::LocalAddr)?;
    if let Some(path) = &args.addr_file {
        // Write then rename, so a watcher never reads a half-written address.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bound.to_string())
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|source| StartError::AddrFile {
                path: path.clone(),
                source,
            })?;
    }
    tracing::info!(listen = %bound, enclave = %args.enclave, pccs = %args.pccs_url, "host proxy serving");
    axum::serve(listener, app(AppState { link, collateral }))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(StartError::Serve)
}

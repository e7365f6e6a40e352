//! `cloister-host`: the untrusted host proxy. See the crate docs of `cloister_host`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use cloister_host::api::{AppState, app};
use cloister_host::collateral::{CollateralCache, CollateralConfig, INTEL_PCS_URL};
use cloister_host::error::StartError;
use cloister_host::link::EnclaveLink;
use cloister_host::metrics::{HostMetrics, instrument};
use cloister_host::model_store::{ModelStore, ModelStoreLimits, ModelStoreSpec};
use cloister_host::relay::{self, RelayLimits, RelaySpec};
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
    /// Relay connections made to the Unix socket PATH to the TCP destination HOST:PORT
    /// (repeatable; needs --relay-allowlist).
    ///
    /// The enclave's way out, e.g. to its key custodian over TLS that ends in the enclave: the
    /// host only copies bytes. The destination must be in --relay-allowlist or the host refuses
    /// to start (host.relay_not_allowed). At most 64 connections at once per relay; 60 s idle
    /// timeout. The socket is created with mode 0600; a stale socket file is replaced.
    #[arg(
        long = "relay",
        value_name = "unix:PATH=HOST:PORT",
        requires = "relay_allowlist"
    )]
    relays: Vec<RelaySpec>,
    /// The destinations --relay may use: a YAML file in AWS vsock-proxy's allowlist format.
    ///
    /// `allowlist:` followed by `- {address: HOST, port: PORT}` items (block maps also
    /// accepted). Names match exactly (case-insensitive), never by resolved IP.
    #[arg(long, value_name = "FILE")]
    relay_allowlist: Option<PathBuf>,
    /// Serve sealed models from DIR on the Unix socket PATH.
    ///
    /// Protocol (one request per connection): `GET <model_id>\n` answered by `OK <len>\n` and the
    /// bytes of DIR/<model_id>.sealed, or `ERR not_found\n` / `ERR bad_request\n` /
    /// `ERR timeout\n` / `ERR unavailable\n`. model_id: 1-128 of [A-Za-z0-9._-], not starting
    /// with '.'. The socket is created with mode 0600; a stale socket file is replaced.
    #[arg(long, value_name = "unix:PATH=DIR")]
    model_store: Option<ModelStoreSpec>,
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
    // Checked and bound before the HTTP listener: an unlisted relay destination stops the start
    // before anything listens. Neither needs the enclave: the enclave connects to them at its
    // start, before it listens itself (the enclave link is lazy).
    let relays = relay::bind_all(
        &args.relays,
        args.relay_allowlist.as_deref(),
        RelayLimits::default(),
    )
    .await?;
    let model_store = match &args.model_store {
        Some(spec) => Some(ModelStore::bind(spec.clone(), ModelStoreLimits::default()).await?),
        None => None,
    };
    let mut sockets: Vec<PathBuf> = relays.iter().map(|r| r.spec().listen().into()).collect();
    sockets.extend(model_store.iter().map(|m| m.spec().listen().to_path_buf()));
    let result = serve_http(&args, link, collateral, relays, model_store).await;
    for path in &sockets {
        // Best effort: a leftover file is replaced at the next start anyway.
        let _ = std::fs::remove_file(path);
    }
    result
}

/// A link counter exported as a metric: name, help, and how to read it from a snapshot.
type LinkCounter = (
    &'static str,
    &'static str,
    fn(&cloister_host::link::LinkStatsSnapshot) -> u64,
);

async fn serve_http(
    args: &Args,
    link: Arc<EnclaveLink>,
    collateral: Arc<CollateralCache>,
    relays: Vec<relay::Relay>,
    model_store: Option<ModelStore>,
) -> Result<(), StartError> {
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
    let metrics = Arc::new(HostMetrics::new());
    let link_counters: [LinkCounter; 5] = [
        (
            "cloister_host_enclave_reconnects",
            "Connections to the enclave made after the first.",
            |s| s.reconnects,
        ),
        (
            "cloister_host_enclave_connect_failures",
            "Connects to the enclave that failed.",
            |s| s.connect_failures,
        ),
        (
            "cloister_host_enclave_requests_lost",
            "Requests whose enclave connection broke.",
            |s| s.lost,
        ),
        (
            "cloister_host_enclave_timeouts",
            "Requests that reached their deadline.",
            |s| s.timeouts,
        ),
        (
            "cloister_host_enclave_dropped_answers",
            "Enclave answers for no waiting request, dropped.",
            |s| s.dropped_answers,
        ),
    ];
    for (name, help, read) in link_counters {
        let stats = std::sync::Arc::clone(link.stats());
        metrics.register_snapshot(name, help, move || read(&stats.snapshot()));
    }
    let relay_stats: Vec<_> = relays.iter().map(relay::Relay::stats).collect();
    metrics.register_snapshot(
        "cloister_host_relay_refused",
        "Relay connections refused, over every relay (too many open).",
        move || relay_stats.iter().map(|s| s.snapshot().refused_busy).sum(),
    );
    // Aborted on drop, so they stop with the HTTP server (and before their sockets are removed).
    let mut tasks = tokio::task::JoinSet::new();
    for relay in relays {
        tasks.spawn(relay.serve());
    }
    if let Some(store) = model_store {
        tasks.spawn(store.serve());
    }
    tracing::info!(listen = %bound, enclave = %args.enclave, pccs = %args.pccs_url, "host proxy serving");
    let served = cloister_host::edge::serve(
        listener,
        instrument(app(AppState { link, collateral }), metrics),
        &cloister_host::edge::EdgeLimits::default(),
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    )
    .await
    .map_err(StartError::Serve);
    tasks.shutdown().await;
    served
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Args;

    #[test]
    fn relay_needs_an_allowlist() {
        let base = ["cloister-host", "--enclave", "unix:/tmp/e.sock"];
        let relay = ["--relay", "unix:/tmp/r.sock=kms.example.com:443"];
        let err = Args::try_parse_from(base.iter().chain(&relay)).expect_err("no allowlist");
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let args = Args::try_parse_from(
            base.iter()
                .chain(&relay)
                .chain(&relay)
                .chain(&["--relay-allowlist", "/etc/a.yaml"]),
        )
        .expect("parses");
        assert_eq!(args.relays.len(), 2);
        assert!(Args::try_parse_from(base.iter().chain(&["--relay", "kms:443"])).is_err());
    }

    #[test]
    fn model_store_flag() {
        let args = Args::try_parse_from([
            "cloister-host",
            "--enclave",
            "unix:/tmp/e.sock",
            "--model-store",
            "unix:/tmp/m.sock=/var/models",
        ])
        .expect("parses");
        let spec = args.model_store.expect("given");
        assert_eq!(spec.dir(), std::path::Path::new("/var/models"));
        assert!(
            Args::try_parse_from([
                "cloister-host",
                "--enclave",
                "unix:/tmp/e.sock",
                "--model-store",
                "/var/models"
            ])
            .is_err()
        );
    }
}

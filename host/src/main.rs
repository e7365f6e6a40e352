//! `cloister-host`: the untrusted host proxy. See the crate docs of `cloister_host`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use cloister_host::api::{AppState, app};
use cloister_host::collateral::{CollateralCache, CollateralConfig, INTEL_PCS_URL};
use cloister_host::config::{HostConfig, LogFormat};
use cloister_host::edge::{self, Admission, AdmissionStatsSnapshot, EdgeLimits};
use cloister_host::error::StartError;
use cloister_host::link::{EnclaveLink, LinkStatsSnapshot};
use cloister_host::metrics::{HostMetrics, instrument};
use cloister_host::model_store::{ModelStore, ModelStoreLimits, ModelStoreSpec};
use cloister_host::relay::{self, RelayLimits, RelaySpec};
use cloister_host::supervisor::config::SupervisorConfig;
use cloister_host::supervisor::{EnclaveState, Supervisor, SupervisorStatsSnapshot};
use cloister_host::transport::EnclaveAddr;
use tokio::sync::watch;

/// The Cloister host proxy: serves callers over HTTP and relays opaque bytes to the enclave.
/// It holds no keys and cannot read requests or results.
///
/// Two ways to run it: with flags, in front of an enclave started elsewhere (`--enclave`); or
/// `cloister-host run --config FILE`, which also starts the enclave, restarts it when it exits
/// and stops it at shutdown.
#[derive(Debug, Parser)]
#[command(
    name = "cloister-host",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    args: Args,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start and supervise the enclave, then serve callers (the production form).
    ///
    /// FILE is JSON: `listen`, `supervisor` (the enclave: `{"address": "vsock://16:5000",
    /// "enclave": {"kind": "nitro", "eif_path": ..., "cpu_count": 2, "memory_mib": 2048}}`, or
    /// a `mock` enclave process with a `unix:///PATH` address), and optionally `relays`,
    /// `relay_allowlist`, `model_store` (the flags' forms), `edge` (limits), `pccs_url`,
    /// `log_format` (`json`, the default, or `text`). The relays and model store listen
    /// before the enclave starts (it needs them to start); callers are served once it is ready.
    /// SIGTERM or SIGINT drains: no new requests, those in flight finish, the enclave stops.
    Run {
        /// The host configuration file (see host/README.md).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
struct Args {
    /// HTTP listen address for callers.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "IP:PORT")]
    listen: SocketAddr,
    /// The enclave: unix:PATH (mock), vsock:CID:PORT (Nitro), or hybrid-vsock:///UDS:PORT (an
    /// emulated enclave in a local microVM, through vhost-device-vsock's Unix socket UDS).
    #[arg(long, value_name = "ADDR", required = true)]
    enclave: Option<EnclaveAddr>,
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
    /// Admitted requests per client IP (default 32): beyond, 429 host.client_limit at once.
    #[arg(long, value_name = "N")]
    max_per_client: Option<usize>,
    /// The log's format on stderr: json (one object per line, with request ids) or text.
    #[arg(long, value_enum, default_value = "json")]
    log_format: LogFormat,
}

/// What serving needs, from the flags or the configuration file.
struct Serving {
    listen: SocketAddr,
    addr_file: Option<PathBuf>,
    pccs_url: String,
    root_ca_crl_url: Option<String>,
    relays: Vec<RelaySpec>,
    relay_allowlist: Option<PathBuf>,
    model_store: Option<ModelStoreSpec>,
    edge: EdgeLimits,
}

/// The enclave: one started elsewhere at an address, or one the host starts and supervises.
enum EnclaveSource {
    At(EnclaveAddr),
    Supervised(Box<SupervisorConfig>),
}

impl EnclaveSource {
    fn describe(&self) -> String {
        match self {
            Self::At(addr) => addr.to_string(),
            Self::Supervised(config) => config.address.to_string(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let prepared = match cli.command {
        Some(Command::Run { config }) => HostConfig::load(&config).map(|c| {
            let serving = Serving {
                listen: c.listen,
                addr_file: c.addr_file.clone(),
                pccs_url: c.pccs_url.clone(),
                root_ca_crl_url: c.root_ca_crl_url.clone(),
                edge: c.edge_limits(),
                relays: c.relays,
                relay_allowlist: c.relay_allowlist,
                model_store: c.model_store,
            };
            (
                serving,
                EnclaveSource::Supervised(Box::new(c.supervisor)),
                c.log_format,
            )
        }),
        None => Ok(from_flags(cli.args)),
    };
    let result = prepared
        .map_err(StartError::from)
        .and_then(|(serving, enclave, format)| {
            init_logging(format);
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(StartError::AsyncRuntime)
                .and_then(|rt| rt.block_on(run(serving, enclave)))
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cloister-host: error [{}]: {e}", e.code());
            eprintln!("  hint: {}", e.hint());
            ExitCode::from(2)
        }
    }
}

fn from_flags(args: Args) -> (Serving, EnclaveSource, LogFormat) {
    let mut edge = EdgeLimits::default();
    if let Some(n) = args.max_per_client {
        edge.max_per_client = n;
    }
    let serving = Serving {
        listen: args.listen,
        addr_file: args.addr_file,
        pccs_url: args.pccs_url,
        root_ca_crl_url: args.root_ca_crl_url,
        relays: args.relays,
        relay_allowlist: args.relay_allowlist,
        model_store: args.model_store,
        edge,
    };
    // clap requires --enclave when there is no subcommand.
    let enclave = match args.enclave {
        Some(addr) => EnclaveSource::At(addr),
        None => unreachable_enclave(),
    };
    (serving, enclave, args.log_format)
}

/// clap enforces `--enclave` without a subcommand; reaching here is a clap bug, reported as a
/// usage error rather than a panic.
fn unreachable_enclave() -> ! {
    eprintln!(
        "cloister-host: error: --enclave ADDR is required (or use `cloister-host run --config FILE`)"
    );
    std::process::exit(2)
}

/// Logs go to stderr; the level comes from RUST_LOG (default info). Nothing logged contains a
/// body, a key or a caller's raw path.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        LogFormat::Text => builder.init(),
    }
}

async fn run(serving: Serving, enclave: EnclaveSource) -> Result<(), StartError> {
    let stop = watch_shutdown_signals();
    let collateral = Arc::new(CollateralCache::new(&CollateralConfig {
        pccs_url: serving.pccs_url.clone(),
        root_ca_crl_url: serving.root_ca_crl_url.clone(),
        ..CollateralConfig::default()
    })?);
    serving
        .edge
        .check()
        .map_err(|e| StartError::Config(cloister_host::config::HostConfigError::Edge(e)))?;
    // Checked and bound before anything else: an unlisted relay destination stops the start
    // before anything listens. The enclave connects to both during its own start, before it
    // listens, so they serve from here on.
    let relays = relay::bind_all(
        &serving.relays,
        serving.relay_allowlist.as_deref(),
        RelayLimits::default(),
    )
    .await?;
    let model_store = match &serving.model_store {
        Some(spec) => Some(ModelStore::bind(spec.clone(), ModelStoreLimits::default()).await?),
        None => None,
    };
    let mut sockets: Vec<PathBuf> = relays.iter().map(|r| r.spec().listen().into()).collect();
    sockets.extend(model_store.iter().map(|m| m.spec().listen().to_path_buf()));
    let metrics = Arc::new(HostMetrics::new());
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
    let described = enclave.describe();
    let result = async {
        let (link, supervisor) = match enclave {
            EnclaveSource::At(addr) => (Arc::new(EnclaveLink::new(addr)), None),
            EnclaveSource::Supervised(config) => {
                let supervisor = tokio::select! {
                    started = Supervisor::start(*config) => started?,
                    () = stopped(stop.clone()) => {
                        // Dropping the start stops a mock enclave (its process is killed); a
                        // Nitro enclave being started is not terminated by the drop.
                        tracing::warn!(
                            "shutdown asked for while the enclave was starting: not serving; for Nitro, check `nitro-cli describe-enclaves`"
                        );
                        return Ok(());
                    }
                };
                register_supervisor(&metrics, &supervisor);
                (Arc::clone(supervisor.link()), Some(supervisor))
            }
        };
        register_link(&metrics, &link);
        let served = serve_http(&serving, &described, link, collateral, &metrics, stop).await;
        if let Some(supervisor) = supervisor {
            let report = supervisor.shutdown().await?;
            tracing::info!(
                abandoned = report.abandoned,
                drained_ms = u64::try_from(report.drained_in.as_millis()).unwrap_or(u64::MAX),
                "the enclave is stopped"
            );
        }
        served
    }
    .await;
    tasks.shutdown().await;
    for path in &sockets {
        // Best effort: a leftover file is replaced at the next start anyway.
        let _ = std::fs::remove_file(path);
    }
    result
}

/// A counter exported as a metric: name, help, and how to read it from a snapshot.
type Counter<S> = (&'static str, &'static str, fn(&S) -> u64);

fn register_link(metrics: &HostMetrics, link: &EnclaveLink) {
    let counters: [Counter<LinkStatsSnapshot>; 5] = [
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
    for (name, help, read) in counters {
        let stats = Arc::clone(link.stats());
        metrics.register_snapshot(name, help, move || read(&stats.snapshot()));
    }
}

fn register_supervisor(metrics: &HostMetrics, supervisor: &Supervisor) {
    let counters: [Counter<SupervisorStatsSnapshot>; 4] = [
        (
            "cloister_host_enclave_launches",
            "Enclave launches (the first start and every restart attempt).",
            |s| s.launches,
        ),
        (
            "cloister_host_enclave_restarts",
            "Restarts that reached ready after the enclave exited.",
            |s| s.restarts,
        ),
        (
            "cloister_host_enclave_exits",
            "Enclave exits seen (crashes and kills, not the stop at shutdown).",
            |s| s.exits,
        ),
        (
            "cloister_host_enclave_failed_starts",
            "Restart attempts that failed.",
            |s| s.failed_starts,
        ),
    ];
    for (name, help, read) in counters {
        let stats = Arc::clone(supervisor.stats());
        metrics.register_snapshot(name, help, move || read(&stats.snapshot()));
    }
    let state = supervisor.subscribe();
    metrics.register_gauge_snapshot(
        "cloister_host_enclave_ready",
        "1 while the supervised enclave is ready, 0 while it starts, restarts or stops.",
        move || u64::from(*state.borrow() == EnclaveState::Ready),
    );
}

async fn serve_http(
    serving: &Serving,
    enclave: &str,
    link: Arc<EnclaveLink>,
    collateral: Arc<CollateralCache>,
    metrics: &Arc<HostMetrics>,
    stop: watch::Receiver<bool>,
) -> Result<(), StartError> {
    let listener = tokio::net::TcpListener::bind(serving.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: serving.listen,
            source,
        })?;
    let bound = listener.local_addr().map_err(StartError::LocalAddr)?;
    if let Some(path) = &serving.addr_file {
        // Write then rename, so a watcher never reads a half-written address.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bound.to_string())
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|source| StartError::AddrFile {
                path: path.clone(),
                source,
            })?;
    }
    let admission = Arc::new(Admission::new(&serving.edge));
    register_admission(metrics, &admission);
    tracing::info!(listen = %bound, enclave, pccs = %serving.pccs_url, "host proxy serving");
    edge::serve_admitted(
        listener,
        instrument(app(AppState { link, collateral }), Arc::clone(metrics)),
        &serving.edge,
        admission,
        stopped(stop),
    )
    .await
    .map_err(StartError::Serve)
}

fn register_admission(metrics: &HostMetrics, admission: &Arc<Admission>) {
    let counters: [Counter<AdmissionStatsSnapshot>; 3] = [
        (
            "cloister_host_refused_client_limit",
            "Requests refused because their client held its share (429).",
            |s| s.client_limit,
        ),
        (
            "cloister_host_refused_overloaded",
            "Requests refused because the enclave's queue was full (503).",
            |s| s.overloaded,
        ),
        (
            "cloister_host_queue_timeouts",
            "Requests that waited the whole queue timeout (503).",
            |s| s.queue_timeouts,
        ),
    ];
    for (name, help, read) in counters {
        let admission = Arc::clone(admission);
        metrics.register_snapshot(name, help, move || read(&admission.stats()));
    }
    let depth = Arc::clone(admission);
    metrics.register_gauge_snapshot(
        "cloister_host_queue_depth",
        "Admitted requests waiting for a turn at the enclave.",
        move || u64::try_from(depth.waiting()).unwrap_or(u64::MAX),
    );
}

/// Watches SIGTERM and SIGINT from now on: the returned receiver turns `true` at the first.
/// Registered before anything starts, so a signal that comes while the enclave starts is not the
/// default action (which would kill the host mid-start and orphan the enclave).
fn watch_shutdown_signals() -> watch::Receiver<bool> {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, rx) = watch::channel(false);
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    tokio::spawn(async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            (term, int) => {
                let e = term.err().or(int.err()).map(|e| e.to_string());
                tracing::warn!(
                    error = e,
                    "cannot watch SIGTERM and SIGINT; only SIGINT stops the host"
                );
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        tracing::info!("shutting down: draining requests in flight");
        tx.send_replace(true);
    });
    rx
}

/// Completes once [`watch_shutdown_signals`] has seen a signal.
async fn stopped(mut stop: watch::Receiver<bool>) {
    // An error means the watcher is gone, which it never is while the runtime runs.
    let _ = stop.wait_for(|stop| *stop).await;
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command};

    #[test]
    fn relay_needs_an_allowlist() {
        let base = ["cloister-host", "--enclave", "unix:/tmp/e.sock"];
        let relay = ["--relay", "unix:/tmp/r.sock=kms.example.com:443"];
        let err = Cli::try_parse_from(base.iter().chain(&relay)).expect_err("no allowlist");
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let args = Cli::try_parse_from(
            base.iter()
                .chain(&relay)
                .chain(&relay)
                .chain(&["--relay-allowlist", "/etc/a.yaml"]),
        )
        .expect("parses");
        assert_eq!(args.args.relays.len(), 2);
        assert!(Cli::try_parse_from(base.iter().chain(&["--relay", "kms:443"])).is_err());
    }

    #[test]
    fn run_takes_a_config_and_no_serving_flags() {
        let cli = Cli::try_parse_from(["cloister-host", "run", "--config", "/etc/host.json"])
            .expect("parses without --enclave");
        assert!(matches!(cli.command, Some(Command::Run { .. })));
        assert!(
            Cli::try_parse_from(["cloister-host"]).is_err(),
            "--enclave or run"
        );
        assert!(
            Cli::try_parse_from([
                "cloister-host",
                "--enclave",
                "unix:/e.sock",
                "run",
                "--config",
                "/h.json"
            ])
            .is_err()
        );
    }

    #[test]
    fn model_store_flag() {
        let args = Cli::try_parse_from([
            "cloister-host",
            "--enclave",
            "unix:/tmp/e.sock",
            "--model-store",
            "unix:/tmp/m.sock=/var/models",
        ])
        .expect("parses");
        let spec = args.args.model_store.expect("given");
        assert_eq!(spec.dir(), std::path::Path::new("/var/models"));
        assert!(
            Cli::try_parse_from([
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

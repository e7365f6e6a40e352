//! The enclave's lifecycle: start it, wait until it is ready, restart it when it exits, drain
//! and stop it at shutdown.
//!
//! - **Start.** The mock enclave is a child process ([`config::EnclaveSpec::Mock`]); a Nitro
//!   enclave is started with `nitro-cli run-enclave` and stopped with `nitro-cli
//!   terminate-enclave` ([`launch`]).
//! - **Ready** means the link connects and the enclave answers an attestation request for a
//!   fresh nonce with evidence for that nonce, within `ready_timeout_ms`. A first start that
//!   fails is an error of [`Supervisor::start`]: it is most likely the configuration.
//! - **Restart.** When the enclave exits, the link is suspended (requests fail at once with a
//!   503-class error instead of waiting), and the enclave is started again after an
//!   exponential backoff with jitter ([`config::RestartPolicy`]), which starts over once an
//!   enclave has run `stable_after_ms`. Failed restarts are retried the same way, forever: a
//!   host without an enclave can only answer 503, and says so in its log and counters.
//! - **Drain.** [`Supervisor::shutdown`] refuses new requests, waits up to `drain_timeout_ms`
//!   for those in flight, then stops the enclave.
//!
//! ```no_run
//! # async fn run() -> Result<(), cloister_host::supervisor::SupervisorError> {
//! use cloister_host::supervisor::{Supervisor, config::SupervisorConfig};
//!
//! let config = SupervisorConfig::load("/etc/cloister/host.json".as_ref())?;
//! let supervisor = Supervisor::start(config).await?;
//! let link = supervisor.link().clone(); // serve callers with it (api::AppState)
//! # drop(link);
//! tokio::signal::ctrl_c().await.ok();
//! let report = supervisor.shutdown().await?;
//! tracing::info!(abandoned = report.abandoned, "stopped");
//! # Ok(()) }
//! ```

pub mod backoff;
pub mod config;
mod error;
pub mod launch;
mod stats;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cloister_proto::Message;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use error::SupervisorError;
pub use stats::{SupervisorStats, SupervisorStatsSnapshot};

use backoff::{Backoff, random_u64};
use config::{ConfigError, SupervisorConfig};
use launch::{Running, launch};
use stats::bump;

use crate::link::EnclaveLink;

/// Longest pause between readiness probes.
const MAX_PROBE_PAUSE: Duration = Duration::from_millis(500);

/// Where the enclave is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EnclaveState {
    /// Being started, not yet ready.
    Starting,
    /// Answering.
    Ready,
    /// Exited; waiting out the backoff before the next start.
    Restarting,
    /// Shutting down: no new requests, waiting for those in flight.
    Draining,
    /// Stopped.
    Stopped,
}

/// Whether a launch is the first or a restart (for the counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    First,
    Restart,
}

/// What [`Supervisor::shutdown`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Requests still in flight when the drain deadline passed (0: all finished).
    pub abandoned: u64,
    /// How long the drain took.
    pub drained_in: Duration,
}

/// Runs one enclave for the host's lifetime. Dropping it without [`Supervisor::shutdown`]
/// still stops the enclave (without draining).
pub struct Supervisor {
    ctx: Arc<Ctx>,
    shutdown: watch::Sender<bool>,
    monitor: Option<JoinHandle<Result<(), SupervisorError>>>,
}

/// What the supervising task shares with the handle.
struct Ctx {
    config: SupervisorConfig,
    link: Arc<EnclaveLink>,
    stats: Arc<SupervisorStats>,
    state: watch::Sender<EnclaveState>,
    pid: AtomicU32,
}

impl Supervisor {
    /// Starts the enclave, waits until it is ready, and from then on restarts it when it exits.
    ///
    /// # Errors
    /// [`SupervisorError::Config`] for an unusable configuration; a launch error
    /// ([`SupervisorError::Spawn`], [`SupervisorError::NitroCli`], ...);
    /// [`SupervisorError::ExitedBeforeReady`] or [`SupervisorError::NotReady`]. The enclave is
    /// stopped before the error is returned.
    pub async fn start(config: SupervisorConfig) -> Result<Self, SupervisorError> {
        config.validate()?;
        let link = EnclaveLink::with_config(config.address.clone(), config.link.clone())
            .map_err(ConfigError::Link)?;
        let ctx = Arc::new(Ctx {
            config,
            link: Arc::new(link),
            stats: Arc::default(),
            state: watch::Sender::new(EnclaveState::Starting),
            pid: AtomicU32::new(0),
        });
        let (shutdown, mut shutdown_rx) = watch::channel(false);
        let running = ctx.launch_ready(&mut shutdown_rx, Start::First).await?;
        let monitor = tokio::spawn(monitor(Arc::clone(&ctx), running, shutdown_rx));
        Ok(Self {
            ctx,
            shutdown,
            monitor: Some(monitor),
        })
    }

    /// The link to the enclave, for the HTTP API.
    pub fn link(&self) -> &Arc<EnclaveLink> {
        &self.ctx.link
    }

    /// The lifecycle counters (shared: a metrics module may keep the `Arc`).
    pub fn stats(&self) -> &Arc<SupervisorStats> {
        &self.ctx.stats
    }

    /// The configuration.
    pub fn config(&self) -> &SupervisorConfig {
        &self.ctx.config
    }

    /// The enclave's state now.
    pub fn state(&self) -> EnclaveState {
        *self.ctx.state.borrow()
    }

    /// Follows the enclave's state (e.g. for a readiness endpoint, or to log transitions).
    pub fn subscribe(&self) -> watch::Receiver<EnclaveState> {
        self.ctx.state.subscribe()
    }

    /// The mock enclave's process id while it runs (`None` for Nitro, or between runs).
    pub fn enclave_pid(&self) -> Option<u32> {
        Some(self.ctx.pid.load(Ordering::SeqCst)).filter(|pid| *pid != 0)
    }

    /// Drains and stops: new requests fail with [`crate::error::HostError::Draining`],
    /// those in flight get up to `drain_timeout_ms`, then the enclave is stopped (`nitro-cli
    /// terminate-enclave` for Nitro).
    ///
    /// # Errors
    /// Stopping the enclave failed ([`SupervisorError::Stop`], a `nitro-cli` error), or the
    /// supervising task failed ([`SupervisorError::Monitor`]).
    pub async fn shutdown(mut self) -> Result<ShutdownReport, SupervisorError> {
        let started = Instant::now();
        self.ctx.set_state(EnclaveState::Draining);
        let abandoned = self
            .ctx
            .link
            .drain(started + self.ctx.config.drain_timeout())
            .await;
        let drained_in = started.elapsed();
        if abandoned > 0 {
            tracing::warn!(
                abandoned,
                "drain deadline passed with requests in flight; stopping the enclave"
            );
        }
        self.shutdown.send_replace(true);
        if let Some(monitor) = self.monitor.take() {
            monitor.await.map_err(|_| SupervisorError::Monitor)??;
        }
        Ok(ShutdownReport {
            abandoned,
            drained_in,
        })
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        // The supervising task stops the enclave; if the runtime is gone too, the mock process
        // is killed when its handle drops.
        self.shutdown.send_replace(true);
    }
}

impl Ctx {
    fn set_state(&self, state: EnclaveState) {
        self.state.send_replace(state);
    }

    /// Launches the enclave and waits until it is ready, it exits, or shutdown is asked for.
    /// On failure the enclave is stopped and the link suspended.
    async fn launch_ready(
        &self,
        shutdown: &mut watch::Receiver<bool>,
        start: Start,
    ) -> Result<Running, SupervisorError> {
        self.set_state(EnclaveState::Starting);
        let ready_timeout = self.config.ready_timeout();
        let mut running = launch(&self.config.enclave, &self.config.address, ready_timeout).await?;
        bump(&self.stats.launches);
        self.pid.store(running.pid().unwrap_or(0), Ordering::SeqCst);
        let deadline = Instant::now() + ready_timeout;
        let outcome = tokio::select! {
            ready = wait_ready(&self.link, deadline) => ready,
            how = running.exited() => Err(SupervisorError::ExitedBeforeReady { how }),
            _ = shutdown.wait_for(|stop| *stop) => Err(SupervisorError::ShuttingDown),
        };
        match outcome {
            Ok(()) => {
                // Counted before the state changes, so whoever sees `Ready` sees the count.
                if start == Start::Restart {
                    bump(&self.stats.restarts);
                }
                self.set_state(EnclaveState::Ready);
                tracing::info!(enclave = %self.config.address, "the enclave is ready");
                Ok(running)
            }
            Err(e) => {
                self.link.suspend();
                self.pid.store(0, Ordering::SeqCst);
                if let Err(stop) = running.stop().await {
                    tracing::warn!(code = stop.code(), error = %stop, "stopping the enclave that failed to start");
                }
                Err(e)
            }
        }
    }

    /// Stops the enclave for good.
    async fn stop(&self, running: Running) -> Result<(), SupervisorError> {
        let stopped = running.stop().await;
        self.link.close();
        self.pid.store(0, Ordering::SeqCst);
        self.set_state(EnclaveState::Stopped);
        stopped
    }
}

/// Watches the running enclave and restarts it when it exits, until shutdown.
async fn monitor(
    ctx: Arc<Ctx>,
    mut running: Running,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), SupervisorError> {
    let policy = &ctx.config.restart;
    let mut backoff = Backoff::new(policy.backoff());
    let mut up_since = Instant::now();
    loop {
        let exited = tokio::select! {
            how = running.exited() => Some(how),
            _ = shutdown.wait_for(|stop| *stop) => None,
        };
        let Some(how) = exited else {
            return ctx.stop(running).await;
        };
        bump(&ctx.stats.exits);
        ctx.link.suspend();
        ctx.pid.store(0, Ordering::SeqCst);
        ctx.set_state(EnclaveState::Restarting);
        let ran = up_since.elapsed();
        if ran >= policy.stable_after() {
            backoff.reset();
        }
        tracing::warn!(how = %how, ran_ms = ran.as_millis() as u64, "the enclave exited");
        running = loop {
            let delay = backoff.next_delay();
            tracing::info!(
                delay_ms = delay.as_millis() as u64,
                attempt = backoff.failures(),
                "restarting the enclave after a backoff"
            );
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = shutdown.wait_for(|stop| *stop) => {
                    ctx.set_state(EnclaveState::Stopped);
                    return Ok(());
                }
            }
            match ctx.launch_ready(&mut shutdown, Start::Restart).await {
                Ok(running) => break running,
                Err(SupervisorError::ShuttingDown) => {
                    ctx.set_state(EnclaveState::Stopped);
                    return Ok(());
                }
                Err(e) => {
                    bump(&ctx.stats.failed_starts);
                    ctx.set_state(EnclaveState::Restarting);
                    tracing::warn!(code = e.code(), error = %e, "restarting the enclave failed");
                }
            }
        };
        up_since = Instant::now();
    }
}

/// Probes until the enclave answers an attestation request for a fresh nonce, or `deadline`.
async fn wait_ready(link: &EnclaveLink, deadline: Instant) -> Result<(), SupervisorError> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(20);
    loop {
        let last = match probe(link, deadline).await {
            Ok(()) => return Ok(()),
            Err(code) => code,
        };
        if Instant::now() + pause >= deadline {
            return Err(SupervisorError::NotReady {
                millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                last,
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_PROBE_PAUSE);
    }
}

/// One readiness probe; the failure's code if it failed.
async fn probe(link: &EnclaveLink, deadline: Instant) -> Result<(), String> {
    link.connect_now().await.map_err(|e| e.code().to_string())?;
    // Not a secret: it only has to differ per probe, so the evidence cannot be an old answer.
    let nonce: Vec<u8> = (0..4).flat_map(|_| random_u64().to_be_bytes()).collect();
    let attest = Message::AttestRequest {
        nonce: nonce.clone(),
    };
    match link.request_with_deadline(attest, deadline).await {
        Ok(Message::Evidence(bundle)) if bundle.nonce == nonce => Ok(()),
        Ok(Message::Evidence(_)) => Err("supervisor.probe_nonce_mismatch".into()),
        Ok(Message::Error(e)) => Err(e.code),
        Ok(_) => Err("host.unexpected_answer".into()),
        Err(e) => Err(e.code().to_string()),
    }
}

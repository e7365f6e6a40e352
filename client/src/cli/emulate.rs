//! `cloister emulate run IMAGE.eif --cid N`: boot a Nitro enclave image in a local microVM with
//! an emulated NSM (the `cloister_client::emulate` module). Its evidence is mock evidence.

use std::path::PathBuf;
use std::time::Duration;

use cloister_client::emulate::vm::{Accel, EmulateConfig};

use super::Outcome;

/// `cloister emulate` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum EmulateCommand {
    /// Boot IMAGE.eif in a QEMU microVM with real virtio vsock and an emulated NSM that signs
    /// documents carrying the image's PCRs with the mock CA. Runs until the VM stops or the
    /// emulator gets SIGINT/SIGTERM. Front it with
    /// `cloister-host --enclave hybrid-vsock:///DIR/vsock.sock:PORT`.
    Run(RunArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// The enclave image.
    image: PathBuf,
    /// The guest's vsock CID (3 or more).
    #[arg(long)]
    cid: u32,
    /// Mock CA directory (`cloister mock init DIR`) whose intermediate signs the documents.
    #[arg(long, value_name = "DIR")]
    mock_ca: PathBuf,
    /// Work directory: extracted kernel and initrd, sockets (vsock.sock, vsock.sock_PORT),
    /// console.log, qemu.pid, ready.
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// Guest memory in MiB.
    #[arg(long, default_value_t = 512)]
    memory_mib: u32,
    /// Guest vCPUs.
    #[arg(long, default_value_t = 1)]
    cpus: u32,
    /// The host vsock port the guest asks the NSM on (the image's --nsm-vsock-port).
    #[arg(long, default_value_t = 9000)]
    nsm_port: u32,
    /// Report ready (DIR/ready, milliseconds since launch) once the enclave answers on this
    /// guest vsock port.
    #[arg(long, value_name = "PORT")]
    wait_port: Option<u32>,
    /// Seconds the enclave may take to answer on --wait-port.
    #[arg(long, default_value_t = 120)]
    boot_timeout_secs: u64,
    /// CPU acceleration: auto tries KVM and falls back to TCG when the guest does not reach
    /// its init within --kvm-probe-ms.
    #[arg(long, value_enum, default_value = "auto")]
    accel: AccelArg,
    /// Milliseconds a KVM guest gets to reach its init (with --accel auto).
    #[arg(long, default_value_t = 5000)]
    kvm_probe_ms: u64,
    /// The QEMU binary.
    #[arg(long, default_value = "qemu-system-x86_64")]
    qemu: PathBuf,
    /// The vhost-device-vsock binary (it is given only --guest-cid, --socket, --uds-path).
    #[arg(long, default_value = "vhost-device-vsock")]
    vhost_device_vsock: PathBuf,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum AccelArg {
    Auto,
    Kvm,
    Tcg,
}

/// Runs one `cloister emulate` subcommand.
pub(crate) fn run(cmd: EmulateCommand) -> Outcome {
    let EmulateCommand::Run(a) = cmd;
    let cfg = EmulateConfig {
        image: a.image,
        cid: a.cid,
        mock_ca: a.mock_ca,
        dir: a.dir,
        memory_mib: a.memory_mib,
        cpus: a.cpus,
        nsm_port: a.nsm_port,
        wait_port: a.wait_port,
        boot_timeout: Duration::from_secs(a.boot_timeout_secs),
        accel: match a.accel {
            AccelArg::Auto => Accel::Auto,
            AccelArg::Kvm => Accel::Kvm,
            AccelArg::Tcg => Accel::Tcg,
        },
        kvm_probe: Duration::from_millis(a.kvm_probe_ms),
        qemu: a.qemu,
        vhost_device_vsock: a.vhost_device_vsock,
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cloister emulate run: starting the async runtime: {e}");
            return Outcome::Error;
        }
    };
    match rt.block_on(cloister_client::emulate::vm::run(&cfg)) {
        Ok(()) => Outcome::Ok,
        Err(e) => {
            eprintln!("cloister emulate run: error [{}]: {e}", e.code());
            eprintln!("  hint: {}", e.hint());
            Outcome::Error
        }
    }
}

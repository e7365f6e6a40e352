//! `cloister emulate run`: boots a Nitro enclave image (EIF) in a local QEMU microVM, with real
//! virtio vsock (`vhost-device-vsock`, hybrid-vsock Unix sockets on the host side) and an
//! emulated NSM whose documents carry the image's true PCR0/1/2, signed by a **mock** root.
//!
//! Layout of the work directory:
//!
//! | file | what |
//! |---|---|
//! | `kernel`, `initrd` | the image's kernel and its ramdisks, concatenated (cpio archives concatenate) |
//! | `vhost.sock` | the vhost-user socket between QEMU and `vhost-device-vsock` |
//! | `vsock.sock` | hybrid vsock: the host connects here and sends `CONNECT <port>\n` |
//! | `vsock.sock_<P>` | where the guest's connections to the host's port P arrive; the emulator listens on the NSM's, the host on its relay's and model store's |
//! | `console.log` | the guest's serial console (the enclave logs no secrets) |
//! | `qemu.pid`, `ready` | QEMU's pid; milliseconds from launch to the enclave's port answering |
//!
//! Never `--forward-cid`: that would carry the guest's connections to this machine's own vsock.
//! Nothing here opens AF_VSOCK.

pub mod nsm;
pub mod vm;

use std::path::PathBuf;

use thiserror::Error;

/// Why the emulator could not boot or keep the VM.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EmulateError {
    /// The image could not be read or is not a valid EIF.
    #[error("the image {}: {source} [{code}]", path.display(), code = source.code())]
    Image {
        /// The image.
        path: PathBuf,
        /// Its error.
        #[source]
        source: cloister_eif::EifError,
    },
    /// The mock CA directory could not be loaded, or the mock NSM booted.
    #[error("the mock CA {}: {source} [{code}]", dir.display(), code = source.code())]
    MockCa {
        /// The directory.
        dir: PathBuf,
        /// The attestation crate's error.
        #[source]
        source: Box<cloister_attestation::AttestationError>,
    },
    /// A file or socket of the work directory could not be made.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// QEMU or vhost-device-vsock could not be started.
    #[error("starting {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// vhost-device-vsock did not create its socket in time.
    #[error("vhost-device-vsock did not create {} within {secs} s", path.display())]
    BackendNotReady {
        /// The socket.
        path: PathBuf,
        /// How long it was given.
        secs: u64,
    },
    /// The VM stopped before it was ready, or with a failure status.
    #[error("the VM stopped ({status}); see {}", console.display())]
    VmExited {
        /// QEMU's exit status.
        status: String,
        /// The guest's console log.
        console: PathBuf,
    },
    /// The guest's port did not answer in time.
    #[error("the enclave did not answer on vsock port {port} within {secs} s; see {}", console.display())]
    BootTimeout {
        /// The port.
        port: u32,
        /// How long it was given.
        secs: u64,
        /// The guest's console log.
        console: PathBuf,
    },
    /// An argument is out of range.
    #[error("{0}")]
    Usage(String),
}

impl EmulateError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Image { .. } => "emulate.image",
            Self::MockCa { .. } => "emulate.mock_ca",
            Self::Io { .. } => "emulate.io",
            Self::Spawn { .. } => "emulate.spawn",
            Self::BackendNotReady { .. } => "emulate.backend_not_ready",
            Self::VmExited { .. } => "emulate.vm_exited",
            Self::BootTimeout { .. } => "emulate.boot_timeout",
            Self::Usage(_) => "emulate.usage",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Image { .. } => "check the file: build it with scripts/vm/build-image.sh",
            Self::MockCa { .. } => "run `cloister mock init DIR` and pass --mock-ca DIR",
            Self::Io { .. } => "check that the work directory is writable",
            Self::Spawn { .. } | Self::BackendNotReady { .. } => {
                "install QEMU (apt-get install qemu-system-x86) and vhost-device-vsock \
                 (cargo install --locked vhost-device-vsock), or name them with --qemu and \
                 --vhost-device-vsock"
            }
            Self::VmExited { .. } | Self::BootTimeout { .. } => {
                "read the console log: the enclave prints why it stopped (a refused key \
                 release, a missing host socket)"
            }
            Self::Usage(_) => "see cloister emulate run --help",
        }
    }
}

//! Extracts an image, starts `vhost-device-vsock` and QEMU's `microvm`, serves the emulated NSM,
//! and keeps the VM until it stops or the emulator is told to stop.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cloister_attestation::UnixTime;
use cloister_attestation::mock::{MockIntermediate, MockNsm};
use cloister_eif::section::SectionKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::process::{Child, Command};

use super::EmulateError;

/// How the guest's CPU is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// KVM if `/dev/kvm` opens and the guest reaches its init in time, else TCG.
    Auto,
    /// KVM only.
    Kvm,
    /// TCG (software emulation) only.
    Tcg,
}

/// What `cloister emulate run` was asked to do.
#[derive(Debug, Clone)]
pub struct EmulateConfig {
    /// The EIF.
    pub image: PathBuf,
    /// The guest's vsock CID (3 or more).
    pub cid: u32,
    /// The mock CA directory (`cloister mock init`) whose intermediate signs the documents.
    pub mock_ca: PathBuf,
    /// The work directory (created; see the module docs for its files).
    pub dir: PathBuf,
    /// Guest memory, MiB.
    pub memory_mib: u32,
    /// Guest vCPUs.
    pub cpus: u32,
    /// The host vsock port the guest asks the NSM on.
    pub nsm_port: u32,
    /// Wait for the enclave to answer on this guest port before reporting ready.
    pub wait_port: Option<u32>,
    /// How long the enclave may take to answer on `wait_port`.
    pub boot_timeout: Duration,
    /// CPU acceleration.
    pub accel: Accel,
    /// How long a KVM guest may take to reach its init before `Auto` falls back to TCG.
    pub kvm_probe: Duration,
    /// The QEMU binary.
    pub qemu: PathBuf,
    /// The vhost-device-vsock binary.
    pub vhost_device_vsock: PathBuf,
}

/// What the image holds that the emulator needs.
#[derive(Debug)]
pub struct Extracted {
    /// The image's PCRs.
    pub pcrs: cloister_eif::Pcrs,
    /// Its kernel command line.
    pub cmdline: String,
    /// The kernel file written.
    pub kernel: PathBuf,
    /// The ramdisks, concatenated.
    pub initrd: PathBuf,
}

/// The line the image's init prints once it runs (scripts/vm/build-image.sh).
const INIT_MARKER: &str = "init: ";

/// Writes the kernel and the concatenated ramdisks of `image` into `dir` and measures it.
///
/// # Errors
/// [`EmulateError::Image`] for an unreadable or invalid image, [`EmulateError::Io`].
pub fn extract(image: &Path, dir: &Path) -> Result<Extracted, EmulateError> {
    let io = |what: String| move |source| EmulateError::Io { what, source };
    let kernel = dir.join("kernel");
    let initrd = dir.join("initrd");
    let mut k = BufWriter::new(
        File::create(&kernel).map_err(io(format!("creating {}", kernel.display())))?,
    );
    let mut r = BufWriter::new(
        File::create(&initrd).map_err(io(format!("creating {}", initrd.display())))?,
    );
    let mut cmdline = Vec::new();
    let f = File::open(image).map_err(io(format!("opening {}", image.display())))?;
    let len = f.metadata().map(|m| m.len()).ok();
    let inspection = cloister_eif::inspect(f, len, |info, data| {
        match info.header.kind {
            SectionKind::Kernel => k.write_all(data)?,
            SectionKind::Ramdisk => r.write_all(data)?,
            SectionKind::Cmdline => cmdline.extend_from_slice(data),
            SectionKind::Metadata | SectionKind::Signature => {}
        }
        Ok(())
    })
    .map_err(|source| EmulateError::Image {
        path: image.to_owned(),
        source,
    })?;
    k.flush()
        .map_err(io(format!("writing {}", kernel.display())))?;
    r.flush()
        .map_err(io(format!("writing {}", initrd.display())))?;
    let cmdline = String::from_utf8(cmdline)
        .map_err(|_| EmulateError::Usage("the image's command line is not UTF-8".into()))?;
    Ok(Extracted {
        pcrs: *inspection.pcrs(),
        cmdline: cmdline.trim_end_matches('\0').to_owned(),
        kernel,
        initrd,
    })
}

/// Boots a mock NSM from `ca_dir` that reports `pcrs` (PCR0/1/2, and PCR8 of a signed image).
///
/// # Errors
/// [`EmulateError::MockCa`].
pub fn boot_nsm(
    ca_dir: &Path,
    pcrs: &cloister_eif::Pcrs,
    cid: u32,
) -> Result<MockNsm, EmulateError> {
    let err = |e| EmulateError::MockCa {
        dir: ca_dir.to_owned(),
        source: Box::new(e),
    };
    let ca = MockIntermediate::load_dir(ca_dir).map_err(err)?;
    let mut map = BTreeMap::from([(0u16, pcrs.pcr0), (1, pcrs.pcr1), (2, pcrs.pcr2)]);
    if let Some(p8) = pcrs.pcr8 {
        map.insert(8, p8);
    }
    let now = UnixTime::now();
    let module_id = format!("mock-emulated-cid{cid}-enc{:016x}", now.as_secs());
    MockNsm::boot(&ca, map, module_id, now).map_err(err)
}

/// The Unix socket where guest connections to the host's `port` arrive.
pub fn guest_port_path(uds: &Path, port: u32) -> PathBuf {
    let mut s = uds.as_os_str().to_os_string();
    s.push(format!("_{port}"));
    PathBuf::from(s)
}

/// Whether the guest answers on `port`: a hybrid-vsock `CONNECT` that gets `OK`.
pub async fn guest_answers(uds: &Path, port: u32) -> bool {
    let attempt = async {
        let mut s = UnixStream::connect(uds).await.ok()?;
        s.write_all(format!("CONNECT {port}\n").as_bytes())
            .await
            .ok()?;
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while line.len() < 64 {
            if s.read(&mut byte).await.ok()? == 0 {
                return None;
            }
            if byte[0] == b'\n' {
                break;
            }
            line.extend_from_slice(&byte);
        }
        Some(line.starts_with(b"OK "))
    };
    tokio::time::timeout(Duration::from_secs(3), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// The running VM: QEMU and its vsock backend. Both are killed on drop.
struct Vm {
    qemu: Child,
    vhost: Child,
}

impl Vm {
    async fn stop(&mut self) {
        let _ = self.qemu.kill().await;
        let _ = self.vhost.kill().await;
    }
}

fn remove_stale(path: &Path) -> Result<(), EmulateError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(EmulateError::Io {
            what: format!("removing the stale {}", path.display()),
            source,
        }),
    }
}

fn kvm_usable() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

/// Starts vhost-device-vsock then QEMU with `accel`.
async fn launch(cfg: &EmulateConfig, x: &Extracted, accel: &str) -> Result<Vm, EmulateError> {
    let vhost_sock = cfg.dir.join("vhost.sock");
    let uds = cfg.dir.join("vsock.sock");
    remove_stale(&vhost_sock)?;
    remove_stale(&uds)?;
    let log = |name: &str| -> Result<Stdio, EmulateError> {
        let path = cfg.dir.join(name);
        File::options()
            .create(true)
            .append(true)
            .open(&path)
            .map(Stdio::from)
            .map_err(|source| EmulateError::Io {
                what: format!("opening {}", path.display()),
                source,
            })
    };
    // Only these three options: never --forward-cid (it would reach this machine's vsock).
    let vhost = Command::new(&cfg.vhost_device_vsock)
        .arg("--guest-cid")
        .arg(cfg.cid.to_string())
        .arg("--socket")
        .arg(&vhost_sock)
        .arg("--uds-path")
        .arg(&uds)
        .stdin(Stdio::null())
        .stdout(log("vhost.log")?)
        .stderr(log("vhost.log")?)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| EmulateError::Spawn {
            program: cfg.vhost_device_vsock.display().to_string(),
            source,
        })?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !vhost_sock.exists() {
        if Instant::now() > deadline {
            return Err(EmulateError::BackendNotReady {
                path: vhost_sock,
                secs: 10,
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let console = cfg.dir.join("console.log");
    remove_stale(&console)?;
    let mem = format!("{}M", cfg.memory_mib);
    let qemu = Command::new(&cfg.qemu)
        .args([
            "-M",
            "microvm,acpi=on,pit=on,pic=on,rtc=on,memory-backend=mem",
        ])
        .args([
            "-accel",
            accel,
            "-cpu",
            "max",
            "-smp",
            &cfg.cpus.to_string(),
            "-m",
            &mem,
        ])
        .arg("-object")
        .arg(format!("memory-backend-memfd,id=mem,size={mem},share=on"))
        .arg("-chardev")
        .arg(format!("socket,id=vsock0,path={}", vhost_sock.display()))
        .args(["-device", "vhost-user-vsock-device,chardev=vsock0"])
        .arg("-kernel")
        .arg(&x.kernel)
        .arg("-initrd")
        .arg(&x.initrd)
        .arg("-append")
        .arg(&x.cmdline)
        .args(["-nodefaults", "-no-user-config", "-nographic", "-no-reboot"])
        .arg("-serial")
        .arg(format!("file:{}", console.display()))
        .stdin(Stdio::null())
        .stdout(log("qemu.log")?)
        .stderr(log("qemu.log")?)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| EmulateError::Spawn {
            program: cfg.qemu.display().to_string(),
            source,
        })?;
    if let Some(pid) = qemu.id() {
        let path = cfg.dir.join("qemu.pid");
        std::fs::write(&path, pid.to_string()).map_err(|source| EmulateError::Io {
            what: format!("writing {}", path.display()),
            source,
        })?;
    }
    Ok(Vm { qemu, vhost })
}

fn console_shows_init(dir: &Path) -> bool {
    std::fs::read(dir.join("console.log"))
        .map(|b| String::from_utf8_lossy(&b).contains(INIT_MARKER))
        .unwrap_or(false)
}

/// Boots `cfg.image` and runs it until QEMU exits (`Ok` if it powered off cleanly) or the
/// emulator gets SIGINT or SIGTERM (`Ok`, after stopping QEMU and the backend).
///
/// # Errors
/// Any [`EmulateError`].
pub async fn run(cfg: &EmulateConfig) -> Result<(), EmulateError> {
    if cfg.cid < 3 {
        return Err(EmulateError::Usage(format!(
            "--cid {}: CIDs 0-2 are reserved; a guest's CID is 3 or more",
            cfg.cid
        )));
    }
    std::fs::create_dir_all(&cfg.dir).map_err(|source| EmulateError::Io {
        what: format!("creating {}", cfg.dir.display()),
        source,
    })?;
    let x = extract(&cfg.image, &cfg.dir)?;
    let nsm = Arc::new(boot_nsm(&cfg.mock_ca, &x.pcrs, cfg.cid)?);
    eprintln!(
        "cloister emulate: image {} PCR0 {}",
        cfg.image.display(),
        hex::encode(x.pcrs.pcr0)
    );
    let uds = cfg.dir.join("vsock.sock");
    let nsm_path = guest_port_path(&uds, cfg.nsm_port);
    remove_stale(&nsm_path)?;
    remove_stale(&cfg.dir.join("ready"))?;
    let listener = UnixListener::bind(&nsm_path).map_err(|source| EmulateError::Io {
        what: format!("binding {}", nsm_path.display()),
        source,
    })?;
    let nsm_task = tokio::spawn(super::nsm::serve(listener, nsm));
    let result = supervise(cfg, &x, &uds).await;
    nsm_task.abort();
    let _ = std::fs::remove_file(&nsm_path);
    result
}

async fn supervise(cfg: &EmulateConfig, x: &Extracted, uds: &Path) -> Result<(), EmulateError> {
    let console = cfg.dir.join("console.log");
    let started = Instant::now();
    let mut vm = match cfg.accel {
        Accel::Tcg => launch(cfg, x, "tcg").await?,
        Accel::Kvm => launch(cfg, x, "kvm").await?,
        Accel::Auto if !kvm_usable() => launch(cfg, x, "tcg").await?,
        Accel::Auto => {
            let mut vm = launch(cfg, x, "kvm").await?;
            let deadline = Instant::now() + cfg.kvm_probe;
            let mut booted = false;
            while Instant::now() < deadline {
                if console_shows_init(&cfg.dir) {
                    booted = true;
                    break;
                }
                if matches!(vm.qemu.try_wait(), Ok(Some(_))) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if booted {
                eprintln!("cloister emulate: accel kvm");
                vm
            } else {
                eprintln!(
                    "cloister emulate: KVM did not boot the guest within {} ms; falling back to TCG",
                    cfg.kvm_probe.as_millis()
                );
                vm.stop().await;
                launch(cfg, x, "tcg").await?
            }
        }
    };
    let launched = Instant::now();
    eprintln!(
        "cloister emulate: VM started (cid {}, hybrid vsock {})",
        cfg.cid,
        uds.display()
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|source| EmulateError::Io {
            what: "installing the SIGTERM handler".into(),
            source,
        })?;
    let mut ready = cfg.wait_port.is_none();
    let mut poll = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            status = vm.qemu.wait() => {
                let _ = vm.vhost.kill().await;
                let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                eprintln!("cloister emulate: the VM stopped ({status})");
                return Err(EmulateError::VmExited { status, console });
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = poll.tick(), if !ready => {
                let Some(port) = cfg.wait_port else { continue };
                if guest_answers(uds, port).await {
                    ready = true;
                    let ms = launched.elapsed().as_millis();
                    eprintln!(
                        "cloister emulate: ready: the enclave answers on vsock port {port} \
                         {ms} ms after launch ({} ms with the KVM probe)",
                        started.elapsed().as_millis()
                    );
                    let path = cfg.dir.join("ready");
                    std::fs::write(&path, ms.to_string()).map_err(|source| EmulateError::Io {
                        what: format!("writing {}", path.display()),
                        source,
                    })?;
                } else if launched.elapsed() > cfg.boot_timeout {
                    vm.stop().await;
                    return Err(EmulateError::BootTimeout {
                        port,
                        secs: cfg.boot_timeout.as_secs(),
                        console,
                    });
                }
            }
        }
    }
    eprintln!("cloister emulate: stopping the VM");
    vm.stop().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_port_paths_append_the_port() {
        assert_eq!(
            guest_port_path(Path::new("/w/vsock.sock"), 9000),
            PathBuf::from("/w/vsock.sock_9000")
        );
    }

    #[test]
    fn extract_concatenates_the_ramdisks_and_measures() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/eif");
        let dir = tempfile::tempdir().expect("tempdir");
        let x = extract(&fixtures.join("signed.eif"), dir.path()).expect("extract");
        assert_eq!(x.cmdline, "console=ttyS0 reboot=k panic=30");
        let mut both = std::fs::read(fixtures.join("ramdisk_bootstrap.bin")).expect("boot");
        both.extend(std::fs::read(fixtures.join("ramdisk_app.bin")).expect("app"));
        assert_eq!(std::fs::read(&x.initrd).expect("initrd"), both);
        let image = cloister_eif::inspect_file(&fixtures.join("signed.eif")).expect("inspect");
        assert_eq!(x.pcrs.pcr0, image.pcrs().pcr0);
        assert!(x.pcrs.pcr8.is_some());
    }

    #[tokio::test]
    async fn an_unknown_cid_or_a_missing_image_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = EmulateConfig {
            image: dir.path().join("absent.eif"),
            cid: 2,
            mock_ca: dir.path().to_owned(),
            dir: dir.path().join("work"),
            memory_mib: 256,
            cpus: 1,
            nsm_port: 9000,
            wait_port: None,
            boot_timeout: Duration::from_secs(1),
            accel: Accel::Tcg,
            kvm_probe: Duration::from_secs(1),
            qemu: "qemu-system-x86_64".into(),
            vhost_device_vsock: "vhost-device-vsock".into(),
        };
        assert_eq!(run(&cfg).await.expect_err("cid").code(), "emulate.usage");
        cfg.cid = 7;
        assert_eq!(run(&cfg).await.expect_err("image").code(), "emulate.io");
    }
}

//! A client for the Linux configfs-tsm report interface (`/sys/kernel/config/tsm/report`), the
//! kernel's vendor-neutral way to ask a confidential-computing guest driver for evidence. SEV-SNP
//! (`sev_guest`) and TDX (`tdx_guest`) both use it.
//!
//! The protocol (kernel `Documentation/ABI/testing/configfs-tsm`), one report per request:
//!
//! 1. `mkdir <root>/<unique name>`: the kernel populates the directory with its attributes.
//! 2. Read `generation` (a counter the kernel bumps on every write to `inblob` or an option).
//! 3. Write `inblob`: up to 64 bytes of user data (SEV-SNP REPORT_DATA, TDX REPORTDATA).
//! 4. Read `outblob`: the kernel asks the platform for the report on this read.
//! 5. Read `generation` again: it must be exactly one more than in step 2, or some other writer
//!    changed the request between our write and our read, and the report may not carry our data.
//! 6. `rmdir` the directory.
//!
//! `provider` (the driver's name, `sev_guest` or `tdx_guest`) is read when the caller names the
//! provider it expects. The directory name is unique per process and request, so concurrent
//! requests from this process never share one; the generation check covers everything else.
//!
//! The root is a constructor parameter: tests point it at a fake tree in a temporary directory
//! (a plain directory does not answer like configfs, so the tests drive a fake kernel through a
//! test-only hook) and never touch the real `/sys/kernel/config`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use thiserror::Error;

/// Where the kernel mounts the report interface.
pub const DEFAULT_TSM_REPORT_ROOT: &str = "/sys/kernel/config/tsm/report";

/// The most bytes `inblob` takes.
pub const TSM_INBLOB_MAX: usize = 64;

/// Upper bound on what we read from `outblob` (an SNP report is 1184 bytes, a TDX quote a few
/// KiB); a larger answer is refused rather than buffered.
pub const TSM_OUTBLOB_MAX: u64 = 64 * 1024;

/// A configfs-tsm request failed. Each variant names the path involved.
#[derive(Debug, Error)]
pub enum TsmError {
    /// The report root does not exist: no configfs-tsm (kernel < 6.7, configfs not mounted, or
    /// not a confidential guest).
    #[error("configfs-tsm report root {path} is missing: {source}")]
    RootMissing {
        /// The root asked for.
        path: PathBuf,
        /// Why it could not be used.
        source: std::io::Error,
    },
    /// Creating, writing, reading or removing an attribute failed.
    #[error("configfs-tsm {op} {path}: {source}")]
    Io {
        /// `mkdir`, `write`, `read` or `rmdir`.
        op: &'static str,
        /// The attribute or directory.
        path: PathBuf,
        /// The kernel's answer.
        source: std::io::Error,
    },
    /// More than [`TSM_INBLOB_MAX`] bytes of user data (API misuse).
    #[error("configfs-tsm inblob takes at most {TSM_INBLOB_MAX} bytes, got {len}")]
    InblobTooLong {
        /// Bytes given.
        len: usize,
    },
    /// `outblob` is larger than [`TSM_OUTBLOB_MAX`].
    #[error("configfs-tsm outblob is {len} bytes, more than the {TSM_OUTBLOB_MAX} accepted")]
    OutblobTooLong {
        /// Bytes the kernel offered.
        len: u64,
    },
    /// `generation` is not a decimal counter.
    #[error("configfs-tsm {path} holds {found:?}, not a decimal counter")]
    BadGeneration {
        /// The attribute.
        path: PathBuf,
        /// What it held.
        found: String,
    },
    /// Someone else wrote the request between our `inblob` write and `outblob` read.
    #[error(
        "configfs-tsm generation went from {before} to {after} (expected {expected}): a concurrent writer changed the request"
    )]
    GenerationChanged {
        /// Before our write.
        before: u64,
        /// After our read.
        after: u64,
        /// `before + 1`.
        expected: u64,
    },
    /// The driver behind the interface is not the one asked for.
    #[error("configfs-tsm provider is {found:?}, expected {expected:?}")]
    WrongProvider {
        /// The provider required.
        expected: String,
        /// The provider the kernel names.
        found: String,
    },
}

impl TsmError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::RootMissing { .. } => "tsm.root_missing",
            Self::Io { .. } => "tsm.io",
            Self::InblobTooLong { .. } => "tsm.inblob_too_long",
            Self::OutblobTooLong { .. } => "tsm.outblob_too_long",
            Self::BadGeneration { .. } => "tsm.bad_generation",
            Self::GenerationChanged { .. } => "tsm.generation_changed",
            Self::WrongProvider { .. } => "tsm.wrong_provider",
        }
    }
}

/// What the kernel returned for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsmReport {
    /// `outblob`: the report or quote.
    pub outblob: Vec<u8>,
    /// `provider`, when it was read.
    pub provider: Option<String>,
    /// `generation` after the read.
    pub generation: u64,
}

/// Steps of a request, for the test-only fake kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TsmStep {
    /// The directory was just created.
    Created,
    /// `inblob` was just written.
    InblobWritten,
    /// The directory is about to be removed.
    Removing,
}

#[cfg(test)]
pub(crate) type TsmHook = std::sync::Arc<dyn Fn(TsmStep, &Path) + Send + Sync>;

/// Requests reports through configfs-tsm under one root.
#[derive(Clone)]
pub struct TsmReportClient {
    root: PathBuf,
    provider: Option<String>,
    #[cfg(test)]
    hook: Option<TsmHook>,
}

impl std::fmt::Debug for TsmReportClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsmReportClient")
            .field("root", &self.root)
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

/// Makes directory names unique within the process.
static REQUESTS: AtomicU64 = AtomicU64::new(0);

impl TsmReportClient {
    /// A client for the report interface at `root` (normally [`DEFAULT_TSM_REPORT_ROOT`]).
    ///
    /// # Errors
    /// [`TsmError::RootMissing`] if `root` is not a directory.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, TsmError> {
        let root = root.into();
        match std::fs::metadata(&root) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(TsmError::RootMissing {
                    source: std::io::Error::other("not a directory"),
                    path: root,
                });
            }
            Err(source) => return Err(TsmError::RootMissing { path: root, source }),
        }
        Ok(Self {
            root,
            provider: None,
            #[cfg(test)]
            hook: None,
        })
    }

    /// Requires `provider` to read `expected` (e.g. `sev_guest`, `tdx_guest`) on every request.
    #[must_use]
    pub fn expect_provider(mut self, expected: impl Into<String>) -> Self {
        self.provider = Some(expected.into());
        self
    }

    /// The report root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    #[cfg(test)]
    pub(crate) fn with_hook(mut self, hook: TsmHook) -> Self {
        self.hook = Some(hook);
        self
    }

    #[cfg(test)]
    fn step(&self, step: TsmStep, dir: &Path) {
        if let Some(hook) = &self.hook {
            hook(step, dir);
        }
    }

    #[cfg(not(test))]
    fn step(&self, _step: TsmStep, _dir: &Path) {}

    /// One report carrying `inblob` (at most 64 bytes) as its user data.
    ///
    /// The request directory is removed whether or not the request succeeded; a failure to
    /// remove it is reported only when the request itself succeeded.
    ///
    /// # Errors
    /// [`TsmError`] naming the failed step.
    pub fn report(&self, inblob: &[u8]) -> Result<TsmReport, TsmError> {
        if inblob.len() > TSM_INBLOB_MAX {
            return Err(TsmError::InblobTooLong { len: inblob.len() });
        }
        let n = REQUESTS.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = self
            .root
            .join(format!("cloister-{}-{n}-{nanos:08x}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|source| TsmError::Io {
            op: "mkdir",
            path: dir.clone(),
            source,
        })?;
        self.step(TsmStep::Created, &dir);
        let result = self.request(&dir, inblob);
        self.step(TsmStep::Removing, &dir);
        // configfs removes the attributes with the directory: rmdir, not a recursive delete.
        let removed = std::fs::remove_dir(&dir).map_err(|source| TsmError::Io {
            op: "rmdir",
            path: dir.clone(),
            source,
        });
        let report = result?;
        removed?;
        Ok(report)
    }

    fn request(&self, dir: &Path, inblob: &[u8]) -> Result<TsmReport, TsmError> {
        let provider = match &self.provider {
            Some(expected) => {
                let found = read_text(&dir.join("provider"))?;
                if &found != expected {
                    return Err(TsmError::WrongProvider {
                        expected: expected.clone(),
                        found,
                    });
                }
                Some(found)
            }
            None => None,
        };
        let before = read_generation(&dir.join("generation"))?;
        let path = dir.join("inblob");
        std::fs::write(&path, inblob).map_err(|source| TsmError::Io {
            op: "write",
            path,
            source,
        })?;
        self.step(TsmStep::InblobWritten, dir);
        let outblob = read_bounded(&dir.join("outblob"))?;
        let after = read_generation(&dir.join("generation"))?;
        let expected = before.wrapping_add(1);
        if after != expected {
            return Err(TsmError::GenerationChanged {
                before,
                after,
                expected,
            });
        }
        Ok(TsmReport {
            outblob,
            provider,
            generation: after,
        })
    }
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, TsmError> {
    use std::io::Read;
    let io = |source| TsmError::Io {
        op: "read",
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut out = Vec::new();
    let read = file
        .take(TSM_OUTBLOB_MAX + 1)
        .read_to_end(&mut out)
        .map_err(io)?;
    if read as u64 > TSM_OUTBLOB_MAX {
        return Err(TsmError::OutblobTooLong { len: read as u64 });
    }
    Ok(out)
}

fn read_text(path: &Path) -> Result<String, TsmError> {
    let bytes = read_bounded(path)?;
    Ok(String::from_utf8_lossy(&bytes).trim().to_owned())
}

fn read_generation(path: &Path) -> Result<u64, TsmError> {
    let text = read_text(path)?;
    text.parse().map_err(|_| TsmError::BadGeneration {
        path: path.to_owned(),
        found: text,
    })
}

#[cfg(test)]
pub(crate) mod fake {
    //! A fake configfs-tsm tree: what the kernel would create and answer, in a temporary
    //! directory.

    use std::path::Path;
    use std::sync::{Arc, Mutex};

    use super::{TsmHook, TsmStep};

    /// What the fake answers for an inblob.
    type Answer = Box<dyn Fn(&[u8]) -> Vec<u8> + Send + Sync>;

    /// Answers each request with `outblob(inblob)`; records every inblob.
    pub(crate) struct FakeKernel {
        pub(crate) provider: String,
        pub(crate) outblob: Answer,
        pub(crate) inblobs: Mutex<Vec<Vec<u8>>>,
        /// Extra generation bumps after the inblob write (a concurrent writer).
        pub(crate) interfere: bool,
    }

    impl FakeKernel {
        pub(crate) fn new(
            provider: &str,
            outblob: impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static,
        ) -> Self {
            Self {
                provider: provider.to_owned(),
                outblob: Box::new(outblob),
                inblobs: Mutex::new(Vec::new()),
                interfere: false,
            }
        }

        pub(crate) fn hook(self: &Arc<Self>) -> TsmHook {
            let me = Arc::clone(self);
            Arc::new(move |step, dir: &Path| me.on(step, dir))
        }

        fn on(&self, step: TsmStep, dir: &Path) {
            let w = |name: &str, data: &[u8]| std::fs::write(dir.join(name), data).expect(name);
            match step {
                TsmStep::Created => {
                    w("provider", format!("{}\n", self.provider).as_bytes());
                    w("generation", b"0\n");
                    w("inblob", b"");
                }
                TsmStep::InblobWritten => {
                    let inblob = std::fs::read(dir.join("inblob")).expect("inblob");
                    let generation = if self.interfere { "2\n" } else { "1\n" };
                    w("generation", generation.as_bytes());
                    w("outblob", &(self.outblob)(&inblob));
                    self.inblobs.lock().expect("lock").push(inblob);
                }
                TsmStep::Removing => {
                    for entry in std::fs::read_dir(dir).expect("read_dir") {
                        std::fs::remove_file(entry.expect("entry").path()).expect("remove");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::fake::FakeKernel;
    use super::*;

    fn client(kernel: &Arc<FakeKernel>) -> (tempfile::TempDir, TsmReportClient) {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = TsmReportClient::new(dir.path())
            .expect("root")
            .with_hook(kernel.hook());
        (dir, c)
    }

    fn empty(dir: &Path) -> bool {
        std::fs::read_dir(dir).expect("read_dir").next().is_none()
    }

    #[test]
    fn a_request_writes_inblob_reads_outblob_and_removes_its_directory() {
        let kernel = Arc::new(FakeKernel::new("sev_guest", |inblob| {
            [b"report:".as_slice(), inblob].concat()
        }));
        let (dir, c) = client(&kernel);
        let c = c.expect_provider("sev_guest");
        let r = c.report(&[7u8; 64]).expect("report");
        assert_eq!(r.outblob, [b"report:".as_slice(), &[7u8; 64]].concat());
        assert_eq!(r.provider.as_deref(), Some("sev_guest"));
        assert_eq!(r.generation, 1);
        let r2 = c.report(b"second").expect("second");
        assert_eq!(r2.outblob, b"report:second");
        assert_eq!(
            kernel.inblobs.lock().expect("lock").as_slice(),
            &[vec![7u8; 64], b"second".to_vec()]
        );
        assert!(empty(dir.path()), "request directories are removed");
    }

    #[test]
    fn a_concurrent_writer_is_detected() {
        let mut k = FakeKernel::new("sev_guest", |_| vec![1; 8]);
        k.interfere = true;
        let kernel = Arc::new(k);
        let (dir, c) = client(&kernel);
        let e = c.report(&[0; 64]).expect_err("raced");
        assert_eq!(e.code(), "tsm.generation_changed");
        assert!(matches!(
            e,
            TsmError::GenerationChanged {
                before: 0,
                after: 2,
                expected: 1
            }
        ));
        assert!(empty(dir.path()), "removed on failure too");
    }

    #[test]
    fn the_provider_is_checked_when_asked() {
        let kernel = Arc::new(FakeKernel::new("tdx_guest", |_| vec![1]));
        let (_dir, c) = client(&kernel);
        assert!(c.report(b"x").is_ok(), "not checked unless asked");
        let e = c
            .expect_provider("sev_guest")
            .report(b"x")
            .expect_err("wrong");
        assert_eq!(e.code(), "tsm.wrong_provider");
    }

    #[test]
    fn misuse_and_missing_roots_are_typed() {
        let kernel = Arc::new(FakeKernel::new("sev_guest", |_| vec![]));
        let (_dir, c) = client(&kernel);
        assert_eq!(
            c.report(&[0; 65]).expect_err("long").code(),
            "tsm.inblob_too_long"
        );
        let missing = tempfile::tempdir().expect("tempdir").path().join("no/such");
        let e = TsmReportClient::new(&missing).expect_err("missing");
        assert_eq!(e.code(), "tsm.root_missing");
        assert!(
            matches!(&e, TsmError::RootMissing { path, .. } if path == &missing),
            "{e:?}"
        );
    }

    #[test]
    fn a_plain_directory_without_a_kernel_fails_cleanly() {
        // No hook: mkdir succeeds but nothing populates the attributes.
        let dir = tempfile::tempdir().expect("tempdir");
        let c = TsmReportClient::new(dir.path()).expect("root");
        let e = c.report(&[0; 64]).expect_err("no kernel");
        assert_eq!(e.code(), "tsm.io");
        assert!(
            matches!(&e, TsmError::Io { path, .. } if path.ends_with("generation")),
            "{e:?}"
        );
        assert!(empty(dir.path()));
    }

    #[test]
    fn oversized_outblobs_are_refused() {
        let kernel = Arc::new(FakeKernel::new("sev_guest", |_| {
            vec![0; TSM_OUTBLOB_MAX as usize + 1]
        }));
        let (_dir, c) = client(&kernel);
        assert_eq!(
            c.report(b"x").expect_err("big").code(),
            "tsm.outblob_too_long"
        );
    }
}

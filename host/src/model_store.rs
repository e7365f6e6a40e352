//! Untrusted model storage: the host serves sealed model files to the enclave.
//!
//! `--model-store unix:PATH=DIR`: the host listens on the Unix socket PATH. The enclave
//! connects, sends one request line, and gets one answer; one request per connection.
//!
//! ```text
//! request:  GET <model_id>\n           (at most 256 bytes with the \n)
//! answers:  OK <len>\n<len bytes of DIR/<model_id>.sealed>
//!           ERR not_found\n            (no such file, or not a regular file)
//!           ERR bad_request\n          (any other line; an over-long line; EOF before \n)
//!           ERR timeout\n              (nothing complete within the request timeout)
//!           ERR unavailable\n          (the file exists but cannot be read, e.g. permissions)
//! ```
//!
//! `model_id` is 1-128 characters of `[A-Za-z0-9._-]` not starting with `.`, so it can never
//! name a path outside DIR (no `/`, no `..` component, no hidden file). The files are sealed
//! (encrypted and authenticated to a key only an attested enclave gets from its custodian):
//! the host stores and streams them and cannot read or alter them undetected. Files are
//! streamed in chunks, never read whole into memory.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;

use crate::error::StartError;

/// The longest request line, `\n` included.
pub const MAX_REQUEST_LINE: usize = 256;
/// The longest model id.
pub const MAX_MODEL_ID_LEN: usize = 128;
/// Default [`ModelStoreLimits::request_timeout`].
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`ModelStoreLimits::write_stall_timeout`].
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Default [`ModelStoreLimits::max_connections`].
pub const MAX_CONNECTIONS: usize = 16;
/// The file name suffix of a sealed model.
pub const SEALED_SUFFIX: &str = ".sealed";

const CHUNK: usize = 64 * 1024;
/// How much unread input an error answer drains, and for how long, before closing.
const DRAIN_BYTES: u64 = 64 * 1024;
const DRAIN_TIME: Duration = Duration::from_millis(200);

/// One `--model-store unix:PATH=DIR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelStoreSpec {
    listen: PathBuf,
    dir: PathBuf,
}

impl ModelStoreSpec {
    /// The Unix socket the host listens on.
    pub fn listen(&self) -> &Path {
        &self.listen
    }

    /// The directory holding `<model_id>.sealed` files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl FromStr for ModelStoreSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s.strip_prefix("unix:").ok_or_else(|| {
            format!("model store {s:?} must be unix:PATH=DIR, e.g. unix:/run/cloister/models.sock=/var/lib/cloister/models")
        })?;
        // The first '=' splits: a socket PATH cannot contain '=' (DIR can).
        let (path, dir) = rest
            .split_once('=')
            .ok_or_else(|| format!("model store {s:?} must be unix:PATH=DIR"))?;
        if path.is_empty() || dir.is_empty() {
            return Err(format!(
                "model store {s:?} needs both a socket PATH and a DIR"
            ));
        }
        Ok(Self {
            listen: PathBuf::from(path),
            dir: PathBuf::from(dir),
        })
    }
}

impl std::fmt::Display for ModelStoreSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unix:{}={}", self.listen.display(), self.dir.display())
    }
}

/// The model store's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelStoreLimits {
    /// How long a client has to send its whole request line.
    pub request_timeout: Duration,
    /// How long one chunk of the answer may wait for the client to take it.
    pub write_stall_timeout: Duration,
    /// Connections served at once; further ones are closed at once.
    pub max_connections: usize,
}

impl Default for ModelStoreLimits {
    fn default() -> Self {
        Self {
            request_timeout: REQUEST_TIMEOUT,
            write_stall_timeout: WRITE_STALL_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
        }
    }
}

/// A bound model store, ready to [`serve`](ModelStore::serve).
#[derive(Debug)]
pub struct ModelStore {
    spec: ModelStoreSpec,
    listener: UnixListener,
    limits: ModelStoreLimits,
}

impl ModelStore {
    /// Checks that DIR is a directory and binds PATH (mode 0600).
    ///
    /// # Errors
    /// [`StartError::ModelStoreDir`], or the errors of [`crate::unix_socket::bind_private`].
    pub async fn bind(spec: ModelStoreSpec, limits: ModelStoreLimits) -> Result<Self, StartError> {
        let dir_err = |source| StartError::ModelStoreDir {
            dir: spec.dir.clone(),
            source,
        };
        let meta = std::fs::metadata(&spec.dir).map_err(dir_err)?;
        if !meta.is_dir() {
            return Err(dir_err(std::io::Error::new(
                std::io::ErrorKind::NotADirectory,
                "not a directory",
            )));
        }
        let listener = crate::unix_socket::bind_private(&spec.listen).await?;
        Ok(Self {
            spec,
            listener,
            limits,
        })
    }

    /// What this store was bound for.
    pub fn spec(&self) -> &ModelStoreSpec {
        &self.spec
    }

    /// Accepts and answers requests until the task is dropped.
    pub async fn serve(self) {
        let Self {
            spec,
            listener,
            limits,
        } = self;
        let dir = Arc::new(spec.dir);
        let permits = Arc::new(Semaphore::new(limits.max_connections));
        tracing::info!(listen = %spec.listen.display(), dir = %dir.display(), "model store listening");
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e.kind(), "model store accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                tracing::warn!(
                    max = limits.max_connections,
                    "model store busy: connection refused"
                );
                continue;
            };
            let dir = Arc::clone(&dir);
            tokio::spawn(async move {
                serve_one(stream, &dir, limits).await;
                drop(permit);
            });
        }
    }
}

/// Why a request line was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadRequest {
    /// Not `GET <model_id>\n`.
    Syntax,
    /// A model id that is not 1-128 of `[A-Za-z0-9._-]` or starts with `.`.
    ModelId,
}

/// Parses one request line (with its `\n`) into the model id it asks for.
///
/// # Errors
/// [`BadRequest`] for anything but `GET <model_id>\n` with a valid id.
pub fn parse_request(line: &[u8]) -> Result<&str, BadRequest> {
    let id = line
        .strip_prefix(b"GET ")
        .and_then(|rest| rest.strip_suffix(b"\n"))
        .ok_or(BadRequest::Syntax)?;
    let id = std::str::from_utf8(id).map_err(|_| BadRequest::ModelId)?;
    if valid_model_id(id) {
        Ok(id)
    } else {
        Err(BadRequest::ModelId)
    }
}

/// Whether `id` is 1-128 characters of `[A-Za-z0-9._-]` and does not start with `.`.
pub fn valid_model_id(id: &str) -> bool {
    (1..=MAX_MODEL_ID_LEN).contains(&id.len())
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

async fn serve_one(mut stream: UnixStream, dir: &Path, limits: ModelStoreLimits) {
    let mut line = Vec::with_capacity(64);
    let read = {
        // `take` bounds what the BufReader may pull, so an endless line costs 256 bytes.
        let mut reader = BufReader::new((&mut stream).take(MAX_REQUEST_LINE as u64));
        tokio::time::timeout(limits.request_timeout, reader.read_until(b'\n', &mut line)).await
    };
    let model_id = match read {
        Err(_) => {
            tracing::warn!("model store: client sent no request in time");
            return answer(&mut stream, b"ERR timeout\n", limits).await;
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e.kind(), "model store: reading the request failed");
            return;
        }
        Ok(Ok(_)) => match parse_request(&line) {
            Ok(id) => id,
            Err(why) => {
                tracing::warn!(reason = ?why, "model store: bad request");
                return answer(&mut stream, b"ERR bad_request\n", limits).await;
            }
        },
    };
    let path = dir.join(format!("{model_id}{SEALED_SUFFIX}"));
    // Stat before opening: opening a FIFO would block until a writer appears.
    let file = match tokio::fs::metadata(&path).await {
        Ok(meta) if meta.is_file() => tokio::fs::File::open(&path).await,
        Ok(_) => Err(std::io::ErrorKind::NotFound.into()),
        Err(e) => Err(e),
    };
    let (file, len) = match file {
        Ok(file) => match file.metadata().await {
            Ok(meta) if meta.is_file() => (file, meta.len()),
            Ok(_) => return not_found(&mut stream, model_id, limits).await,
            Err(e) => return unavailable(&mut stream, model_id, e.kind(), limits).await,
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return not_found(&mut stream, model_id, limits).await;
        }
        Err(e) => return unavailable(&mut stream, model_id, e.kind(), limits).await,
    };
    match stream_file(&mut stream, file, len, limits).await {
        Ok(()) => tracing::info!(model_id, bytes = len, "model served"),
        Err(failure) => tracing::warn!(model_id, bytes = len, %failure, "model transfer cut short"),
    }
}

#[derive(Debug, thiserror::Error)]
enum StreamFailure {
    /// The file shrank while being sent; the client gets fewer bytes than announced.
    #[error("the file ended after {sent} bytes")]
    Truncated { sent: u64 },
    #[error("reading the file: {0}")]
    Read(std::io::ErrorKind),
    #[error("writing to the client: {0}")]
    Write(std::io::ErrorKind),
    #[error("the client stopped reading")]
    WriteStalled,
}

async fn stream_file(
    stream: &mut UnixStream,
    mut file: tokio::fs::File,
    len: u64,
    limits: ModelStoreLimits,
) -> Result<(), StreamFailure> {
    write_bounded(stream, format!("OK {len}\n").as_bytes(), limits).await?;
    let mut buf = vec![0u8; CHUNK];
    let mut sent = 0u64;
    while sent < len {
        let want = usize::try_from(len - sent).map_or(CHUNK, |left| left.min(CHUNK));
        let chunk = buf.get_mut(..want).unwrap_or_default();
        let n = file
            .read(chunk)
            .await
            .map_err(|e| StreamFailure::Read(e.kind()))?;
        if n == 0 {
            return Err(StreamFailure::Truncated { sent });
        }
        write_bounded(stream, chunk.get(..n).unwrap_or_default(), limits).await?;
        sent += n as u64;
    }
    let _ = stream.shutdown().await;
    Ok(())
}

async fn write_bounded(
    stream: &mut UnixStream,
    bytes: &[u8],
    limits: ModelStoreLimits,
) -> Result<(), StreamFailure> {
    match tokio::time::timeout(limits.write_stall_timeout, stream.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(StreamFailure::Write(e.kind())),
        Err(_) => Err(StreamFailure::WriteStalled),
    }
}

async fn answer(stream: &mut UnixStream, line: &[u8], limits: ModelStoreLimits) {
    // Best effort: the client may already be gone.
    if write_bounded(stream, line, limits).await.is_ok() {
        let _ = stream.shutdown().await;
        // Closing with unread input (the rest of an over-long line) makes Linux reset the
        // client's side, which can lose the answer; drain a little, briefly, first.
        let mut rest = (&mut *stream).take(DRAIN_BYTES);
        let mut sink = tokio::io::sink();
        let _ = tokio::time::timeout(DRAIN_TIME, tokio::io::copy(&mut rest, &mut sink)).await;
    }
}

async fn not_found(stream: &mut UnixStream, model_id: &str, limits: ModelStoreLimits) {
    tracing::warn!(model_id, "model store: no such model");
    answer(stream, b"ERR not_found\n", limits).await;
}

async fn unavailable(
    stream: &mut UnixStream,
    model_id: &str,
    error: std::io::ErrorKind,
    limits: ModelStoreLimits,
) {
    tracing::warn!(model_id, %error, "model store: model file unreadable");
    answer(stream, b"ERR unavailable\n", limits).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(5);

    async fn start(limits: ModelStoreLimits) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("models");
        std::fs::create_dir(&dir).expect("mkdir");
        let sock = tmp.path().join("store.sock");
        let spec: ModelStoreSpec = format!("unix:{}={}", sock.display(), dir.display())
            .parse()
            .expect("spec");
        let store = ModelStore::bind(spec, limits).await.expect("bind");
        tokio::spawn(store.serve());
        (tmp, sock)
    }

    async fn exchange(sock: &Path, request: &[u8]) -> Vec<u8> {
        let mut s = UnixStream::connect(sock).await.expect("connect");
        s.write_all(request).await.expect("write");
        // Half-close: a request without its `\n` then ends at EOF instead of at the timeout.
        s.shutdown().await.expect("half-close");
        let mut out = Vec::new();
        tokio::time::timeout(WAIT, s.read_to_end(&mut out))
            .await
            .expect("answer in time")
            .expect("read");
        out
    }

    #[tokio::test]
    async fn serves_a_file_and_answers_not_found() {
        let (tmp, sock) = start(ModelStoreLimits::default()).await;
        // Several chunks and a ragged tail.
        let body: Vec<u8> = (0..(3 * CHUNK + 17)).map(|i| (i % 253) as u8).collect();
        std::fs::write(tmp.path().join("models/credit-risk_v1.2.sealed"), &body).expect("write");
        let out = exchange(&sock, b"GET credit-risk_v1.2\n").await;
        let header = format!("OK {}\n", body.len());
        assert_eq!(out.get(..header.len()), Some(header.as_bytes()));
        assert_eq!(out.get(header.len()..), Some(body.as_slice()));

        std::fs::write(tmp.path().join("models/empty.sealed"), b"").expect("write");
        assert_eq!(exchange(&sock, b"GET empty\n").await, b"OK 0\n");
        assert_eq!(exchange(&sock, b"GET absent\n").await, b"ERR not_found\n");
        // A directory named like a model is not a model.
        std::fs::create_dir(tmp.path().join("models/dir.sealed")).expect("mkdir");
        assert_eq!(exchange(&sock, b"GET dir\n").await, b"ERR not_found\n");
    }

    #[tokio::test]
    async fn refuses_bad_requests() {
        let (tmp, sock) = start(ModelStoreLimits::default()).await;
        std::fs::write(tmp.path().join("x.sealed"), b"outside").expect("write");
        let long_id = format!("GET {}\n", "a".repeat(MAX_MODEL_ID_LEN + 1));
        let long_line = format!("GET {}\n", "a".repeat(MAX_REQUEST_LINE));
        for request in [
            b"GET ../x\n".as_slice(),
            b"GET models/../x\n",
            b"GET .hidden\n",
            b"GET \n",
            b"GET x y\n",
            b"GET x\r\n",
            b"get x\n",
            b"PUT x\n",
            b"GET x",
            long_id.as_bytes(),
            long_line.as_bytes(),
        ] {
            assert_eq!(
                exchange(&sock, request).await,
                b"ERR bad_request\n",
                "{:?}",
                String::from_utf8_lossy(request)
            );
        }
    }

    #[tokio::test]
    async fn times_out_a_silent_client() {
        let (_tmp, sock) = start(ModelStoreLimits {
            request_timeout: Duration::from_millis(200),
            ..ModelStoreLimits::default()
        })
        .await;
        let mut s = UnixStream::connect(&sock).await.expect("connect");
        let mut out = Vec::new();
        tokio::time::timeout(WAIT, s.read_to_end(&mut out))
            .await
            .expect("closed in time")
            .expect("read");
        assert_eq!(out, b"ERR timeout\n");
    }

    #[test]
    fn checks_model_ids_and_specs() {
        assert!(valid_model_id("a"));
        assert!(valid_model_id("credit-risk_v1.2"));
        assert!(valid_model_id(&"a".repeat(MAX_MODEL_ID_LEN)));
        for bad in ["", ".", "..", ".a", "a/b", "a\\b", "a b", "é", "a\0"] {
            assert!(!valid_model_id(bad), "{bad:?}");
        }
        assert!(!valid_model_id(&"a".repeat(MAX_MODEL_ID_LEN + 1)));
        assert_eq!(parse_request(b"GET m\n"), Ok("m"));
        assert_eq!(parse_request(b"GET ../x\n"), Err(BadRequest::ModelId));
        assert_eq!(parse_request(b"GET m"), Err(BadRequest::Syntax));

        let s: ModelStoreSpec = "unix:/run/m.sock=/var/models=v1".parse().expect("spec");
        assert_eq!(s.listen(), Path::new("/run/m.sock"));
        assert_eq!(s.dir(), Path::new("/var/models=v1"));
        for bad in [
            "/run/m.sock=/d",
            "unix:/run/m.sock",
            "unix:=/d",
            "unix:/run/m.sock=",
        ] {
            assert!(bad.parse::<ModelStoreSpec>().is_err(), "{bad}");
        }
    }
}

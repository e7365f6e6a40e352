//! Where the enclave listens: a Unix socket (mock, CI) or AF_VSOCK (inside a real enclave); and
//! its AF_VSOCK connections out to the host ([`connect_vsock`] for the outbound pipes of
//! [`crate::outbound`], [`connect_vsock_blocking`] for the emulated NSM). Every AF_VSOCK socket
//! the enclave opens is opened here.
//!
//! Both listeners produce `AsyncRead + AsyncWrite` streams for
//! [`crate::server::serve_connection`]; there is one framing code path. AF_VSOCK is used only
//! inside an enclave VM: never run it on a development or CI machine, where vsock leads to the
//! machine's own hypervisor.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use crate::EnclaveRuntime;

/// A listening address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// `unix:PATH`
    Unix(PathBuf),
    /// `vsock:PORT` (binds CID ANY inside the enclave).
    Vsock(u32),
}

impl FromStr for ListenAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(p) = s.strip_prefix("unix:") {
            if p.is_empty() {
                return Err(
                    "unix: needs a socket path, e.g. unix:/run/cloister/enclave.sock".into(),
                );
            }
            return Ok(Self::Unix(PathBuf::from(p)));
        }
        if let Some(p) = s.strip_prefix("vsock:") {
            return p
                .parse()
                .map(Self::Vsock)
                .map_err(|_| format!("vsock port {p:?} is not a number (e.g. vsock:5000)"));
        }
        Err(format!(
            "listen address {s:?} must be unix:PATH or vsock:PORT"
        ))
    }
}

/// Accepts connections forever, serving each on its own task.
///
/// # Errors
/// Binding the address fails.
pub async fn listen(addr: &ListenAddr, rt: Arc<EnclaveRuntime>) -> std::io::Result<()> {
    match addr {
        ListenAddr::Unix(path) => {
            // A stale socket file from a previous run would make bind fail.
            let _ = std::fs::remove_file(path);
            let listener = tokio::net::UnixListener::bind(path)?;
            tracing::info!(path = %path.display(), "listening on unix socket");
            loop {
                let (stream, _) = listener.accept().await?;
                tokio::spawn(crate::server::serve_connection(stream, Arc::clone(&rt)));
            }
        }
        ListenAddr::Vsock(port) => {
            let addr = tokio_vsock::VsockAddr::new(tokio_vsock::VMADDR_CID_ANY, *port);
            let listener = tokio_vsock::VsockListener::bind(addr)?;
            tracing::info!(port, "listening on vsock");
            loop {
                let (stream, _) = listener.accept().await?;
                tokio::spawn(crate::server::serve_connection(stream, Arc::clone(&rt)));
            }
        }
    }
}

/// One AF_VSOCK connection to `cid:port` (the host is CID 2). Only inside an enclave VM.
///
/// # Errors
/// The connect error.
pub async fn connect_vsock(
    cid: u32,
    port: u32,
) -> std::io::Result<impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> {
    tokio_vsock::VsockStream::connect(tokio_vsock::VsockAddr::new(cid, port)).await
}

/// [`connect_vsock`] for synchronous callers, with `timeout` on every read and write.
///
/// # Errors
/// The connect error, or setting the timeouts failed.
pub fn connect_vsock_blocking(
    cid: u32,
    port: u32,
    timeout: std::time::Duration,
) -> std::io::Result<impl std::io::Read + std::io::Write> {
    let stream = vsock::VsockStream::connect_with_cid_port(cid, port)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listen_addresses() {
        assert_eq!(
            "unix:/tmp/e.sock".parse(),
            Ok(ListenAddr::Unix("/tmp/e.sock".into()))
        );
        assert_eq!("vsock:5000".parse(), Ok(ListenAddr::Vsock(5000)));
        for bad in ["unix:", "vsock:x", "tcp:1", "/tmp/e.sock"] {
            assert!(bad.parse::<ListenAddr>().is_err(), "{bad}");
        }
    }
}

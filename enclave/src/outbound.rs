//! Where the enclave's outbound connections go: the host's relay to the custodian (or KMS) and
//! its store of sealed models, named `unix:PATH` (mock, CI) or `vsock:CID:PORT` (an enclave VM:
//! the host is CID 2 on Nitro and in `cloister emulate run`).
//!
//! The clients speak over a Unix socket path. For a vsock address, [`resolve`] binds a private
//! Unix socket inside the enclave and pipes each connection made to it to the vsock address, so
//! there is one client code path for both. The pipe copies bytes only: TLS, HPKE and signatures
//! end in the clients, as before. Only inside an enclave VM does this open AF_VSOCK.

use std::path::PathBuf;
use std::str::FromStr;

/// Connect attempts that time out before an outbound connection is given up.
const CONNECT_ATTEMPTS: u32 = 4;

/// An outbound address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundAddr {
    /// `unix:PATH`
    Unix(PathBuf),
    /// `vsock:CID:PORT`
    Vsock {
        /// The peer's context id (2: the host).
        cid: u32,
        /// The peer's port.
        port: u32,
    },
}

impl FromStr for OutboundAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(p) = s.strip_prefix("unix:") {
            if p.is_empty() {
                return Err("unix: needs a socket path".into());
            }
            return Ok(Self::Unix(PathBuf::from(p)));
        }
        if let Some(rest) = s.strip_prefix("vsock:") {
            let (cid, port) = rest
                .split_once(':')
                .ok_or_else(|| format!("{s:?}: a vsock address is vsock:CID:PORT"))?;
            let cid = cid
                .parse()
                .map_err(|_| format!("{s:?}: CID {cid:?} is not a number"))?;
            let port = port
                .parse()
                .map_err(|_| format!("{s:?}: port {port:?} is not a number"))?;
            return Ok(Self::Vsock { cid, port });
        }
        Err(format!("{s:?} must be unix:PATH or vsock:CID:PORT"))
    }
}

/// The Unix socket path a client connects to for `addr`: the path itself for `unix:`, or, for
/// `vsock:`, a socket bound now under `dir` (named after `name`) whose connections are piped to
/// the vsock address for as long as the process runs.
///
/// # Errors
/// Binding the socket fails.
pub async fn resolve(
    addr: &OutboundAddr,
    dir: &std::path::Path,
    name: &str,
) -> std::io::Result<PathBuf> {
    let (cid, port) = match addr {
        OutboundAddr::Unix(path) => return Ok(path.clone()),
        OutboundAddr::Vsock { cid, port } => (*cid, *port),
    };
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{name}.sock"));
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path)?;
    tokio::spawn(async move {
        loop {
            let Ok((mut unix, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                // A connect that times out (a loaded VMM backend) is retried; a refusal is final.
                for _ in 0..CONNECT_ATTEMPTS {
                    match crate::transport::connect_vsock(cid, port).await {
                        Ok(mut vsock) => {
                            let _ = tokio::io::copy_bidirectional(&mut unix, &mut vsock).await;
                            return;
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                            tracing::warn!(cid, port, "outbound vsock connect timed out, retrying");
                        }
                        Err(e) => {
                            tracing::warn!(cid, port, kind = ?e.kind(), "outbound vsock connect failed");
                            return;
                        }
                    }
                }
            });
        }
    });
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_outbound_addresses() {
        assert_eq!(
            "unix:/run/r.sock".parse(),
            Ok(OutboundAddr::Unix("/run/r.sock".into()))
        );
        assert_eq!(
            "vsock:2:8001".parse(),
            Ok(OutboundAddr::Vsock { cid: 2, port: 8001 })
        );
        for bad in [
            "unix:",
            "vsock:2",
            "vsock:x:1",
            "vsock:2:y",
            "tcp:1",
            "/r.sock",
        ] {
            assert!(bad.parse::<OutboundAddr>().is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_unix_address_is_used_as_it_is() {
        let addr = OutboundAddr::Unix("/run/r.sock".into());
        let dir = std::path::Path::new("/nonexistent");
        assert_eq!(
            resolve(&addr, dir, "relay").await.expect("unix"),
            PathBuf::from("/run/r.sock")
        );
    }
}

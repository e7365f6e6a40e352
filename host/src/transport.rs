//! How the host reaches the enclave: a Unix socket (mock, CI), AF_VSOCK (production) or hybrid
//! vsock through a local VMM's Unix socket (`cloister emulate run`), named by an [`EnclaveAddr`]
//! (`unix:///PATH`, `vsock://CID:PORT` or `hybrid-vsock:///UDS:PORT`, and the short forms).
//!
//! Never connect vsock on a development or CI machine: there it leads to the machine's own
//! hypervisor. Tests cover vsock addressing only.

use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};

/// A byte stream to the enclave.
pub trait EnclaveStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> EnclaveStream for T {}

/// Where the enclave listens.
///
/// Parsed from `unix:PATH` or `unix:///PATH` (mock, CI) and `vsock:CID:PORT` or
/// `vsock://CID:PORT` (Nitro); printed in the short form. In a JSON configuration it is the same
/// string.
///
/// ```
/// use cloister_host::transport::EnclaveAddr;
/// let a: EnclaveAddr = "vsock://16:5000".parse().expect("vsock");
/// assert_eq!(a, EnclaveAddr::Vsock { cid: 16, port: 5000 });
/// assert_eq!(a.to_string(), "vsock:16:5000");
/// let u: EnclaveAddr = "unix:///run/cloister/enclave.sock".parse().expect("unix");
/// assert_eq!(u.to_string(), "unix:/run/cloister/enclave.sock");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnclaveAddr {
    /// `unix:PATH` or `unix:///PATH`
    Unix(PathBuf),
    /// `hybrid-vsock:///UDS:PORT` — the guest's vsock `PORT` through the VMM's hybrid-vsock
    /// Unix socket `UDS` (`cloister emulate run`, Firecracker, Cloud Hypervisor); see
    /// [`crate::hybrid_vsock`]. Printed as `hybrid-vsock:UDS:PORT`.
    HybridVsock {
        /// The VMM's Unix socket (`vhost-device-vsock --uds-path`).
        uds: PathBuf,
        /// The guest's vsock port.
        port: u32,
    },
    /// `vsock:CID:PORT` or `vsock://CID:PORT` — the enclave's CID comes from its launch; CIDs
    /// 0-2 are reserved (hypervisor, local, host) and never name an enclave.
    Vsock {
        /// Context id of the enclave VM (>= 3).
        cid: u32,
        /// Port the enclave listens on.
        port: u32,
    },
}

/// Lowest CID that can belong to a guest (RFC-less, Linux `VMADDR_CID_HOST` is 2).
pub const MIN_GUEST_CID: u32 = 3;

impl FromStr for EnclaveAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(rest) = s.strip_prefix("unix://") {
            // URL form: the authority must be empty, so the path is absolute (`unix:///run/x`).
            if !rest.starts_with('/') {
                return Err(format!(
                    "enclave address {s:?}: a unix:// URL has an empty host and an absolute path, e.g. unix:///run/cloister/enclave.sock"
                ));
            }
            return Ok(Self::Unix(PathBuf::from(rest)));
        }
        if let Some(p) = s.strip_prefix("unix:") {
            if p.is_empty() {
                return Err(
                    "unix: needs a socket path, e.g. unix:/run/cloister/enclave.sock".into(),
                );
            }
            return Ok(Self::Unix(PathBuf::from(p)));
        }
        if let Some(rest) = s
            .strip_prefix("hybrid-vsock://")
            .or_else(|| s.strip_prefix("hybrid-vsock:"))
        {
            return parse_hybrid_vsock(s, rest);
        }
        if let Some(rest) = s
            .strip_prefix("vsock://")
            .or_else(|| s.strip_prefix("vsock:"))
        {
            return parse_vsock(s, rest);
        }
        Err(format!(
            "enclave address {s:?} must be unix:PATH, unix:///PATH, vsock:CID:PORT, vsock://CID:PORT or hybrid-vsock:///UDS:PORT"
        ))
    }
}

fn parse_hybrid_vsock(s: &str, rest: &str) -> Result<EnclaveAddr, String> {
    let usage = || format!("hybrid vsock address {s:?} must be hybrid-vsock:///path/to/uds:PORT");
    let (uds, port) = rest.rsplit_once(':').ok_or_else(usage)?;
    if !uds.starts_with('/') || uds.len() < 2 {
        return Err(usage());
    }
    let port: u32 = port
        .parse()
        .map_err(|_| format!("hybrid vsock port {port:?} is not a number"))?;
    Ok(EnclaveAddr::HybridVsock {
        uds: PathBuf::from(uds),
        port,
    })
}

fn parse_vsock(s: &str, rest: &str) -> Result<EnclaveAddr, String> {
    let (cid, port) = rest.split_once(':').ok_or_else(|| {
        format!("vsock address {s:?} must be vsock://CID:PORT, e.g. vsock://16:5000")
    })?;
    let cid: u32 = cid
        .parse()
        .map_err(|_| format!("vsock CID {cid:?} is not a number"))?;
    let port: u32 = port
        .parse()
        .map_err(|_| format!("vsock port {port:?} is not a number"))?;
    if cid < MIN_GUEST_CID {
        return Err(format!(
            "vsock CID {cid} is reserved (0 hypervisor, 1 local, 2 host); an enclave's CID is {MIN_GUEST_CID} or more"
        ));
    }
    Ok(EnclaveAddr::Vsock { cid, port })
}

impl std::fmt::Display for EnclaveAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unix(p) => write!(f, "unix:{}", p.display()),
            Self::Vsock { cid, port } => write!(f, "vsock:{cid}:{port}"),
            Self::HybridVsock { uds, port } => write!(f, "hybrid-vsock:{}:{port}", uds.display()),
        }
    }
}

impl Serialize for EnclaveAddr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EnclaveAddr {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Opens a stream to the enclave.
///
/// # Errors
/// The connect call's error.
pub async fn connect(addr: &EnclaveAddr) -> std::io::Result<Box<dyn EnclaveStream>> {
    match addr {
        EnclaveAddr::Unix(path) => Ok(Box::new(tokio::net::UnixStream::connect(path).await?)),
        EnclaveAddr::Vsock { cid, port } => {
            let stream =
                tokio_vsock::VsockStream::connect(tokio_vsock::VsockAddr::new(*cid, *port)).await?;
            Ok(Box::new(stream))
        }
        EnclaveAddr::HybridVsock { uds, port } => {
            Ok(Box::new(crate::hybrid_vsock::connect(uds, *port).await?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_addresses() {
        for s in [
            "unix:/tmp/enclave.sock",
            "vsock:16:5000",
            "vsock:4294967295:1",
        ] {
            let a: EnclaveAddr = s.parse().expect(s);
            assert_eq!(a.to_string(), s);
        }
        assert_eq!(
            "vsock:16:5000".parse(),
            Ok(EnclaveAddr::Vsock {
                cid: 16,
                port: 5000
            })
        );
    }

    #[test]
    fn parses_url_forms() {
        assert_eq!(
            "unix:///run/cloister/enclave.sock".parse(),
            Ok(EnclaveAddr::Unix("/run/cloister/enclave.sock".into()))
        );
        assert_eq!(
            "vsock://16:5000".parse(),
            Ok(EnclaveAddr::Vsock {
                cid: 16,
                port: 5000
            })
        );
        // Printed in the short form, which parses back to the same address.
        let a: EnclaveAddr = "unix:///tmp/e.sock".parse().expect("unix url");
        assert_eq!(a.to_string().parse(), Ok(a));
    }

    #[test]
    fn parses_hybrid_vsock() {
        let a: EnclaveAddr = "hybrid-vsock:///run/vm/vsock.sock:5000"
            .parse()
            .expect("hybrid");
        assert_eq!(
            a,
            EnclaveAddr::HybridVsock {
                uds: "/run/vm/vsock.sock".into(),
                port: 5000
            }
        );
        assert_eq!(a.to_string(), "hybrid-vsock:/run/vm/vsock.sock:5000");
        assert_eq!(a.to_string().parse(), Ok(a));
        for bad in [
            "hybrid-vsock:///run/v.sock",
            "hybrid-vsock:///run/v.sock:x",
            "hybrid-vsock://run/v.sock:1",
            "hybrid-vsock:///:1",
        ] {
            assert!(bad.parse::<EnclaveAddr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn serde_uses_the_string_form() {
        let a: EnclaveAddr = serde_json::from_str("\"vsock://16:5000\"").expect("json");
        assert_eq!(serde_json::to_string(&a).expect("ser"), "\"vsock:16:5000\"");
        let err = serde_json::from_str::<EnclaveAddr>("\"vsock://2:1\"").expect_err("reserved");
        assert!(err.to_string().contains("reserved"), "{err}");
    }

    #[test]
    fn rejects_reserved_cids_and_bad_shapes() {
        for bad in [
            "vsock:2:5000",
            "vsock:0:1",
            "vsock:1:1",
            "vsock:16",
            "vsock:x:1",
            "vsock:3:y",
            "unix:",
            "tcp:1",
            "vsock:3:99999999999",
            "unix://",
            "unix://run/enclave.sock",
            "vsock://2:5000",
            "vsock://16",
            "vsock:/16:5000",
        ] {
            let err = bad.parse::<EnclaveAddr>().expect_err(bad);
            assert!(!err.is_empty());
        }
    }
}

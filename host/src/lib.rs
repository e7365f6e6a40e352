//! The untrusted host proxy of Cloister.
//!
//! It serves callers over HTTP ([`api`]) and relays bytes to the enclave over one multiplexed,
//! framed connection ([`link`]) on a Unix socket or AF_VSOCK ([`transport`]). It never holds a
//! key and never sees a plaintext request or result: inference bodies are OHTTP-encapsulated to
//! the enclave's attested key, and evidence is public. For TDX evidence it adds Intel's DCAP
//! collateral, fetched from Intel PCS or a PCCS and cached ([`collateral`]): public, signed data.
//! For the enclave's start it relays outbound connections to allowlisted destinations
//! ([`relay`], e.g. the key custodian over TLS that ends in the enclave) and serves sealed model
//! files ([`model_store`]), both on private Unix sockets ([`unix_socket`]). It must still be correct, bounded and
//! polite: bad input gets a typed JSON error, and nothing it logs contains a body.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use std::sync::Arc;
//! use cloister_host::collateral::{CollateralCache, CollateralConfig};
//! use cloister_host::{api, link::EnclaveLink, transport::EnclaveAddr};
//!
//! let link = Arc::new(EnclaveLink::new("unix:/run/cloister/enclave.sock".parse::<EnclaveAddr>().expect("addr")));
//! let collateral = Arc::new(CollateralCache::new(&CollateralConfig::default()).expect("collateral"));
//! let app = api::app(api::AppState { link, collateral });
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

pub mod api;
pub mod collateral;
pub mod config;
pub mod edge;
pub mod error;
pub mod hybrid_vsock;
pub mod link;
pub mod metrics;
pub mod model_store;
pub mod relay;
pub mod supervisor;
pub mod transport;
pub mod unix_socket;

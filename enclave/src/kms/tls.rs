//! The enclave's TLS client to KMS: rustls with the aws-lc-rs provider, TLS 1.2 and 1.3, the
//! server certificate checked against the pinned Amazon roots (or, only when the measured
//! configuration says so, `dangerous_kms_ca_pem`) for the KMS host name. The TLS session ends
//! inside the enclave; the host's relay carries ciphertext only.
//!
//! ```
//! let config = cloister_enclave::kms::tls::client_config(None)?;
//! assert!(config.alpn_protocols.is_empty());
//! # Ok::<(), cloister_enclave::kms::KmsError>(())
//! ```

use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

use super::KmsError;

/// Amazon Root CA 1-4 and Starfield Services Root G2, the roots of every AWS endpoint.
const AMAZON_ROOTS_PEM: &str = include_str!("amazon_roots.pem");

/// A client configuration trusting the Amazon roots, or only `dangerous_ca_der` if given.
///
/// # Errors
/// [`KmsError::TlsSetup`] if a root does not parse or the provider refuses the versions.
pub fn client_config(dangerous_ca_der: Option<&[Vec<u8>]>) -> Result<Arc<ClientConfig>, KmsError> {
    fn setup<E>(what: &'static str) -> impl FnOnce(E) -> KmsError {
        move |_| KmsError::TlsSetup { what }
    }
    let mut roots = RootCertStore::empty();
    match dangerous_ca_der {
        Some(certs) => {
            for der in certs {
                roots.add(CertificateDer::from(der.clone())).map_err(setup(
                    "a dangerous_kms_ca_pem certificate is not a usable CA",
                ))?;
            }
        }
        None => {
            for cert in CertificateDer::pem_slice_iter(AMAZON_ROOTS_PEM.as_bytes()) {
                let cert = cert.map_err(setup("the pinned Amazon roots do not parse"))?;
                roots
                    .add(cert)
                    .map_err(setup("a pinned Amazon root is not a usable CA"))?;
            }
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(setup("the TLS provider refuses the default versions"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_five_amazon_roots_are_pinned() {
        use rustls_pki_types::pem::PemObject as _;
        let n =
            rustls_pki_types::CertificateDer::pem_slice_iter(super::AMAZON_ROOTS_PEM.as_bytes())
                .filter(Result::is_ok)
                .count();
        assert_eq!(n, 5);
        assert!(super::client_config(None).is_ok());
        let err = super::client_config(Some(&[b"not a cert".to_vec()])).unwrap_err();
        assert_eq!(err.code(), "enclave.kms.tls_setup");
    }
}

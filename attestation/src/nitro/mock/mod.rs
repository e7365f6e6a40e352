//! The mock platform used by CI and the demo.
//!
//! A mock enclave produces Nitro-format COSE_Sign1 documents signed by a locally generated
//! P-384 chain (root → intermediate → per-boot leaf). They go through the very same
//! [`NitroVerifier`](crate::NitroVerifier) as real evidence, given the mock root as an anchor,
//! and come out as [`Platform::Mock`](crate::Platform::Mock): a policy accepts them only when it
//! names that root in `trusted_mock_root_sha256`. Mock evidence proves nothing about hardware.

mod ca;
mod keys;
mod nsm;

pub use ca::{
    INTERMEDIATE_CERT_FILE, INTERMEDIATE_KEY_FILE, MockCa, MockIntermediate, ROOT_CERT_FILE,
    ROOT_KEY_FILE,
};
pub use nsm::MockNsm;

use super::pcr::{NitroMeasurer, PCR_LEN};

/// Domain label between the executable and its configuration in [`mock_image_pcr0`].
pub const MOCK_CONFIG_LABEL: &[u8] = b"cloister/mock-enclave-config/v1";

/// PCR0 of a mock enclave: what the mock measures in place of a Nitro image. Without a
/// configuration it is the Nitro measurement of the executable's bytes; with one (the custodian
/// and publisher keys, model ids and log level the enclave trusts) it is the measurement of the
/// executable, [`MOCK_CONFIG_LABEL`], the configuration's length (u64 big-endian) and the
/// configuration, so changing any byte of either changes PCR0, as it would change an EIF's.
/// `cloister-enclave --platform mock` and `cloister mock init` both call this one function.
///
/// ```
/// use cloister_attestation::mock::mock_image_pcr0;
/// let plain = mock_image_pcr0(b"exe", None);
/// assert_ne!(plain, mock_image_pcr0(b"exe", Some(b"{}")));
/// assert_ne!(mock_image_pcr0(b"exe", Some(b"{}")), mock_image_pcr0(b"exe", Some(b"{ }")));
/// ```
pub fn mock_image_pcr0(executable: &[u8], config: Option<&[u8]>) -> [u8; PCR_LEN] {
    let mut m = NitroMeasurer::new();
    m.update(executable);
    if let Some(config) = config {
        m.update(MOCK_CONFIG_LABEL);
        m.update(&(config.len() as u64).to_be_bytes());
        m.update(config);
    }
    m.finish()
}

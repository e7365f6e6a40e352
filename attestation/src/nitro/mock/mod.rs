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

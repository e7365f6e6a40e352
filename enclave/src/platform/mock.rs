//! The mock platform: a Nitro-format document signed by a mock CA, with PCR0 measured from this
//! process's own executable, so a changed binary changes PCR0 exactly as a changed EIF would.
//! Callers accept it only under a policy that names the mock root.

use std::collections::BTreeMap;
use std::path::Path;

use cloister_attestation::UnixTime;
use cloister_attestation::mock::mock_image_pcr0;
use cloister_attestation::mock::{MockCa, MockNsm};
use cloister_proto::EvidencePlatform;

use super::{AttestationPlatform, PlatformError, PlatformEvidence};

/// Mock NSM backed by the intermediate CA written by `cloister mock init`.
pub struct MockPlatform {
    nsm: MockNsm,
}

impl MockPlatform {
    /// Boots the mock: loads the CA from `ca_dir`, measures `executable` and the enclave's
    /// measured `config` (if any) into PCR0 with
    /// [`mock_image_pcr0`](cloister_attestation::mock::mock_image_pcr0).
    ///
    /// # Errors
    /// [`PlatformError::MockCa`], [`PlatformError::ReadExecutable`] or
    /// [`PlatformError::MockBoot`] if the CA or the executable cannot be read.
    pub fn boot(
        ca_dir: &Path,
        executable: &Path,
        config: Option<&[u8]>,
        now: UnixTime,
    ) -> Result<Self, PlatformError> {
        let ca = MockCa::load_dir(ca_dir).map_err(|e| PlatformError::MockCa(Box::new(e)))?;
        let image = std::fs::read(executable).map_err(|source| PlatformError::ReadExecutable {
            path: executable.to_owned(),
            source,
        })?;
        let mut pcrs = BTreeMap::new();
        pcrs.insert(0u16, mock_image_pcr0(&image, config));
        let module_id = format!("mock-{}-enc{:016x}", std::process::id(), now.as_secs());
        let nsm = MockNsm::boot(&ca, pcrs, module_id, now)
            .map_err(|e| PlatformError::MockBoot(Box::new(e)))?;
        Ok(Self { nsm })
    }
}

impl AttestationPlatform for MockPlatform {
    fn kind(&self) -> EvidencePlatform {
        EvidencePlatform::Mock
    }

    fn attest(&self, binding: &[u8; 48], nonce: &[u8]) -> Result<PlatformEvidence, PlatformError> {
        self.document(binding, nonce, None)
    }

    fn attest_with_public_key(
        &self,
        binding: &[u8; 48],
        nonce: &[u8],
        public_key: &[u8],
    ) -> Result<PlatformEvidence, PlatformError> {
        self.document(binding, nonce, Some(public_key))
    }
}

impl MockPlatform {
    fn document(
        &self,
        binding: &[u8; 48],
        nonce: &[u8],
        public_key: Option<&[u8]>,
    ) -> Result<PlatformEvidence, PlatformError> {
        let evidence = self
            .nsm
            .attest(Some(binding), Some(nonce), public_key, UnixTime::now())
            .map_err(|e| PlatformError::MockAttest(Box::new(e)))?;
        Ok(PlatformEvidence {
            evidence,
            collateral: Vec::new(),
        })
    }
}

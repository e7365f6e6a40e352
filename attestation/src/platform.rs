//! The platforms a verifier knows, named the way every other type and file names them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which root of trust vouched for a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// AWS Nitro Enclaves, chained to the AWS Nitro Enclaves Root G1.
    Nitro,
    /// The mock platform used by CI and the demo, chained to a locally generated mock root.
    Mock,
    /// AMD SEV-SNP, chained to a pinned AMD ARK (Milan, Genoa or Turin).
    #[serde(rename = "sev-snp")]
    SevSnp,
    /// Intel TDX, a DCAP quote chained to the Intel SGX Root CA.
    Tdx,
}

impl Platform {
    /// The lowercase name used in JSON: `"nitro"`, `"mock"`, `"sev-snp"` or `"tdx"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nitro => "nitro",
            Self::Mock => "mock",
            Self::SevSnp => "sev-snp",
            Self::Tdx => "tdx",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

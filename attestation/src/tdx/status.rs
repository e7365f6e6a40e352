//! Intel's TCB status names, shared by the collateral parser (which reads them) and the TCB
//! evaluation (which decides one).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A TCB status, as Intel's PCS and QVL name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TcbStatus {
    /// The platform is patched to the latest TCB.
    UpToDate,
    /// Patched, but software mitigations (listed in the advisories) are needed.
    SWHardeningNeeded,
    /// Patched, but the platform configuration (BIOS) must change.
    ConfigurationNeeded,
    /// Both of the above.
    ConfigurationAndSWHardeningNeeded,
    /// The TD was launched on an out-of-date TDX module; the current one is up to date (TD 1.5).
    #[serde(rename = "TDRelaunchAdvised")]
    TdRelaunchAdvised,
    /// As [`TcbStatus::TdRelaunchAdvised`], with configuration needed.
    #[serde(rename = "TDRelaunchAdvisedConfigurationNeeded")]
    TdRelaunchAdvisedConfigurationNeeded,
    /// A TCB recovery happened; the platform is not patched.
    OutOfDate,
    /// Out of date, and configuration needed.
    OutOfDateConfigurationNeeded,
    /// Intel revoked this TCB level. Never acceptable.
    Revoked,
}

impl TcbStatus {
    /// Every status.
    pub const ALL: [Self; 9] = [
        Self::UpToDate,
        Self::SWHardeningNeeded,
        Self::ConfigurationNeeded,
        Self::ConfigurationAndSWHardeningNeeded,
        Self::TdRelaunchAdvised,
        Self::TdRelaunchAdvisedConfigurationNeeded,
        Self::OutOfDate,
        Self::OutOfDateConfigurationNeeded,
        Self::Revoked,
    ];

    /// Intel's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UpToDate => "UpToDate",
            Self::SWHardeningNeeded => "SWHardeningNeeded",
            Self::ConfigurationNeeded => "ConfigurationNeeded",
            Self::ConfigurationAndSWHardeningNeeded => "ConfigurationAndSWHardeningNeeded",
            Self::TdRelaunchAdvised => "TDRelaunchAdvised",
            Self::TdRelaunchAdvisedConfigurationNeeded => "TDRelaunchAdvisedConfigurationNeeded",
            Self::OutOfDate => "OutOfDate",
            Self::OutOfDateConfigurationNeeded => "OutOfDateConfigurationNeeded",
            Self::Revoked => "Revoked",
        }
    }

    /// Parses Intel's name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Folds a component's (TDX module or QE) status into the platform's, as Intel's QVL does.
    pub(super) fn converge(self, component: Self) -> Self {
        match component {
            Self::Revoked => Self::Revoked,
            Self::OutOfDate | Self::OutOfDateConfigurationNeeded => match self {
                Self::UpToDate | Self::SWHardeningNeeded => Self::OutOfDate,
                Self::ConfigurationNeeded | Self::ConfigurationAndSWHardeningNeeded => {
                    Self::OutOfDateConfigurationNeeded
                }
                other => other,
            },
            _ => self,
        }
    }
}

impl fmt::Display for TcbStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

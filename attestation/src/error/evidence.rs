//! Errors of the evidence bundle: what it says about itself disagrees with what it is.

error_enum! {
    /// Why an evidence bundle was not accepted as it was labelled.
    pub enum EvidenceError {
        /// The evidence verified as another platform than the one it was offered as (a real
        /// Nitro document offered as mock, or the reverse).
        #[error("evidence offered as {claimed} verifies as {verified}")]
        PlatformMismatch {
            /// What the bundle said.
            claimed: crate::Platform,
            /// What the root of the evidence says.
            verified: crate::Platform,
        } => "evidence.platform_mismatch",
            "the host labelled the evidence with another platform than the one it comes from: do not trust this host's answer";
        /// Evidence without collateral its platform needs.
        #[error("{platform} evidence needs {what}, and none was sent")]
        CollateralMissing {
            /// The platform.
            platform: crate::Platform,
            /// What is missing.
            what: &'static str,
        } => "evidence.collateral_missing",
            "SEV-SNP evidence travels with its VCEK/VLEK: start the enclave with --snp-vcek, or pass --vcek";
        /// More collateral items than the platform takes.
        #[error("{platform} evidence takes at most {max} collateral item(s), {count} were sent")]
        CollateralUnexpected {
            /// The platform.
            platform: crate::Platform,
            /// Items sent.
            count: usize,
            /// Items the platform takes.
            max: usize,
        } => "evidence.collateral_unexpected",
            "the bundle carries collateral its platform does not use: the host added it; do not trust this answer";
    }
}

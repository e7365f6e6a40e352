//! The JSON document `nitro-cli describe-eif` prints, so scripts written for nitro-cli read
//! ours (research/nitro.md §1.7). Keys keep nitro-cli's order.

use serde::Serialize;

use crate::header::Arch;
use crate::measure::Inspection;
use crate::sign::{CertificateSummary, hex};

/// `describe-eif` output.
#[derive(Debug, Serialize)]
pub struct Description {
    /// EIF version (4).
    #[serde(rename = "EifVersion")]
    pub eif_version: u16,
    /// Hash algorithm and PCRs.
    #[serde(rename = "Measurements")]
    pub measurements: Measurements,
    /// Whether the image has a signature section.
    #[serde(rename = "IsSigned")]
    pub is_signed: bool,
    /// The signing certificate, for a signed image.
    #[serde(rename = "SigningCertificate", skip_serializing_if = "Option::is_none")]
    pub signing_certificate: Option<CertificateSummary>,
    /// Whether the CRC matched (always true: a bad CRC is an error before this is built).
    #[serde(rename = "CheckCRC")]
    pub check_crc: bool,
    /// Whether the signature verified, for a signed image.
    #[serde(rename = "SignatureCheck", skip_serializing_if = "Option::is_none")]
    pub signature_check: Option<bool>,
    /// Whether the kernel is aarch64.
    #[serde(rename = "ArmKernel")]
    pub arm_kernel: bool,
    /// Image name from the metadata section.
    #[serde(rename = "ImageName")]
    pub image_name: String,
    /// Image version from the metadata section.
    #[serde(rename = "ImageVersion")]
    pub image_version: String,
    /// Build metadata, Docker info and (flattened) custom metadata.
    #[serde(rename = "Metadata")]
    pub metadata: serde_json::Value,
}

/// `EnclaveBuildInfo`: the hash algorithm and hex PCRs.
#[derive(Debug, Serialize)]
pub struct Measurements {
    /// `"Sha384 { ... }"`, the Debug string nitro-cli prints.
    #[serde(rename = "HashAlgorithm")]
    pub hash_algorithm: &'static str,
    /// PCR0, hex.
    #[serde(rename = "PCR0")]
    pub pcr0: String,
    /// PCR1, hex.
    #[serde(rename = "PCR1")]
    pub pcr1: String,
    /// PCR2, hex.
    #[serde(rename = "PCR2")]
    pub pcr2: String,
    /// PCR8, hex, for a signed image.
    #[serde(rename = "PCR8", skip_serializing_if = "Option::is_none")]
    pub pcr8: Option<String>,
}

impl Description {
    /// Builds the description of an inspected image.
    pub fn of(i: &Inspection) -> Self {
        let p = i.pcrs();
        let m = i.metadata();
        let b = &m.build;
        let mut meta = serde_json::json!({
            "BuildTime": b.build_time,
            "BuildTool": b.build_tool,
            "BuildToolVersion": b.build_tool_version,
            "OperatingSystem": b.operating_system,
            "KernelVersion": b.kernel_version,
            "DockerInfo": m.docker_info,
        });
        if let (Some(obj), serde_json::Value::Object(custom)) = (meta.as_object_mut(), &m.custom) {
            for (k, v) in custom {
                obj.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        Self {
            eif_version: i.header().version(),
            measurements: Measurements {
                hash_algorithm: "Sha384 { ... }",
                pcr0: hex(&p.pcr0),
                pcr1: hex(&p.pcr1),
                pcr2: hex(&p.pcr2),
                pcr8: p.pcr8.map(|v| hex(&v)),
            },
            is_signed: i.signature().is_some(),
            signing_certificate: i.signature().map(|s| s.certificate().summary().clone()),
            check_crc: true,
            signature_check: i.signature_check().map(Result::is_ok),
            arm_kernel: i.header().arch() == Arch::Aarch64,
            image_name: m.image_name.clone(),
            image_version: m.image_version.clone(),
            metadata: meta,
        }
    }

    /// Pretty JSON, as nitro-cli prints it.
    pub fn to_json(&self) -> String {
        // Plain strings, bools and JSON values always serialize.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

//! The metadata section: compact JSON of nitro-cli's `EifIdentityInfo` (research/nitro.md §1.3).
//! It is not measured into any PCR; it is covered by the CRC only.

use serde::{Deserialize, Serialize};

use crate::EifError;

/// `EifIdentityInfo`: the fields are serialized in this order, compactly, as nitro-cli does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityInfo {
    /// Image name.
    #[serde(rename = "ImageName")]
    pub image_name: String,
    /// Image version.
    #[serde(rename = "ImageVersion")]
    pub image_version: String,
    /// How and when the image was built.
    #[serde(rename = "BuildMetadata")]
    pub build: BuildInfo,
    /// `docker inspect` output, or null.
    #[serde(rename = "DockerInfo")]
    pub docker_info: serde_json::Value,
    /// User-supplied JSON, or null.
    #[serde(rename = "CustomMetadata")]
    pub custom: serde_json::Value,
}

/// `EifBuildInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildInfo {
    /// RFC 3339 build time, `+00:00` offset as chrono writes it.
    #[serde(rename = "BuildTime")]
    pub build_time: String,
    /// Tool name.
    #[serde(rename = "BuildTool")]
    pub build_tool: String,
    /// Tool version.
    #[serde(rename = "BuildToolVersion")]
    pub build_tool_version: String,
    /// Operating system of the image.
    #[serde(rename = "OperatingSystem")]
    pub operating_system: String,
    /// Kernel version of the image.
    #[serde(rename = "KernelVersion")]
    pub kernel_version: String,
}

impl IdentityInfo {
    /// Cloister's reproducible metadata: build time from `build_time_unix` (use
    /// `SOURCE_DATE_EPOCH`, or 0), nothing taken from the building machine.
    pub fn reproducible(name: &str, version: &str, build_time_unix: i64) -> Self {
        Self {
            image_name: name.to_owned(),
            image_version: version.to_owned(),
            build: BuildInfo {
                build_time: rfc3339(build_time_unix),
                build_tool: "cloister".to_owned(),
                build_tool_version: env!("CARGO_PKG_VERSION").to_owned(),
                operating_system: "linux".to_owned(),
                kernel_version: "unknown".to_owned(),
            },
            docker_info: serde_json::Value::Null,
            custom: serde_json::Value::Null,
        }
    }

    /// Parses the section bytes.
    ///
    /// # Errors
    ///
    /// `eif.bad_metadata` if they are not the identity JSON.
    pub fn parse(bytes: &[u8]) -> Result<Self, EifError> {
        serde_json::from_slice(bytes).map_err(|e| EifError::BadMetadata {
            reason: e.to_string(),
        })
    }

    /// The section bytes: compact JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Strings and JSON values always serialize.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// `YYYY-MM-DDTHH:MM:SS+00:00` (chrono's `to_rfc3339` for UTC, which nitro-cli writes).
/// Times outside what `time` represents fall back to the epoch.
pub fn rfc3339(unix: i64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_chrono() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(rfc3339(1_767_478_226), "2026-01-03T22:10:26+00:00");
    }

    #[test]
    fn round_trips_and_rejects() {
        let m = IdentityInfo::reproducible("app", "1", 0);
        assert_eq!(IdentityInfo::parse(&m.to_bytes()).ok(), Some(m));
        assert_eq!(
            IdentityInfo::parse(b"{}")
                .map(|_| ())
                .expect_err("must be rejected")
                .code(),
            "eif.bad_metadata"
        );
    }
}

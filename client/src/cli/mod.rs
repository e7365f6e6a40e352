//! One module per subcommand; each returns an [`Outcome`], the process exit code.

pub(crate) mod attest;
pub(crate) mod eif;
pub(crate) mod emulate;
pub(crate) mod infer;
pub(crate) mod measure;
pub(crate) mod mock;
pub(crate) mod model;

use std::path::{Path, PathBuf};

use cloister_attestation::UnixTime;

/// Exit codes of every subcommand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Success, or evidence accepted.
    Ok = 0,
    /// Verification or policy rejected the evidence or result.
    Rejected = 1,
    /// Usage, configuration or I/O error.
    Error = 2,
}

/// Parses `--at`: Unix seconds or an RFC 3339 timestamp.
pub(crate) fn parse_time(s: &str) -> Result<UnixTime, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(UnixTime::from_secs(secs));
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|_| {
            format!("--at {s:?} is neither Unix seconds nor RFC 3339 (e.g. 2026-01-03T12:00:00Z)")
        })?;
    u64::try_from(t.unix_timestamp())
        .map(UnixTime::from_secs)
        .map_err(|_| format!("--at {s:?} is before 1970"))
}

/// `PATH.partial-PID` beside `path`: where a file or directory is built before it is renamed
/// into place, so a failed command never leaves a half-written output under the real name.
pub(crate) fn temp_sibling(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".partial-{}", std::process::id()));
    path.with_file_name(name)
}

/// Writes `bytes` to [`temp_sibling`] of `path`, then renames it into place. The error says
/// which step failed on which file.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = temp_sibling(path);
    std::fs::write(&tmp, bytes).map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("renaming into place {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_time_forms() {
        assert_eq!(
            parse_time("1767478226").map(|t| t.as_secs()),
            Ok(1_767_478_226)
        );
        assert_eq!(
            parse_time("2026-01-03T22:10:26Z").map(|t| t.as_secs()),
            Ok(1_767_478_226)
        );
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("1960-01-01T00:00:00Z").is_err());
    }
}

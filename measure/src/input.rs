//! The inputs every measurement shares: named files and the kernel command line.

use std::path::Path;

use crate::MeasureError;

/// The bytes of one input file, with the name errors use for it.
///
/// ```
/// use cloister_measure::Input;
/// let kernel = Input::new("vmlinuz", vec![0u8; 16]);
/// assert_eq!(kernel.name(), "vmlinuz");
/// assert_eq!(kernel.bytes().len(), 16);
/// ```
#[derive(Clone, Debug)]
pub struct Input {
    name: String,
    bytes: Vec<u8>,
}

impl Input {
    /// Wraps bytes already in memory; `name` is how errors refer to them.
    pub fn new(name: impl Into<String>, bytes: Vec<u8>) -> Self {
        Self {
            name: name.into(),
            bytes,
        }
    }

    /// Reads a file whole.
    ///
    /// # Errors
    ///
    /// `measure.io` naming the file.
    pub fn read(path: &Path) -> Result<Self, MeasureError> {
        let bytes = std::fs::read(path).map_err(|e| MeasureError::io(path, e))?;
        Ok(Self::new(path.display().to_string(), bytes))
    }

    /// The name errors use.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The contents.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Linux's x86 `COMMAND_LINE_SIZE` (with the NUL), the limit when the kernel does not state its
/// own (boot protocol before 2.06, or a kernel that is not a bzImage).
pub const DEFAULT_CMDLINE_MAX: usize = 2048;

/// A kernel command line: valid UTF-8 without NUL bytes, short enough for the kernel.
///
/// ```
/// use cloister_measure::Cmdline;
/// let c = Cmdline::new("console=ttyS0", 2048)?;
/// assert_eq!(c.as_str(), "console=ttyS0");
/// assert_eq!(Cmdline::new(&"x".repeat(2048), 2048).unwrap_err().code(), "measure.cmdline.too_long");
/// assert_eq!(Cmdline::new("a\0b", 2048).unwrap_err().code(), "measure.cmdline.nul");
/// # Ok::<(), cloister_measure::MeasureError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cmdline(String);

impl Cmdline {
    /// Checks `s` against `max`, the most bytes the kernel takes including the NUL.
    ///
    /// # Errors
    ///
    /// `measure.cmdline.nul`, `measure.cmdline.too_long`.
    pub fn new(s: &str, max: usize) -> Result<Self, MeasureError> {
        Self::with_limit(s, max, format!("the kernel's limit of {max} bytes"))
    }

    pub(crate) fn with_limit(s: &str, max: usize, limit: String) -> Result<Self, MeasureError> {
        if let Some(offset) = s.bytes().position(|b| b == 0) {
            return Err(MeasureError::CmdlineNul { offset });
        }
        let len = s.len() + 1;
        if len > max {
            return Err(MeasureError::CmdlineTooLong { len, max, limit });
        }
        Ok(Self(s.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Parses a size such as `2G`, `2048M`, `512K` or a byte count (binary units).
///
/// ```
/// assert_eq!(cloister_measure::parse_size("--memory", "2G")?, 2 << 30);
/// assert_eq!(cloister_measure::parse_size("--memory", "4096")?, 4096);
/// assert!(cloister_measure::parse_size("--memory", "lots").is_err());
/// # Ok::<(), cloister_measure::MeasureError>(())
/// ```
///
/// # Errors
///
/// `measure.bad_value` naming `setting`.
pub fn parse_size(setting: &'static str, s: &str) -> Result<u64, MeasureError> {
    let bad = |reason: &str| MeasureError::BadValue {
        setting,
        value: s.to_owned(),
        reason: reason.to_owned(),
    };
    let t = s.trim();
    let (num, shift) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 10),
        Some((i, 'M' | 'm')) => (&t[..i], 20),
        Some((i, 'G' | 'g')) => (&t[..i], 30),
        Some((i, 'T' | 't')) => (&t[..i], 40),
        _ => (t, 0),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| bad("not a size: use bytes or a K/M/G/T suffix, e.g. 2G"))?;
    n.checked_mul(1u64 << shift)
        .filter(|&v| v > 0)
        .ok_or_else(|| bad("must be above zero and below 16 EiB"))
}

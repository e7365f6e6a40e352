//! [`LockedBuffer`]: a fixed-size byte buffer whose pages are locked in RAM and which is
//! zeroized before it is freed.

use zeroize::Zeroize;

use crate::inference::ModelError;

/// What to do when memory cannot be locked.
///
/// The default fails closed: unsealing a model larger than `RLIMIT_MEMLOCK` (often 8 MiB, or
/// 64 KiB in containers) is refused with `model.memory_lock`, whose hint says to raise the
/// limit. Unlocked memory is an explicit, `dangerous_`-named choice, for development machines
/// without swap or without the privilege to raise the limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryPolicy {
    dangerous_allow_unlocked: bool,
}

impl MemoryPolicy {
    /// Lock, or refuse (the default).
    pub fn locked() -> Self {
        Self::default()
    }

    /// Lock if the system allows; otherwise use ordinary memory, which the kernel may write to
    /// swap in plaintext. Still zeroized on drop.
    pub fn dangerous_allow_unlocked_memory() -> Self {
        Self {
            dangerous_allow_unlocked: true,
        }
    }
}

/// A zero-filled byte buffer of fixed length, locked in RAM with `mlock` and zeroized on drop
/// (while still locked).
///
/// The locked pages belong to this buffer alone: the usable window starts on a page boundary
/// inside a slightly larger allocation and covers whole pages, so unlocking one buffer never
/// unlocks a page another buffer shares (`munlock` does not nest).
///
/// ```
/// use cloister_enclave::model_store::{LockedBuffer, MemoryPolicy};
/// let mut buf = LockedBuffer::new(1000, MemoryPolicy::dangerous_allow_unlocked_memory())?;
/// buf.as_mut_slice()[..5].copy_from_slice(b"model");
/// assert_eq!(buf.len(), 1000);
/// # Ok::<(), cloister_enclave::inference::ModelError>(())
/// ```
pub struct LockedBuffer {
    // Field order is drop order: Drop::drop wipes `storage` while it is still locked, then the
    // guard unlocks the pages, then `storage` is freed.
    lock: Option<region::LockGuard>,
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl LockedBuffer {
    /// A zeroed buffer of `len` bytes, locked as `policy` says.
    ///
    /// `region::lock` is used because it is a safe function that returns a guard which
    /// `munlock`s on drop; `memsec` and `nix`/`rustix`'s `mlock` are `unsafe fn`s, which the
    /// workspace's `unsafe_code = "forbid"` rules out.
    ///
    /// # Errors
    /// `model.memory_lock` if the pages cannot be locked (typically `RLIMIT_MEMLOCK`) and
    /// `policy` does not allow unlocked memory.
    pub fn new(len: usize, policy: MemoryPolicy) -> Result<Self, ModelError> {
        Self::with_locker(len, policy, region::lock)
    }

    pub(super) fn with_locker(
        len: usize,
        policy: MemoryPolicy,
        locker: impl FnOnce(*const u8, usize) -> region::Result<region::LockGuard>,
    ) -> Result<Self, ModelError> {
        let page = region::page::size().max(1);
        let too_large = || ModelError::MemoryLock {
            len,
            reason: "the size overflows the address space".into(),
        };
        // Whole pages for the window, plus one page of slack to align its start.
        let window = len
            .max(1)
            .checked_next_multiple_of(page)
            .ok_or_else(too_large)?;
        let total = window.checked_add(page).ok_or_else(too_large)?;
        let storage = vec![0u8; total];
        let start = storage.as_ptr().align_offset(page).min(page);
        let lock = match locker(storage[start..].as_ptr(), window) {
            Ok(guard) => Some(guard),
            Err(_) if policy.dangerous_allow_unlocked => {
                tracing::warn!(
                    bytes = len,
                    "memory lock refused; unsealing into unlocked memory as configured"
                );
                None
            }
            Err(e) => {
                return Err(ModelError::MemoryLock {
                    len,
                    reason: e.to_string(),
                });
            }
        };
        Ok(Self {
            lock,
            storage,
            start,
            len,
        })
    }

    /// The buffer.
    pub fn as_slice(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }

    /// The buffer, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }

    /// Its length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether its pages are locked (false only under
    /// [`MemoryPolicy::dangerous_allow_unlocked_memory`]).
    pub fn is_locked(&self) -> bool {
        self.lock.is_some()
    }
}

impl Drop for LockedBuffer {
    fn drop(&mut self) {
        self.storage.zeroize();
    }
}

impl std::fmt::Debug for LockedBuffer {
    /// Length and lock state only, never the contents.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockedBuffer")
            .field("len", &self.len)
            .field("locked", &self.is_locked())
            .finish()
    }
}

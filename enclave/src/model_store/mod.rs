//! Sealed models: verified, decrypted into locked memory, and loaded, all or nothing.
//!
//! A sealed model file ([`cloister_proto::sealed_package`]) is useless without its data key,
//! which the key custodian releases only to an attested enclave. [`unseal_model`] takes the file
//! and the key, and either returns a [`LoadedModel`] whose digest is the one the publisher
//! signed, or a [`ModelError`] naming the check that failed, with no partial model and no
//! plaintext left behind.
//!
//! | module | job |
//! |---|---|
//! | `locked` | [`LockedBuffer`]: page-locked (`mlock`) memory, zeroized on drop |
//! | `unseal` | [`unseal_model`]: verify, decrypt into a [`LockedBuffer`], check, load |
//!
//! What locked memory buys, and what it does not: the decrypted model archive (weights and
//! manifest) is never written to swap while it is decrypted and checked, and is wiped before the
//! buffer is freed. The engine then builds its own tensors from it on the ordinary heap (tract
//! copies weights while it plans the graph); those are not locked. Inside a Nitro enclave there
//! is no swap at all, so the lock matters on SEV-SNP and TDX guests, whose kernels may swap.

mod locked;
#[cfg(test)]
mod tests;
mod unseal;

pub use locked::{LockedBuffer, MemoryPolicy};
pub use unseal::{unseal_model, unseal_model_with};

#[cfg(doc)]
use crate::inference::{LoadedModel, ModelError};

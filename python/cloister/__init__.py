"""Cloister: verify confidential-computing enclaves and run attested inference, from Python.

- :func:`verify`: verify AWS Nitro (and mock), AMD SEV-SNP or Intel TDX evidence and appraise
  its claims against a trust policy, as ``cloister attest verify``.
- :class:`Client` / :class:`AsyncClient`: verify an enclave through its host, then send it an
  encrypted request and check its signed answer, as ``cloister infer``.
- :func:`eif.describe`: an enclave image's PCRs, as ``cloister eif describe --json``.

Errors are :class:`CloisterError` subclasses whose ``code`` is the CLI's stable code.
The work happens in Rust (the cloister crates), with the GIL released.
"""

from __future__ import annotations

from . import eif
from ._claims import (
    Claims,
    NitroClaims,
    PlatformClaims,
    SnpClaims,
    SnpTcb,
    TcbStatus,
    TdxClaims,
    Verification,
)
from ._client import (
    AsyncClient,
    Attestation,
    Client,
    InferenceInput,
    InferenceResult,
    ResultStatement,
    ServedModel,
)
from ._cloister import __version__
from ._errors import (
    AttestationError,
    BundleError,
    CloisterError,
    EifError,
    EnclaveError,
    EvidenceError,
    MockError,
    NitroError,
    PolicyError,
    ResultError,
    SnpError,
    TdxError,
    TransportError,
    UsageError,
)
from ._inputs import FileInput, PolicyInput, TimeInput
from ._verify import Platform, SnpProduct, verify

__all__ = [
    "__version__",
    "verify",
    "Verification",
    "Claims",
    "NitroClaims",
    "SnpClaims",
    "SnpTcb",
    "TdxClaims",
    "PlatformClaims",
    "TcbStatus",
    "Client",
    "AsyncClient",
    "Attestation",
    "ServedModel",
    "ResultStatement",
    "InferenceResult",
    "InferenceInput",
    "eif",
    "CloisterError",
    "AttestationError",
    "NitroError",
    "SnpError",
    "TdxError",
    "MockError",
    "PolicyError",
    "EvidenceError",
    "BundleError",
    "ResultError",
    "EnclaveError",
    "TransportError",
    "EifError",
    "UsageError",
    "FileInput",
    "PolicyInput",
    "TimeInput",
    "Platform",
    "SnpProduct",
]

"""The exception hierarchy. Every exception carries the stable ``code`` the CLI prints.

::

    CloisterError                   .code .message .hint .input_sent
    ├── AttestationError            the evidence or the trust policy rejected the enclave
    │   ├── NitroError              nitro.*  (Nitro and mock documents, their chains)
    │   ├── SnpError                snp.*, policy.snp.*
    │   ├── TdxError                tdx.*, policy.tdx.*
    │   ├── MockError               mock.*
    │   ├── PolicyError             policy.* (binding, freshness, pins, platform not allowed)
    │   ├── EvidenceError           evidence.*  (a bundle that contradicts itself)
    │   └── BundleError             bundle.*  (nonce echo, served-models signature)
    ├── ResultError                 result.*  (a signed result failed a check)
    ├── EnclaveError                the enclave refused the request (inside the channel): .status
    ├── TransportError              client.http, client.ohttp, proto.*: the host or the wire
    ├── EifError                    eif.*  (a bad enclave image)
    └── UsageError (ValueError)     cli.usage, api.misuse, client.bad_host_url, an invalid
                                    policy/chain/collateral argument (its own code)

``AttestationError`` and ``ResultError`` are the CLI's exit code 1 (rejected); the others are
exit code 2. The codes are listed, with what to do about each, in ``docs/errors.md``.
"""

from __future__ import annotations

from typing import Dict, Optional, Type

__all__ = [
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
]


class CloisterError(Exception):
    """Base class of every error the SDK raises."""

    code: str
    """The stable dotted code, the same the CLI prints (e.g. ``"policy.pcr_mismatch"``)."""
    message: str
    """What happened."""
    hint: str
    """What to do about it (may be empty)."""
    input_sent: bool
    """For :meth:`cloister.Client.infer`: whether the input had left the process (encrypted to
    the attested key) when this happened. Always False for verification failures."""

    def __init__(
        self, code: str, message: str, hint: str = "", *, input_sent: bool = False
    ) -> None:
        super().__init__(code, message, hint)
        self.code = code
        self.message = message
        self.hint = hint
        self.input_sent = input_sent

    def __str__(self) -> str:
        text = f"[{self.code}] {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (_rebuild, (type(self), self.code, self.message, self.hint, self.input_sent))


def _rebuild(
    cls: Type[CloisterError], code: str, message: str, hint: str, input_sent: bool
) -> CloisterError:
    return cls(code, message, hint, input_sent=input_sent)


class AttestationError(CloisterError):
    """The evidence did not verify, or the trust policy refused it (the CLI's exit code 1)."""


class NitroError(AttestationError):
    """An AWS Nitro (or mock) attestation document: envelope, payload, chain, root pin."""


class SnpError(AttestationError):
    """An AMD SEV-SNP report: signature, VCEK/VLEK chain, CRL, or the SEV-SNP policy."""


class TdxError(AttestationError):
    """An Intel TDX quote: signatures, PCK chain, collateral, TCB, or the TDX policy."""


class MockError(AttestationError):
    """The mock platform's files or keys."""


class PolicyError(AttestationError):
    """The trust policy refused verified evidence (platform not allowed, workload or model not
    pinned, binding mismatch, debug, freshness)."""


class EvidenceError(AttestationError):
    """An evidence bundle that contradicts itself (e.g. claims one platform, is another)."""


class BundleError(AttestationError):
    """The evidence bundle contradicts our request (another nonce, unsigned served models)."""


class ResultError(CloisterError):
    """A signed result failed a check (signature, a hash, the model, the time)."""


class EnclaveError(CloisterError):
    """The enclave refused the request inside the encrypted channel."""

    status: Optional[int]
    """The enclave's inner HTTP status."""

    def __init__(
        self,
        code: str,
        message: str,
        hint: str = "",
        *,
        input_sent: bool = False,
        status: Optional[int] = None,
    ) -> None:
        super().__init__(code, message, hint, input_sent=input_sent)
        self.status = status


class TransportError(CloisterError):
    """The host could not be reached, answered with an HTTP error or a malformed message, or
    OHTTP failed."""


class EifError(CloisterError):
    """An enclave image file that is not a valid EIF (structure, CRC, signature)."""


class UsageError(CloisterError, ValueError):
    """An argument that can never be valid (the CLI's exit code 2)."""


_BY_KIND: Dict[str, Type[CloisterError]] = {
    "nitro": NitroError,
    "snp": SnpError,
    "tdx": TdxError,
    "mock": MockError,
    "policy": PolicyError,
    "evidence": EvidenceError,
    "bundle": BundleError,
    "result": ResultError,
    "enclave": EnclaveError,
    "transport": TransportError,
    "eif": EifError,
    "usage": UsageError,
}


def from_native(
    kind: str,
    code: str,
    message: str,
    hint: str,
    status: Optional[int],
    input_sent: bool,
) -> CloisterError:
    """The exception for a failure reported by the native module (called from Rust)."""
    if kind == "cert":
        # An X.509 check: its code names the chain, and so the platform (nitro.chain.*,
        # snp.cert.*, tdx.cert.*).
        kind = code.split(".", 1)[0]
    cls = _BY_KIND.get(kind, CloisterError)
    if cls is EnclaveError:
        return EnclaveError(code, message, hint, input_sent=input_sent, status=status)
    return cls(code, message, hint, input_sent=input_sent)

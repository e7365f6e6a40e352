"""Type stubs of the native module (python/src/*.rs). Use the ``cloister`` package instead:
these functions take plain bytes and return JSON text."""

from typing import Optional, Tuple

__version__: str

def verify(
    evidence: bytes,
    platform: str,
    at: int,
    *,
    policy: Optional[bytes] = None,
    root: Optional[bytes] = None,
    vcek: Optional[bytes] = None,
    chain: Optional[bytes] = None,
    crl: Optional[bytes] = None,
    product: Optional[str] = None,
    collateral: Optional[bytes] = None,
    allow_debug: bool = False,
    allow_unknown_tcb: bool = False,
) -> Tuple[str, str, bool]:
    """Verifies and appraises evidence (GIL released); ``(claims_json, evidence_sha384,
    workload_pinned)``."""

def describe(*, path: Optional[str] = None, image: Optional[bytes] = None) -> str:
    """The ``cloister eif describe --json`` document of an image (GIL released)."""

class NativeClient:
    """A connection to one host under one trust policy."""

    def __init__(self, host_url: str, policy: bytes, mock_root: Optional[bytes] = None) -> None: ...
    def attest(self) -> str:
        """The verified enclave, as JSON."""
    def infer(self, model: str, input: bytes) -> Tuple[bytes, str]:
        """``(output, result_json)`` of a verified inference."""

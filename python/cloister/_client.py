"""``cloister.Client`` and ``cloister.AsyncClient``: attested inference, as ``cloister infer``."""

from __future__ import annotations

import asyncio
import functools
import json
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, TypeVar, Union

from . import _cloister
from ._claims import Claims
from ._errors import UsageError
from ._inputs import FileInput, PolicyInput, read_optional, read_policy

__all__ = [
    "Client",
    "AsyncClient",
    "Attestation",
    "ServedModel",
    "ResultStatement",
    "InferenceResult",
    "InferenceInput",
]

InferenceInput = Union[bytes, bytearray, memoryview, str, Mapping[str, Any]]
"""The request body: JSON as ``bytes`` or ``str``, or a ``dict`` (serialized as JSON)."""


@dataclass(frozen=True)
class ServedModel:
    """A model the enclave says, under its attested signing key, that it serves."""

    id: str
    version: str
    sha384: str
    """SHA-384 of the model's bytes, hex: what every result of it names."""

    def to_dict(self) -> Dict[str, Any]:
        """The JSON form."""
        return {"id": self.id, "version": self.version, "sha384": self.sha384}


@dataclass(frozen=True)
class Attestation:
    """An enclave whose evidence verified (bound to a fresh nonce of ours) and passed policy."""

    claims: Claims
    """The appraised claims."""
    evidence_sha384: str
    """SHA-384 over the signed extent of the evidence, hex."""
    kem_pub: str
    """The attested X25519 key requests are encrypted to, hex."""
    sig_pub: str
    """The attested Ed25519 key results are signed with, hex."""
    served_models: List[ServedModel]
    """The models the enclave serves, signed by ``sig_pub``."""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Attestation":
        """Builds the attestation from its JSON form."""
        return cls(
            claims=Claims.from_dict(d["claims"]),
            evidence_sha384=d["evidence_sha384"],
            kem_pub=d["kem_pub"],
            sig_pub=d["sig_pub"],
            served_models=[ServedModel(**m) for m in d["served_models"]],
        )

    def to_dict(self) -> Dict[str, Any]:
        """The JSON form."""
        return {
            "claims": self.claims.to_dict(),
            "evidence_sha384": self.evidence_sha384,
            "kem_pub": self.kem_pub,
            "sig_pub": self.sig_pub,
            "served_models": [m.to_dict() for m in self.served_models],
        }


@dataclass(frozen=True)
class ResultStatement:
    """What the enclave signed: every hash the caller checked (all hex), the model, the time."""

    version: int
    request_sha384: str
    """SHA-384 of the Binary HTTP request we sent (checked)."""
    output_sha384: str
    """SHA-384 of the output we received (checked)."""
    model_id: str
    model_sha384: str
    """SHA-384 of the model that ran: the one the attested served-models list names (checked)."""
    evidence_sha384: str
    """SHA-384 of the evidence we verified before sending (checked)."""
    issued_at: int
    """Enclave time of signing, Unix seconds (checked against our clock)."""

    def to_dict(self) -> Dict[str, Any]:
        """The JSON form."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class InferenceResult:
    """A result whose signature by the attested key, and every hash in it, checked out."""

    output: bytes
    """The model's output (JSON bytes)."""
    statement: ResultStatement
    """The signed statement."""
    signature: str
    """The enclave's Ed25519 signature over the statement, hex."""
    attestation: Attestation
    """The enclave the request was sent to, as verified just before."""

    @property
    def claims(self) -> Claims:
        """The appraised claims of the enclave that answered."""
        return self.attestation.claims

    def json(self) -> Any:
        """The output, parsed as JSON."""
        return json.loads(self.output)

    def to_dict(self) -> Dict[str, Any]:
        """The JSON form (the output parsed as JSON when it is JSON, else as text)."""
        try:
            output: Any = self.json()
        except ValueError:
            output = self.output.decode("utf-8", "replace")
        return {
            "output": output,
            "statement": self.statement.to_dict(),
            "signature": self.signature,
            "attestation": self.attestation.to_dict(),
        }


def _encode_input(value: InferenceInput) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, Mapping):
        return json.dumps(value).encode()
    raise TypeError(f"input must be bytes, str or a dict, not {type(value).__name__}")


class Client:
    """A caller's connection to one Cloister host, under one trust policy.

    Every call verifies first: :meth:`infer` fetches evidence bound to a fresh nonce, verifies
    it (signature, chain to a pinned root now, key binding) and appraises it against the policy,
    checks the model pins, and only then encrypts the input to the attested key (Oblivious
    HTTP) and sends it through the host; the answer is opened and its signature and hashes
    checked. If verification fails, the input never leaves the process. The GIL is released
    while the network and the verifier work, so other threads run.

    Args:
        host_url: the host's base URL, e.g. ``http://127.0.0.1:8080``.
        policy: the trust policy (path, JSON bytes or dict): the platforms you accept and the
            workload each must run (``cloister eif describe --policy``, ``cloister mock init``).
        mock_root: for enclaves on the mock platform: the mock root certificate (PEM, path or
            bytes); the policy's mock entry must name its SHA-256.

    Raises:
        UsageError: an invalid policy, root or URL.
    """

    def __init__(
        self,
        host_url: str,
        policy: PolicyInput,
        *,
        mock_root: Optional[FileInput] = None,
    ) -> None:
        policy_bytes = read_policy(policy)
        if policy_bytes is None:
            raise UsageError(
                "cli.usage",
                "policy= is required: it decides which enclaves your input may reach ({} trusts none)",
            )
        self._native = _cloister.NativeClient(host_url, policy_bytes, read_optional(mock_root, "mock_root"))
        self.host_url = host_url

    def attest(self) -> Attestation:
        """Fetches evidence bound to a fresh nonce of ours, verifies it and appraises it.

        Raises:
            AttestationError: the evidence or the policy rejected the enclave.
            TransportError: the host could not be reached or sent something malformed.
        """
        return Attestation.from_dict(json.loads(self._native.attest()))

    def infer(self, model: str, input: InferenceInput) -> InferenceResult:
        """Verifies the enclave, then runs ``model`` on ``input`` in it and checks the result.

        Args:
            model: the model id, e.g. ``"credit-risk-v1"``.
            input: the request body (JSON bytes or str, or a dict).

        Returns:
            The :class:`InferenceResult`: the output, the signed statement, the signature and
            the attestation it was checked against.

        Raises:
            AttestationError: before anything was sent (``input_sent`` is False).
            ResultError: the signed result failed a check (the input was sent, encrypted).
            EnclaveError: the enclave refused the request (e.g. an unknown model or bad input).
            TransportError: the host could not be reached or answered with an error.
        """
        output, text = self._native.infer(model, _encode_input(input))
        d = json.loads(text)
        return InferenceResult(
            output=output,
            statement=ResultStatement(**d["statement"]),
            signature=d["signature"],
            attestation=Attestation.from_dict(d["enclave"]),
        )

    def __repr__(self) -> str:
        return f"cloister.Client({self.host_url!r})"


_T = TypeVar("_T")


class AsyncClient:
    """:class:`Client` for ``asyncio``: the same calls, awaitable.

    Each call runs the blocking client in the event loop's default executor (a thread); the
    native code releases the GIL, so the loop and other calls keep running meanwhile.
    """

    def __init__(
        self,
        host_url: str,
        policy: PolicyInput,
        *,
        mock_root: Optional[FileInput] = None,
    ) -> None:
        self._client = Client(host_url, policy, mock_root=mock_root)

    async def _run(self, fn: Callable[..., _T], *args: Any) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(fn, *args))

    async def attest(self) -> Attestation:
        """Awaitable :meth:`Client.attest`."""
        return await self._run(self._client.attest)

    async def infer(self, model: str, input: InferenceInput) -> InferenceResult:
        """Awaitable :meth:`Client.infer`."""
        return await self._run(self._client.infer, model, input)

    def __repr__(self) -> str:
        return f"cloister.AsyncClient({self._client.host_url!r})"

"""``cloister.verify``."""

from __future__ import annotations

import json
from typing import Literal, Optional

from . import _cloister
from ._claims import Claims, Verification
from ._inputs import FileInput, PolicyInput, TimeInput, read_file, read_optional, read_policy, unix_seconds

Platform = Literal["nitro", "mock", "snp", "sev-snp", "tdx", "auto"]
"""Which verifier to use: ``"nitro"`` (also mock documents, whose root decides), ``"snp"``
(``"sev-snp"``), ``"tdx"``, or ``"auto"`` (Nitro-format documents)."""

SnpProduct = Literal["milan", "genoa", "turin"]


def verify(
    evidence: FileInput,
    platform: Platform,
    *,
    at: Optional[TimeInput] = None,
    policy: Optional[PolicyInput] = None,
    vcek: Optional[FileInput] = None,
    chain: Optional[FileInput] = None,
    collateral: Optional[FileInput] = None,
    allow_debug: bool = False,
    root: Optional[FileInput] = None,
    crl: Optional[FileInput] = None,
    product: Optional[SnpProduct] = None,
    allow_unknown_tcb: bool = False,
) -> Verification:
    """Verifies attestation evidence and appraises its claims, as ``cloister attest verify``.

    The signature and the certificate chain to a pinned root are checked at ``at`` (default:
    now), then the claims are appraised by ``policy`` — the platforms you accept and the
    workload each must run — or, without one, by the platform's defaults with **no workload
    pinned** (any genuine enclave of that platform passes; ``workload_pinned`` is then False).
    No key binding is checked: this call does not know the enclave's keys (:class:`Client`
    does).

    Args:
        evidence: the document, report or quote: raw bytes, hex or base64 (detected), or a path.
        platform: ``"nitro"``, ``"mock"``, ``"snp"`` / ``"sev-snp"``, ``"tdx"`` or ``"auto"``.
        at: verification time: Unix seconds, an aware ``datetime``, or Unix seconds / RFC 3339
            as a string. Default: now.
        policy: trust policy (a path, JSON bytes or a dict), as written by
            ``cloister eif describe --policy`` or ``cloister mock init``.
        vcek: SEV-SNP: the VCEK or VLEK certificate that signed the report (DER or PEM). Required
            for ``"snp"``.
        chain: SEV-SNP: the ASK (or ASVK) and ARK, PEM. Default: the built-in certificates.
        collateral: TDX: DCAP collateral (QuoteCollateralV3 JSON). Without it the TCB status is
            unknown, which the default policy refuses.
        allow_debug: without ``policy``: accept debug enclaves (never for production).
        root: Nitro: an extra trusted root (PEM), e.g. the mock root of ``cloister mock init``.
        crl: SEV-SNP: an AMD CRL (PEM or DER) signed by the ARK.
        product: SEV-SNP: the product, for v2 reports (which carry no CPUID).
        allow_unknown_tcb: TDX, without ``policy``: accept a quote verified without collateral.

    Returns:
        The :class:`Verification`: its ``claims``, the evidence digest and whether a workload was
        pinned. ``to_dict()`` is the object ``cloister attest verify --json`` prints.

    Raises:
        AttestationError: a subclass per layer (:class:`NitroError`, :class:`SnpError`,
            :class:`TdxError`, :class:`PolicyError`, …) whose ``code`` is the CLI's.
        UsageError: an argument that can never be valid (e.g. ``vcek`` for ``"tdx"``).
        OSError: a path that cannot be read.
    """
    secs = unix_seconds(at)
    claims_json, digest, pinned = _cloister.verify(
        read_file(evidence, "evidence"),
        platform,
        secs,
        policy=read_policy(policy),
        root=read_optional(root, "root"),
        vcek=read_optional(vcek, "vcek"),
        chain=read_optional(chain, "chain"),
        crl=read_optional(crl, "crl"),
        product=product,
        collateral=read_optional(collateral, "collateral"),
        allow_debug=allow_debug,
        allow_unknown_tcb=allow_unknown_tcb,
    )
    return Verification(
        claims=Claims.from_dict(json.loads(claims_json)),
        at=secs,
        evidence_sha384=digest,
        workload_pinned=pinned,
    )

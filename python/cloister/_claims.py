"""Typed claims: the normalized content of verified evidence (``docs/claims.md``).

Every class here is a frozen dataclass built only from what the Rust verifier returned, with
``to_dict()`` giving back exactly the JSON that ``cloister attest verify --json`` prints. Byte
strings are lowercase hex, as in the JSON.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Union

__all__ = [
    "TcbStatus",
    "NitroClaims",
    "SnpTcb",
    "SnpClaims",
    "TdxClaims",
    "PlatformClaims",
    "Claims",
    "Verification",
]


class TcbStatus(str, enum.Enum):
    """What is known about the platform's trusted computing base, on one scale for every
    platform (``tcb_status`` in ``docs/claims.md``). A ``str``, so it compares equal to its
    JSON value."""

    NOT_REPORTED = "not_reported"
    VENDOR_CERTIFIED = "vendor_certified"
    UNKNOWN = "unknown"
    UP_TO_DATE = "up_to_date"
    SW_HARDENING_NEEDED = "sw_hardening_needed"
    CONFIGURATION_NEEDED = "configuration_needed"
    CONFIGURATION_AND_SW_HARDENING_NEEDED = "configuration_and_sw_hardening_needed"
    TD_RELAUNCH_ADVISED = "td_relaunch_advised"
    TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED = "td_relaunch_advised_configuration_needed"
    OUT_OF_DATE = "out_of_date"
    OUT_OF_DATE_CONFIGURATION_NEEDED = "out_of_date_configuration_needed"
    REVOKED = "revoked"

    def __str__(self) -> str:
        return self.value


def _plain(value: Any) -> Any:
    """A dataclass field's value as JSON data."""
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return value.to_dict()  # type: ignore[attr-defined]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class _Record:
    """``to_dict`` / ``from_dict`` for a flat dataclass. Fields the Rust side adds later are
    kept in ``extra`` (and given back by ``to_dict``) instead of failing."""

    extra: Dict[str, Any]

    def to_dict(self) -> Dict[str, Any]:
        """The JSON form, key for key."""
        out: Dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if f.name != "extra":
                out[f.name] = _plain(getattr(self, f.name))
        out.update(self.extra)
        return out

    @classmethod
    def _split(cls, data: Mapping[str, Any]) -> Dict[str, Any]:
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}  # type: ignore[arg-type]
        known = {k: v for k, v in data.items() if k in names}
        known["extra"] = {k: v for k, v in data.items() if k not in names}
        return known


@dataclass(frozen=True)
class NitroClaims(_Record):
    """An AWS Nitro (or mock) attestation document's own fields."""

    module_id: str
    """The NSM module id (``i-…-enc…`` on AWS)."""
    timestamp_ms: int
    """When the NSM signed the document, milliseconds since the epoch."""
    pcrs: Dict[int, str]
    """PCR index → hex value."""
    user_data: Optional[str]
    """``user_data`` (the key binding, for Cloister enclaves), hex."""
    nonce: Optional[str]
    """``nonce``, hex."""
    public_key: Optional[str]
    """``public_key``, hex."""
    extra: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "NitroClaims":
        """Builds the claims from their JSON form."""
        d = cls._split(data)
        d["pcrs"] = {int(k): v for k, v in d["pcrs"].items()}
        return cls(**d)

    def to_dict(self) -> Dict[str, Any]:
        out = super().to_dict()
        out["pcrs"] = {str(k): v for k, v in sorted(self.pcrs.items())}
        return out


@dataclass(frozen=True)
class SnpTcb(_Record):
    """A SEV-SNP TCB_VERSION: the security patch level of each component."""

    fmc: Optional[int]
    """FMC SPL (Turin only)."""
    bootloader: int
    tee: int
    snp: int
    microcode: int
    extra: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SnpTcb":
        """Builds the TCB version from its JSON form."""
        return cls(**cls._split(data))


@dataclass(frozen=True)
class SnpClaims(_Record):
    """An AMD SEV-SNP report's own fields (``platform_claims["sev-snp"]``)."""

    version: int
    product: str
    """``"Milan"``, ``"Genoa"`` or ``"Turin"``: the ARK the chain ends in."""
    product_name: Optional[str]
    signer: str
    """``"vcek"`` or ``"vlek"``."""
    policy: str
    smt_allowed: bool
    migration_agent_allowed: bool
    vmpl: int
    guest_svn: int
    measurement: str
    host_data: str
    id_key_digest: str
    author_key_digest: str
    family_id: str
    image_id: str
    report_id: str
    report_id_ma: str
    author_key_en: bool
    mask_chip_key: bool
    chip_id: str
    platform_info: str
    reported_tcb: SnpTcb
    current_tcb: SnpTcb
    committed_tcb: SnpTcb
    launch_tcb: SnpTcb
    current_version: str
    committed_version: str
    launch_mit_vector: Optional[str]
    current_mit_vector: Optional[str]
    extra: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SnpClaims":
        """Builds the claims from their JSON form."""
        d = cls._split(data)
        for k in ("reported_tcb", "current_tcb", "committed_tcb", "launch_tcb"):
            d[k] = SnpTcb.from_dict(d[k])
        return cls(**d)


@dataclass(frozen=True)
class TdxClaims(_Record):
    """An Intel TDX quote's own fields (``platform_claims.tdx``)."""

    quote_version: int
    body: str
    """``"TD 1.0"`` or ``"TD 1.5"``."""
    tee_tcb_svn: str
    mr_seam: str
    mr_signer_seam: str
    seam_attributes: str
    td_attributes: str
    xfam: str
    mr_td: str
    mr_config_id: str
    mr_owner: str
    mr_owner_config: str
    rtmr: List[str]
    report_data: str
    tee_tcb_svn2: Optional[str]
    mr_service_td: Optional[str]
    fmspc: str
    pce_svn: int
    sept_ve_disable: bool
    tcb_status: Optional[str]
    """Intel's name for the matched TCB level's status (``"UpToDate"``), or ``None`` without
    collateral."""
    tcb_date: Optional[str]
    advisory_ids: List[str]
    extra: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TdxClaims":
        """Builds the claims from their JSON form."""
        return cls(**cls._split(data))


PlatformClaims = Union[NitroClaims, SnpClaims, TdxClaims]
"""The platform's own claims: Nitro (also for mock), SEV-SNP or TDX."""

def _platform_claims(tag: str, inner: Mapping[str, Any]) -> PlatformClaims:
    if tag == "nitro":
        return NitroClaims.from_dict(inner)
    if tag == "sev-snp":
        return SnpClaims.from_dict(inner)
    if tag == "tdx":
        return TdxClaims.from_dict(inner)
    raise ValueError(f"unknown platform_claims tag {tag!r}")


@dataclass(frozen=True)
class Claims:
    """The normalized claims of verified evidence, the same shape on every platform."""

    platform: str
    """The platform whose root the evidence chains to: ``"nitro"``, ``"mock"``,
    ``"sev-snp"`` or ``"tdx"`` (not what the sender claimed)."""
    workload_measurement: str
    """What a trust policy pins first, hex: PCR0 (Nitro, mock), MEASUREMENT (SEV-SNP), MRTD
    (TDX)."""
    key_binding: Optional[str]
    """The bytes that carry the key binding, hex (``None`` for a Nitro document without
    ``user_data``)."""
    debug: bool
    """True when the host can read the guest's memory."""
    tcb_status: TcbStatus
    root_sha256: str
    """SHA-256 of the DER root certificate the chain ends in, hex."""
    platform_claims: PlatformClaims

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Claims":
        """Builds claims from their JSON form (a value to display or compare, not evidence)."""
        ((tag, inner),) = data["platform_claims"].items()
        return cls(
            platform=data["platform"],
            workload_measurement=data["workload_measurement"],
            key_binding=data["key_binding"],
            debug=data["debug"],
            tcb_status=TcbStatus(data["tcb_status"]),
            root_sha256=data["root_sha256"],
            platform_claims=_platform_claims(tag, inner),
        )

    @property
    def nitro(self) -> Optional[NitroClaims]:
        """The Nitro (or mock) document's fields, or ``None`` on another platform."""
        pc = self.platform_claims
        return pc if isinstance(pc, NitroClaims) else None

    @property
    def snp(self) -> Optional[SnpClaims]:
        """The SEV-SNP report's fields, or ``None`` on another platform."""
        pc = self.platform_claims
        return pc if isinstance(pc, SnpClaims) else None

    @property
    def tdx(self) -> Optional[TdxClaims]:
        """The TDX quote's fields, or ``None`` on another platform."""
        pc = self.platform_claims
        return pc if isinstance(pc, TdxClaims) else None

    def to_dict(self) -> Dict[str, Any]:
        """The JSON form, as ``cloister attest verify --json`` prints it under ``"claims"``."""
        tag = {NitroClaims: "nitro", SnpClaims: "sev-snp", TdxClaims: "tdx"}[
            type(self.platform_claims)
        ]
        return {
            "platform": self.platform,
            "workload_measurement": self.workload_measurement,
            "key_binding": self.key_binding,
            "debug": self.debug,
            "tcb_status": self.tcb_status.value,
            "root_sha256": self.root_sha256,
            "platform_claims": {tag: self.platform_claims.to_dict()},
        }


@dataclass(frozen=True)
class Verification:
    """What :func:`cloister.verify` returns: the evidence verified and its claims passed the
    trust policy at ``at``."""

    claims: Claims
    """The appraised claims."""
    at: int
    """The verification time, Unix seconds."""
    evidence_sha384: str
    """SHA-384 over the signed extent of the evidence, hex: what results and key releases name."""
    workload_pinned: bool
    """False when no policy was given: then any genuine enclave of the platform passes."""

    def to_dict(self) -> Dict[str, Any]:
        """The object ``cloister attest verify --json`` prints for accepted evidence."""
        return {
            "verdict": "accepted",
            "at": self.at,
            "claims": self.claims.to_dict(),
            "workload_pinned": self.workload_pinned,
            "evidence_sha384": self.evidence_sha384,
        }

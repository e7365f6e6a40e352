"""Nitro Enclave Image Format files: ``cloister.eif.describe``."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Dict, Optional, Union

from . import _cloister

__all__ = ["describe", "EifDescription", "EifMeasurements"]


@dataclass(frozen=True)
class EifMeasurements:
    """The image's hash algorithm and PCRs (hex)."""

    hash_algorithm: str
    """``"Sha384 { ... }"``, the string nitro-cli prints."""
    pcr0: str
    """The whole image (kernel, command line, ramdisks): what a Nitro policy pins."""
    pcr1: str
    """The kernel and bootstrap ramdisk."""
    pcr2: str
    """The application ramdisks."""
    pcr8: Optional[str]
    """The signing certificate, for a signed image."""

    def to_dict(self) -> Dict[str, Any]:
        """The ``Measurements`` object of ``cloister eif describe --json``."""
        out: Dict[str, Any] = {
            "HashAlgorithm": self.hash_algorithm,
            "PCR0": self.pcr0,
            "PCR1": self.pcr1,
            "PCR2": self.pcr2,
        }
        if self.pcr8 is not None:
            out["PCR8"] = self.pcr8
        return out


@dataclass(frozen=True)
class EifDescription:
    """What ``cloister eif describe --json`` (and ``nitro-cli describe-eif``) says of an image.

    ``to_dict()`` gives that JSON document key for key; the attributes are the same fields in
    snake_case.
    """

    eif_version: int
    measurements: EifMeasurements
    is_signed: bool
    signing_certificate: Optional[Dict[str, Any]]
    """The signing certificate's summary, for a signed image."""
    check_crc: bool
    """Always True: a bad CRC raises :class:`cloister.EifError` instead."""
    signature_check: Optional[bool]
    """For a signed image, whether the signature verified (False: do not trust the PCRs' signer;
    the CLI exits 1). ``None`` for an unsigned image."""
    arm_kernel: bool
    image_name: str
    image_version: str
    metadata: Dict[str, Any]
    """Build metadata, Docker info and custom metadata, as in the JSON."""

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "EifDescription":
        """Builds the description from the ``describe --json`` document."""
        m = d["Measurements"]
        return cls(
            eif_version=d["EifVersion"],
            measurements=EifMeasurements(
                hash_algorithm=m["HashAlgorithm"],
                pcr0=m["PCR0"],
                pcr1=m["PCR1"],
                pcr2=m["PCR2"],
                pcr8=m.get("PCR8"),
            ),
            is_signed=d["IsSigned"],
            signing_certificate=d.get("SigningCertificate"),
            check_crc=d["CheckCRC"],
            signature_check=d.get("SignatureCheck"),
            arm_kernel=d["ArmKernel"],
            image_name=d["ImageName"],
            image_version=d["ImageVersion"],
            metadata=d["Metadata"],
        )

    def to_dict(self) -> Dict[str, Any]:
        """The ``cloister eif describe --json`` document."""
        out: Dict[str, Any] = {
            "EifVersion": self.eif_version,
            "Measurements": self.measurements.to_dict(),
            "IsSigned": self.is_signed,
        }
        if self.signing_certificate is not None:
            out["SigningCertificate"] = self.signing_certificate
        out["CheckCRC"] = self.check_crc
        if self.signature_check is not None:
            out["SignatureCheck"] = self.signature_check
        out["ArmKernel"] = self.arm_kernel
        out["ImageName"] = self.image_name
        out["ImageVersion"] = self.image_version
        out["Metadata"] = self.metadata
        return out


def describe(image: Union[bytes, bytearray, memoryview, str, "os.PathLike[str]"]) -> EifDescription:
    """Checks an enclave image (structure, CRCs, signature) and measures it.

    Args:
        image: the image's path (``str`` or ``pathlib.Path``; read as a stream, so images of
            any size are fine) or its bytes.

    Returns:
        The :class:`EifDescription`, with the same fields as ``cloister eif describe --json``.

    Raises:
        EifError: the file is not a valid EIF (``code`` as the CLI prints it, e.g.
            ``eif.bad_magic``).
        OSError: the path cannot be read.
    """
    if isinstance(image, (bytes, bytearray, memoryview)):
        text = _cloister.describe(image=bytes(image))
    else:
        path = os.fspath(image)
        os.stat(path)  # a missing file is FileNotFoundError, as everywhere in Python
        text = _cloister.describe(path=path)
    return EifDescription.from_dict(json.loads(text))

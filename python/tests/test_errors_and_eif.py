"""Each error class raised with its code (the system test covers the Client's: PolicyError,
BundleError, EnclaveError, TransportError); `cloister.eif.describe` against the CLI; the
argument forms; verification from several threads at once."""

from __future__ import annotations

import concurrent.futures
import datetime
import json
import pathlib
import pickle
import subprocess
from typing import Any, Callable, Type

import pytest

import cloister
from cloister import _errors
from conftest import CLI, FIXTURES, need_path

NITRO_DOC = FIXTURES / "nitro" / "evervault+attestation-doc-validation" / "valid-attestation-doc-bytes.cbor"
NITRO_AT = 1_665_651_500
SNP = FIXTURES / "snp" / "virtee-sev"
TDX = FIXTURES / "tdx" / "Phala-Network-dcap-qvl"
EIF = FIXTURES / "eif"


def raises(cls: Type[cloister.CloisterError], code: str, call: Callable[[], Any]) -> cloister.CloisterError:
    with pytest.raises(cls) as e:
        call()
    assert e.value.code == code, e.value
    assert isinstance(e.value, cloister.CloisterError)
    assert code in str(e.value)
    return e.value


def test_nitro_error() -> None:
    doc = need_path(NITRO_DOC, "Nitro fixture")
    e = raises(cloister.NitroError, "nitro.chain.not_yet_valid", lambda: cloister.verify(doc, "nitro", at=1))
    assert isinstance(e, cloister.AttestationError) and e.hint
    raises(cloister.NitroError, "nitro.cose.malformed", lambda: cloister.verify(b"\x00" * 16, "nitro"))


def test_snp_error() -> None:
    report, vcek = need_path(SNP / "report_milan.hex", "SEV-SNP fixture"), SNP / "vcek_milan.der"
    raises(cloister.SnpError, "snp.cert.expired",
           lambda: cloister.verify(report, "snp", vcek=vcek, at="2030-05-01T00:00:00Z"))
    raises(cloister.SnpError, "snp.chain.product_mismatch",
           lambda: cloister.verify(report, "sev-snp", vcek=vcek, at="2025-01-01T00:00:00Z", product="genoa"))
    ok = cloister.verify(report, "snp", vcek=vcek.read_bytes(), at=datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc))
    assert ok.claims.snp is not None and ok.claims.snp.product == "Milan"
    assert ok.claims.tcb_status == "vendor_certified"


def test_tdx_error() -> None:
    quote, coll = need_path(TDX / "tdx_quote", "TDX fixture"), TDX / "tdx_quote_collateral.json"
    raises(cloister.TdxError, "tdx.crl.outdated",
           lambda: cloister.verify(quote, "tdx", collateral=coll, at="2025-07-20T00:00:00Z"))
    raises(cloister.TdxError, "policy.tdx.tcb_unknown",
           lambda: cloister.verify(str(quote), "tdx", at="2025-07-01T00:00:00Z"))
    ok = cloister.verify(quote, "tdx", collateral=coll, at="2025-07-01T00:00:00Z")
    assert ok.claims.tcb_status is cloister.TcbStatus.UP_TO_DATE
    assert ok.claims.tdx is not None and ok.claims.tdx.tcb_status == "UpToDate"


def test_policy_error_and_a_pinned_workload() -> None:
    doc = need_path(NITRO_DOC, "Nitro fixture")
    tdx_only = {"tdx": {"mr_td": "00" * 48, "rtmr0": "00" * 48, "rtmr1": "00" * 48, "rtmr2": "00" * 48}}
    raises(cloister.PolicyError, "policy.platform_not_allowed",
           lambda: cloister.verify(doc, "nitro", at=NITRO_AT, policy=tdx_only))
    raises(cloister.PolicyError, "policy.pcr_mismatch",
           lambda: cloister.verify(doc, "nitro", at=NITRO_AT, policy={"nitro": {"pcrs": {"0": "42" * 48}}}))
    pcr0 = cloister.verify(doc, "nitro", at=NITRO_AT).claims.workload_measurement
    pinned = cloister.verify(doc, "nitro", at=NITRO_AT, policy=json.dumps({"nitro": {"pcrs": {"0": pcr0}}}).encode())
    assert pinned.workload_pinned


def test_usage_errors_carry_the_cli_code() -> None:
    doc = need_path(NITRO_DOC, "Nitro fixture")
    e = raises(cloister.UsageError, "cli.usage", lambda: cloister.verify(doc, "tdx", vcek=b"x"))
    assert isinstance(e, ValueError)
    raises(cloister.UsageError, "cli.usage", lambda: cloister.verify(doc, "snp"))
    raises(cloister.UsageError, "cli.usage", lambda: cloister.verify(doc, "sgx"))  # type: ignore[arg-type]
    raises(cloister.UsageError, "cli.usage",
           lambda: cloister.verify(doc, "nitro", policy={"nitro": {}}, allow_debug=True))
    raises(cloister.UsageError, "policy.invalid", lambda: cloister.verify(doc, "nitro", policy={"nitro": {}}))
    raises(cloister.UsageError, "cli.usage", lambda: cloister.verify(doc, "nitro", at="yesterday"))
    raises(cloister.UsageError, "cli.usage", lambda: cloister.verify(doc, "nitro", at=datetime.datetime(2022, 10, 13)))
    with pytest.raises(FileNotFoundError):
        cloister.verify(pathlib.Path("/nonexistent/evidence.cbor"), "nitro")
    raises(cloister.UsageError, "cli.usage", lambda: cloister.Client("http://127.0.0.1:9", None))  # type: ignore[arg-type]
    raises(cloister.UsageError, "policy.invalid", lambda: cloister.Client("http://127.0.0.1:9", {"mock": {}}))


def test_eif_error_and_describe_matches_the_cli() -> None:
    raises(cloister.EifError, "eif.truncated", lambda: cloister.eif.describe(b"\x00" * 100))
    with pytest.raises(FileNotFoundError):
        cloister.eif.describe("/nonexistent.eif")
    for name in ("signed.eif", "unsigned.eif", "single_ramdisk.eif"):
        image = need_path(EIF / name, "EIF fixture")
        d = cloister.eif.describe(image)
        assert d.to_dict() == cloister.eif.describe(image.read_bytes()).to_dict()
        assert d.is_signed == (name == "signed.eif")
        assert (d.measurements.pcr8 is not None) == d.is_signed
        if CLI.exists():
            r = subprocess.run([str(CLI), "eif", "describe", str(image), "--json"],
                               capture_output=True, text=True, timeout=60)
            assert json.loads(r.stdout) == d.to_dict()
        # The fixture's own record of nitro-cli's PCRs.
        recorded = json.loads((EIF / f"{name}_inspect.json").read_text())
        assert recorded["PCR0"] == d.measurements.pcr0


def test_every_layer_maps_to_its_class() -> None:
    """The classes the native side can name, including those no fixture reaches here
    (MockError: the mock CA's files; EvidenceError: a bundle relabelled by the host;
    ResultError: a result that fails a check)."""
    for kind, code, cls in [
        ("mock", "mock.invalid_file", cloister.MockError),
        ("evidence", "evidence.platform_mismatch", cloister.EvidenceError),
        ("result", "result.bad_signature", cloister.ResultError),
        ("cert", "snp.cert.expired", cloister.SnpError),
        ("cert", "tdx.cert.expired", cloister.TdxError),
        ("cert", "nitro.chain.expired", cloister.NitroError),
        ("enclave", "enclave.unknown_model", cloister.EnclaveError),
    ]:
        e = _errors.from_native(kind, code, "m", "h", 404, True)
        assert type(e) is cls and e.code == code and e.input_sent
        again = pickle.loads(pickle.dumps(e))
        assert type(again) is cls and again.code == code


def test_verification_from_threads_agrees() -> None:
    doc = need_path(NITRO_DOC, "Nitro fixture").read_bytes()
    expected = cloister.verify(doc, "nitro", at=NITRO_AT).to_dict()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: cloister.verify(doc, "nitro", at=NITRO_AT).to_dict(), range(32)))
    assert all(r == expected for r in results)

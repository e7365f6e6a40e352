"""A round trip against the real custodian, host and enclave processes on the mock platform
(scripts/demo.sh's system, started by tests/start-system.sh): Client and AsyncClient verify the
enclave and get a signed, checked result; a policy that does not trust the enclave is refused
before any input leaves; the enclave's own refusal, an unreachable host and a host that replays
old evidence each raise their class with their code. Also runs the README's example."""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from typing import Dict, Iterator

import pytest

import cloister
from conftest import PYTHON_DIR, RELEASE, REPO, missing

SAMPLE = REPO / "models" / "credit-risk-v1" / "sample-input.json"
MODEL = "credit-risk-v1"


@pytest.fixture(scope="module")
def system() -> Iterator[Dict[str, str]]:
    for binary in ("cloister", "cloister-host", "cloister-enclave", "cloister-custodian"):
        if not (RELEASE / binary).exists():
            missing(f"{RELEASE / binary} (cargo build --release --workspace --bins)")
    work = pathlib.Path(tempfile.mkdtemp(prefix="cloister-py-system-"))
    proc = subprocess.Popen(
        [str(PYTHON_DIR / "tests" / "start-system.sh"), str(work)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    env_file = work / "system.env"
    try:
        deadline = time.monotonic() + 120
        while not env_file.exists():
            if proc.poll() is not None:
                logs = "\n".join(
                    f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
                    for p in work.glob("*.log")
                )
                pytest.fail(f"the system did not start: {proc.stderr.read() if proc.stderr else ''}\n{logs}")
            if time.monotonic() > deadline:
                pytest.fail("the system did not start within 120 s")
            time.sleep(0.1)
        env = dict(
            line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line
        )
        yield env
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


def test_round_trip_verifies_then_infers(system: Dict[str, str]) -> None:
    client = cloister.Client(system["CLOISTER_HOST"], pathlib.Path(system["CLOISTER_POLICY"]), mock_root=system["CLOISTER_MOCK_ROOT"])
    att = client.attest()
    assert att.claims.platform == "mock"
    assert att.claims.tcb_status is cloister.TcbStatus.NOT_REPORTED
    assert att.claims.nitro is not None and att.claims.nitro.user_data == att.claims.key_binding
    assert [m.id for m in att.served_models] == [MODEL]

    result = client.infer(MODEL, SAMPLE.read_bytes())
    out = result.json()
    assert 0.0 <= out["default_probability"] <= 1.0, out
    st = result.statement
    assert st.model_id == MODEL
    assert st.model_sha384 == att.served_models[0].sha384
    assert st.evidence_sha384 == result.attestation.evidence_sha384
    assert abs(st.issued_at - time.time()) < 300
    assert len(bytes.fromhex(result.signature)) == 64
    # A dict input is sent as JSON; the answer is the same model's.
    again = client.infer(MODEL, json.loads(SAMPLE.read_text()))
    assert again.json() == out
    assert json.loads(json.dumps(result.to_dict()))["statement"]["model_id"] == MODEL


def test_async_client_runs_calls_concurrently(system: Dict[str, str]) -> None:
    client = cloister.AsyncClient(system["CLOISTER_HOST"], system["CLOISTER_POLICY"], mock_root=system["CLOISTER_MOCK_ROOT"])

    async def main() -> None:
        results = await asyncio.gather(*(client.infer(MODEL, SAMPLE.read_bytes()) for _ in range(4)))
        assert len({r.statement.request_sha384 for r in results}) == 4
        assert len({json.dumps(r.json()) for r in results}) == 1
        att = await client.attest()
        assert att.claims.platform == "mock"

    asyncio.run(main())


def test_an_untrusting_policy_is_refused_before_any_input_is_sent(system: Dict[str, str]) -> None:
    client = cloister.Client(system["CLOISTER_HOST"], {}, mock_root=system["CLOISTER_MOCK_ROOT"])
    with pytest.raises(cloister.PolicyError) as e:
        client.infer(MODEL, SAMPLE.read_bytes())
    assert e.value.code == "policy.platform_not_allowed"
    assert e.value.input_sent is False
    # Pinning another workload: the mock entry with another PCR0.
    policy = json.loads(pathlib.Path(system["CLOISTER_POLICY"]).read_text())
    entry = policy["mock"]
    entry["pcrs"] = {k: "00" * 48 if k == "0" else v for k, v in entry["pcrs"].items()}
    with pytest.raises(cloister.PolicyError) as e:
        cloister.Client(system["CLOISTER_HOST"], policy, mock_root=system["CLOISTER_MOCK_ROOT"]).attest()
    assert e.value.code == "policy.pcr_mismatch"


def test_a_model_the_policy_does_not_pin_is_refused_before_sending(system: Dict[str, str]) -> None:
    policy = json.loads(pathlib.Path(system["CLOISTER_POLICY"]).read_text())
    policy["models"] = {"another-model": "00" * 48}
    client = cloister.Client(system["CLOISTER_HOST"], policy, mock_root=system["CLOISTER_MOCK_ROOT"])
    with pytest.raises(cloister.PolicyError) as e:
        client.infer(MODEL, b"{}")
    assert e.value.code == "policy.model_not_pinned"
    assert not e.value.input_sent


def test_the_enclaves_refusal_is_an_enclave_error(system: Dict[str, str]) -> None:
    client = cloister.Client(system["CLOISTER_HOST"], system["CLOISTER_POLICY"], mock_root=system["CLOISTER_MOCK_ROOT"])
    with pytest.raises(cloister.EnclaveError) as e:
        client.infer("no-such-model", b"{}")
    assert (e.value.code, e.value.status) == ("request.unknown_model", 404), e.value
    assert e.value.input_sent is True
    with pytest.raises(cloister.EnclaveError) as e:
        client.infer(MODEL, b"not json")
    assert (e.value.code, e.value.status) == ("inference.bad_request", 422), e.value


def test_an_unreachable_host_is_a_transport_error(system: Dict[str, str]) -> None:
    client = cloister.Client("http://127.0.0.1:9", system["CLOISTER_POLICY"], mock_root=system["CLOISTER_MOCK_ROOT"])
    with pytest.raises(cloister.TransportError) as e:
        client.attest()
    assert e.value.code == "client.http"
    with pytest.raises(cloister.UsageError) as u:
        cloister.Client("ftp://127.0.0.1", system["CLOISTER_POLICY"])
    assert u.value.code == "client.bad_host_url"


class _ReplayingHost(http.server.BaseHTTPRequestHandler):
    """An untrusted host that answers every attestation request with the first bundle it got:
    evidence bound to someone else's nonce."""

    upstream = ""
    first: bytes = b""

    def do_GET(self) -> None:  # noqa: N802
        if not _ReplayingHost.first:
            with urllib.request.urlopen(self.upstream + self.path) as r:
                _ReplayingHost.first = r.read()
        self.send_response(200)
        self.send_header("content-type", "application/cbor")
        self.send_header("content-length", str(len(_ReplayingHost.first)))
        self.end_headers()
        self.wfile.write(_ReplayingHost.first)

    def log_message(self, *args: object) -> None:
        pass


def test_replayed_evidence_is_a_bundle_error(system: Dict[str, str]) -> None:
    _ReplayingHost.upstream = system["CLOISTER_HOST"]
    _ReplayingHost.first = b""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ReplayingHost)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with urllib.request.urlopen(system["CLOISTER_HOST"] + "/v1/attestation?nonce=" + "11" * 32) as r:
            _ReplayingHost.first = r.read()
        client = cloister.Client(url, system["CLOISTER_POLICY"], mock_root=system["CLOISTER_MOCK_ROOT"])
        with pytest.raises(cloister.BundleError) as e:
            client.infer(MODEL, SAMPLE.read_bytes())
        assert e.value.code == "bundle.nonce_mismatch"
        assert isinstance(e.value, cloister.AttestationError)
        assert not e.value.input_sent
    finally:
        server.shutdown()


def test_the_readme_example_runs(system: Dict[str, str]) -> None:
    readme = (PYTHON_DIR / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks, "README.md has no python example"
    example = blocks[0]
    env = dict(os.environ, **system)
    # Run outside python/, so that `import cloister` is the installed package, not the sources.
    r = subprocess.run([sys.executable, "-c", example], env=env, capture_output=True, text=True,
                       timeout=120, cwd=tempfile.gettempdir())
    assert r.returncode == 0, r.stderr
    print("README example output:\n" + r.stdout)
    out_file = os.environ.get("CLOISTER_README_OUTPUT")
    if out_file:
        pathlib.Path(out_file).write_text(r.stdout)
    assert "verified" in r.stdout

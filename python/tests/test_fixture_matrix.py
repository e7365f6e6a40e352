"""Every case of the shared fixture matrix gives the same verdict through Python as through the
CLI, and as the matrix expects.

The cases are read from ../shared/tools/fixture-matrix.py itself (its nitro_cases, snp_cases
and tdx_cases), not copied: each is a `cloister attest verify` argument list, which
`to_kwargs` turns into a `cloister.verify` call. For each case the CLI runs too (with --json),
and a rejection must carry the same code through both, an acceptance the same JSON object."""

from __future__ import annotations

import atexit
import importlib.util
import json
import shutil
import subprocess
import tempfile
from typing import Any, Dict, List, Optional, Tuple

import pytest

import cloister
from conftest import CLI, MATRIX_TOOL, missing

Case = Tuple[str, str, List[str], Optional[int]]  # platform, name, CLI arguments, expected exit

# CLI flag -> (cloister.verify keyword, takes a value)
FLAGS: Dict[str, Tuple[str, bool]] = {
    "--platform": ("platform", True),
    "--at": ("at", True),
    "--vcek": ("vcek", True),
    "--chain": ("chain", True),
    "--crl": ("crl", True),
    "--product": ("product", True),
    "--collateral": ("collateral", True),
    "--policy": ("policy", True),
    "--root": ("root", True),
    "--allow-debug": ("allow_debug", False),
    "--allow-unknown-tcb": ("allow_unknown_tcb", False),
}


def _load_cases() -> List[Case]:
    if not MATRIX_TOOL.exists():
        return []
    spec = importlib.util.spec_from_file_location("fixture_matrix", MATRIX_TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tmp = tempfile.mkdtemp(prefix="cloister-matrix-")  # snp_cases writes chain files here
    atexit.register(shutil.rmtree, tmp, True)
    cases: List[Case] = []
    for platform, found in (
        ("nitro", module.nitro_cases()),
        ("snp", module.snp_cases(tmp)),
        ("tdx", module.tdx_cases()),
    ):
        for _label, name, args, expected in found:
            cases.append((platform, name, args, expected))
    return cases


CASES = _load_cases()


def to_kwargs(args: List[str]) -> Tuple[str, Dict[str, Any]]:
    """A `cloister attest verify` argument list as (evidence path, cloister.verify kwargs)."""
    evidence, rest = args[0], args[1:]
    kwargs: Dict[str, Any] = {}
    i = 0
    while i < len(rest):
        key, takes_value = FLAGS[rest[i]]
        if takes_value:
            kwargs[key] = rest[i + 1]
            i += 2
        else:
            kwargs[key] = True
            i += 1
    return evidence, kwargs


def python_verdict(args: List[str]) -> Tuple[int, Dict[str, Any]]:
    """Exit-code-like verdict of the Python call, and what it returned or raised."""
    evidence, kwargs = to_kwargs(args)
    platform = kwargs.pop("platform", "auto")
    try:
        v = cloister.verify(evidence, platform, **kwargs)
    except (cloister.AttestationError, cloister.ResultError) as e:
        return 1, {"verdict": "rejected", "code": e.code}
    except cloister.UsageError as e:
        return 2, {"verdict": "error", "code": e.code}
    return 0, v.to_dict()


def cli_verdict(args: List[str]) -> Tuple[int, Dict[str, Any]]:
    r = subprocess.run(
        [str(CLI), "attest", "verify", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = json.loads(r.stdout.strip().splitlines()[-1]) if r.stdout.strip() else {}
    if out.get("verdict") in ("rejected", "error"):
        out = {"verdict": out["verdict"], "code": out["error"]["code"]}
    return r.returncode, out


def test_the_matrix_has_cases_for_every_platform() -> None:
    if not CASES:
        missing(f"the shared fixture matrix ({MATRIX_TOOL})")
    platforms = {c[0] for c in CASES}
    assert platforms == {"nitro", "snp", "tdx"}, platforms


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{c[0]}: {c[1]}" for c in CASES]
)
def test_same_verdict_as_the_cli(case: Case) -> None:
    platform, name, args, expected = case
    if args is None or expected is None:
        missing(f"fixture-matrix case {platform}: {name}")
    absent = [a for a in args if a.startswith("/") and not __import__("os").path.exists(a)]
    if absent:
        missing(f"fixture {absent[0]}")
    got, result = python_verdict(args)
    assert got == expected, f"Python: {result}"
    if not CLI.exists():
        missing(f"the CLI at {CLI} (cargo build --release --workspace --bins)")
    cli_code, cli_result = cli_verdict(args)
    assert cli_code == got, f"CLI exit {cli_code} {cli_result}, Python {got} {result}"
    assert cli_result == result

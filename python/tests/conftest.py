"""Shared paths and the rule for tests whose external component is missing: with
CLOISTER_REQUIRE_PYTHON=1 (scripts/test.sh) they fail; otherwise they are skipped with a loud
"*** ... DID NOT RUN ... ***" line, repeated in the summary. Never a silent pass."""

from __future__ import annotations

import os
import pathlib
from typing import List

import pytest

PYTHON_DIR = pathlib.Path(__file__).resolve().parent.parent
REPO = PYTHON_DIR.parent
SHARED = REPO.parent / "shared"
FIXTURES = SHARED / "fixtures"
MATRIX_TOOL = SHARED / "tools" / "fixture-matrix.py"
RELEASE = REPO / "target" / "release"
CLI = pathlib.Path(os.environ.get("CLOISTER_CLI", RELEASE / "cloister"))

_NOT_RUN: List[str] = []


def required() -> bool:
    return os.environ.get("CLOISTER_REQUIRE_PYTHON") == "1"


def missing(what: str) -> None:
    """Fails (CLOISTER_REQUIRE_PYTHON=1) or skips loudly because `what` is not available."""
    message = f"*** {what}: DID NOT RUN ***"
    if required():
        pytest.fail(f"{message} (CLOISTER_REQUIRE_PYTHON=1)")
    _NOT_RUN.append(message)
    pytest.skip(message)


def need_path(path: pathlib.Path, what: str) -> pathlib.Path:
    if not path.exists():
        missing(f"{what} not found at {path}")
    return path


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    if _NOT_RUN:
        terminalreporter.section("NOT RUN", sep="*", red=True, bold=True)
        for line in sorted(set(_NOT_RUN)):
            terminalreporter.write_line(line, red=True, bold=True)

"""A small typed program using the SDK: scripts/test-python.sh runs `mypy --strict` on it, so the
package's annotations and stubs are checked the way a user's editor and CI would check them.
Run it with a Nitro document: `python typed_usage.py DOC [UNIX_TIME]`."""

from __future__ import annotations

import asyncio
import pathlib
import sys
from typing import Dict, List, Optional

import cloister


def summarize(path: pathlib.Path, at: Optional[int]) -> Dict[str, object]:
    try:
        v: cloister.Verification = cloister.verify(path, "nitro", at=at)
    except cloister.NitroError as e:
        return {"verdict": "rejected", "code": e.code, "hint": e.hint}
    except cloister.AttestationError as e:
        return {"verdict": "rejected", "code": e.code}
    claims: cloister.Claims = v.claims
    nitro: Optional[cloister.NitroClaims] = claims.nitro
    pcrs: Dict[int, str] = nitro.pcrs if nitro is not None else {}
    status: cloister.TcbStatus = claims.tcb_status
    return {"verdict": "accepted", "pcr0": pcrs.get(0), "tcb": status.value, "pinned": v.workload_pinned}


def pcrs_of(image: pathlib.Path) -> List[str]:
    d: cloister.eif.EifDescription = cloister.eif.describe(image)
    m = d.measurements
    return [m.pcr0, m.pcr1, m.pcr2] + ([m.pcr8] if m.pcr8 is not None else [])


async def ask(host: str, policy: pathlib.Path, root: pathlib.Path) -> float:
    client = cloister.AsyncClient(host, policy, mock_root=root)
    result: cloister.InferenceResult = await client.infer("credit-risk-v1", {"features": {}})
    statement: cloister.ResultStatement = result.statement
    assert statement.model_id == "credit-risk-v1"
    value = result.json()["default_probability"]
    return float(value)


def run_client(host: str) -> int:
    try:
        return asyncio.run(ask(host, pathlib.Path("policy.json"), pathlib.Path("root.pem"))) > 0.5
    except cloister.EnclaveError as e:
        return e.status or 2
    except cloister.CloisterError as e:
        print(e.code, e.input_sent, file=sys.stderr)
        return 2


if __name__ == "__main__":
    at = int(sys.argv[2]) if len(sys.argv) > 2 else None
    print(summarize(pathlib.Path(sys.argv[1]), at))

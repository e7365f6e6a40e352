"""Python-side benchmark figures (scripts/bench-python.sh), merged into target/bench/summary.json:

- ``py-verify-nitro-us``: ``cloister.verify(doc, "nitro", at=…)`` per document, warm (the
  process-wide chain cache filled, as the Rust ``nitro-verify-warm-us``), on the same real AWS
  documents and times as benches/benches/nitro_verify.rs (the middle of each validity window).
  Mean over documents of the per-document median, as the Rust figure; their difference is the
  binding's overhead (argument copies, GIL hand-off, claims as JSON, the dataclasses).
- ``py-verify-nitro-native-us``: the same through the native ``cloister._cloister.verify`` alone
  (bytes in, JSON text out): what the PyO3 crossing costs, apart from the typed Python layer.
- ``py-verify-gil-two-threads-speedup``: the wall-clock of 2×N verifications one after the
  other divided by that of two threads doing N each. Above 1 means the threads ran in parallel,
  which they can only do with the GIL released during verification (about 2 on 2 idle cores;
  the Python-side work between calls holds the GIL and bounds it below that), next to
  ``py-gil-held-two-threads-speedup``, the same for pure-Python work of the same length (about 1
  or below: the GIL serializes it). Best of 5 trials each, since the machine is shared.
- ``py-verify-two-processes-speedup``: the same verifications in two processes (nothing shared),
  one after the other against side by side: what the machine offers at the time, the ceiling of
  the two-thread figure.
- ``py-thread-progress-beside-verify`` / ``-beside-python``: how fast a pure-Python thread runs
  while another thread verifies (or runs pure Python), relative to alone: about 1 beside
  verification when the GIL is released, about 0.5 beside Python.

Wall-clock on a shared machine: compare ratios within one run.
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import statistics
import sys
import threading
import time
from typing import Callable, Dict, List, Tuple

import cloister

ROOT = pathlib.Path(__file__).resolve().parents[2]
NITRO = ROOT.parent / "shared" / "fixtures" / "nitro"
SUMMARY = ROOT / "target" / "bench" / "summary.json"
BUDGET_S = 0.7
MAX_SAMPLES = 400
MIN_SAMPLES = 15


def documents() -> List[Tuple[str, bytes, int]]:
    docs = []
    for e in json.loads((NITRO / "manifest.json").read_text()):
        if e.get("kind") != "attestation" or not e.get("cose_signature_ok") or not e.get("chains_to_aws_root_g1"):
            continue
        raw = (NITRO / e["file"]).read_bytes()
        if e.get("format") == "b64":
            raw = base64.b64decode(b"".join(raw.split()))
        a, b = e["valid_from_epoch"], e["valid_until_epoch"]
        docs.append((e["file"], raw, a + (b - a) // 2))
    return docs


def median_us(doc: bytes, at: int, native: bool = False) -> float:
    samples: List[float] = []
    start = time.perf_counter()
    while len(samples) < MAX_SAMPLES and (len(samples) < MIN_SAMPLES or time.perf_counter() - start < BUDGET_S):
        t = time.perf_counter()
        if native:
            cloister._cloister.verify(doc, "nitro", at, allow_debug=True)
        else:
            cloister.verify(doc, "nitro", at=at, allow_debug=True)
        samples.append((time.perf_counter() - t) * 1e6)
    return statistics.median(samples)


def _two_ways(work: Callable[[], None], trials: int = 5) -> Tuple[float, float]:
    """Best-of-`trials` wall-clock of `work` twice in a row, and of two threads running it."""
    best_seq = best_par = float("inf")
    for _ in range(trials):
        t = time.perf_counter()
        work()
        work()
        best_seq = min(best_seq, time.perf_counter() - t)
        threads = [threading.Thread(target=work) for _ in range(2)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        best_par = min(best_par, time.perf_counter() - t)
    return best_seq, best_par


def gil_speedup(docs: List[Tuple[str, bytes, int]], rounds: int = 200) -> Tuple[float, float, float, float]:
    """Two threads against one after the other, for cloister.verify and, as the control, for
    pure-Python work of a similar length that holds the GIL throughout."""

    def verify_work() -> None:
        for i in range(rounds):
            _, doc, at = docs[i % len(docs)]
            cloister.verify(doc, "nitro", at=at, allow_debug=True)

    seq, par = _two_ways(verify_work)
    per_call = seq / (2 * rounds)
    spin = 1
    while True:  # a pure-Python loop about as long as one verification
        t = time.perf_counter()
        sum(range(spin))
        if time.perf_counter() - t >= per_call:
            break
        spin *= 2

    def python_work() -> None:
        for _ in range(rounds):
            sum(range(spin))

    cseq, cpar = _two_ways(python_work)
    return seq, par, seq / par, cseq / cpar


_CHILD = """
import sys, time
sys.path.insert(0, sys.argv[1])
import verify_nitro as b, cloister
docs = b.documents()
for _, d, a in docs:
    cloister.verify(d, "nitro", at=a, allow_debug=True)
start = time.time()
for i in range(int(sys.argv[2])):
    _, d, a = docs[i % len(docs)]
    cloister.verify(d, "nitro", at=a, allow_debug=True)
print(start, time.time())
"""


def process_speedup(rounds: int = 200, trials: int = 3) -> float:
    """The control for the two-thread figure: the same work in two processes (no GIL shared)
    one after the other against side by side. What the machine offers right now; on an idle
    2-core machine about 2."""
    import subprocess

    here = str(pathlib.Path(__file__).resolve().parent)
    cmd = [sys.executable, "-c", _CHILD, here, str(rounds)]

    def spans(procs: List["subprocess.Popen[str]"]) -> List[Tuple[float, float]]:
        out = []
        for p in procs:
            a, b_ = p.communicate()[0].split()
            out.append((float(a), float(b_)))
        return out

    best = 0.0
    for _ in range(trials):
        seq = sum(e - s for s, e in spans([subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)])
                  + spans([subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)]))
        both = spans([subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(2)])
        par = max(e for _, e in both) - min(s for s, _ in both)
        best = max(best, seq / par)
    return best


def progress_beside(docs: List[Tuple[str, bytes, int]], trials: int = 5) -> Tuple[float, float]:
    """How fast a pure-Python thread runs while another thread verifies in a loop, and while
    another runs pure Python, each relative to running alone (medians of interleaved trials).
    About 1 beside verification means the GIL was free while Rust verified; about 0.5 beside
    Python is the GIL shared. Less sensitive to other load than the speedup."""
    def count(seconds: float = 0.3) -> int:
        n, end = 0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            n += 1
        return n

    def beside(work: Callable[[threading.Event], None]) -> int:
        stop = threading.Event()
        th = threading.Thread(target=work, args=(stop,))
        th.start()
        n = count()
        stop.set()
        th.join()
        return n

    def verifying(stop: threading.Event) -> None:
        i = 0
        while not stop.is_set():
            _, doc, at = docs[i % len(docs)]
            cloister.verify(doc, "nitro", at=at, allow_debug=True)
            i += 1

    def spinning(stop: threading.Event) -> None:
        while not stop.is_set():
            sum(range(2000))

    native: List[float] = []
    python: List[float] = []
    for _ in range(trials):
        alone = count()
        native.append(beside(verifying) / alone)
        python.append(beside(spinning) / alone)
    return statistics.median(native), statistics.median(python)


def main() -> int:
    docs = documents()
    if len(docs) < 5:
        print(f"bench-python: only {len(docs)} Nitro documents in {NITRO}", file=sys.stderr)
        return 1
    for name, doc, at in docs:  # every document verifies (and fills the chain cache)
        cloister.verify(doc, "nitro", at=at, allow_debug=True)
    per_doc = [median_us(doc, at) for _, doc, at in docs]
    py_us = statistics.mean(per_doc)
    native_us = statistics.mean(median_us(doc, at, native=True) for _, doc, at in docs)
    seq, par, speedup, control = gil_speedup(docs)
    beside_verify, beside_python = progress_beside(docs)
    processes = process_speedup()
    figures: Dict[str, float] = {
        "py-verify-nitro-us": round(py_us, 1),
        "py-verify-nitro-native-us": round(native_us, 1),
        "py-verify-gil-two-threads-speedup": round(speedup, 2),
        "py-gil-held-two-threads-speedup": round(control, 2),
        "py-thread-progress-beside-verify": round(beside_verify, 2),
        "py-verify-two-processes-speedup": round(processes, 2),
        "py-thread-progress-beside-python": round(beside_python, 2),
    }
    summary: Dict[str, float] = {}
    if SUMMARY.exists():
        summary = json.loads(SUMMARY.read_text())
    rust = summary.get("nitro-verify-warm-us")
    print(f"py-verify-nitro-us            {py_us:8.1f}   ({len(docs)} documents, warm, mean of per-document medians)")
    print(f"py-verify-nitro-native-us     {native_us:8.1f}   (the native call alone: no dataclasses, no JSON parsing)")
    if rust is not None:
        print(f"nitro-verify-warm-us (Rust)   {rust:8.1f}   (binding overhead {py_us - rust:+.1f} us, x{py_us / rust:.2f})")
    else:
        print("nitro-verify-warm-us (Rust)        n/a   (not in target/bench/summary.json: run scripts/bench.sh)")
    print(f"GIL: 2x200 verifications one after the other {seq * 1e3:.0f} ms, in two threads {par * 1e3:.0f} ms: x{speedup:.2f}"
          f" (control, pure Python holding the GIL: x{control:.2f};"
          f" ceiling, two processes: x{processes:.2f}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; best of 5)")
    print(f"GIL: a Python thread runs at x{beside_verify:.2f} of its own speed beside a verifying thread,"
          f" x{beside_python:.2f} beside a pure-Python thread")
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    summary.update(figures)
    SUMMARY.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

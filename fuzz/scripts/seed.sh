#!/usr/bin/env bash
# Seeds every corpus from shared/fixtures (Nitro documents, decoding base64; SNP reports and
# certificates; EIF images; TDX quotes, alone and prefixed by their collateral; TDX collateral;
# evidence bundles, frame streams and OHTTP gateway inputs built around them). The corpus
# directories are gitignored.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
FIX="$HERE/../../shared/fixtures/nitro"
OUT="$HERE/corpus/nitro_document"
mkdir -p "$OUT"
python3 - "$FIX" "$OUT" <<'PY'
import base64, hashlib, json, pathlib, sys
fix, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for e in json.loads((fix / "manifest.json").read_text()):
    if e.get("kind") not in ("attestation", "attestation-negative"):
        continue
    raw = (fix / e["file"]).read_bytes()
    if e.get("format") == "b64":
        raw = base64.b64decode(b"".join(raw.split()))
    (out / hashlib.sha256(raw).hexdigest()[:16]).write_bytes(raw)
    print(e["file"])
PY

# SNP reports and certificates, and the EIF known-answer images.
SNP="$HERE/../../shared/fixtures/snp"
mkdir -p "$HERE/corpus/snp_report" "$HERE/corpus/eif_reader"
find "$SNP" -type f \( -name '*.bin' -o -name '*.der' \) -size -64k -exec cp {} "$HERE/corpus/snp_report/" \;
cp "$HERE/../../shared/fixtures/eif/"*.eif "$HERE/corpus/eif_reader/"

# TDX quotes (binary, and hex-decoded), each alone; and the quotes that have collateral as
# `u16 LE length ‖ collateral JSON ‖ quote`, the split the tdx_quote target tries.
TDX="$HERE/../../shared/fixtures/tdx"
mkdir -p "$HERE/corpus/tdx_quote"
python3 - "$TDX" "$HERE/corpus/tdx_quote" <<'PY'
import hashlib, pathlib, struct, sys
fix, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
def quote(name):
    raw = (fix / name).read_bytes()
    if name.endswith((".hex", "_hex.txt")):
        text = b"".join(raw.split())
        raw = bytes.fromhex(text[2:].decode() if text.startswith(b"0x") else text.decode())
    return raw
def put(raw):
    (out / hashlib.sha256(raw).hexdigest()[:16]).write_bytes(raw)
quotes = [
    "Phala-Network-dcap-qvl/tdx_quote", "Phala-Network-dcap-qvl/tdx_quote_outdated",
    "Phala-Network-dcap-qvl/near_quote_hex.txt", "Phala-Network-dcap-qvl/tdx-quote.hex",
    "Phala-Network-dcap-qvl/quote-from-tappd.hex", "google-go-tdx-guest/quote_v5_sample.dat",
    "google-go-tdx-guest/tdx_prod_quote_SPR_E4.dat", "google-go-tdx-guest/ccel_cos-113-tdx-quote.dat",
    "confidential-containers-trustee/tdx_quote_4.dat",
]
for name in quotes:
    put(quote(name))
    print(name)
pairs = [
    ("Phala-Network-dcap-qvl/tdx_quote", "Phala-Network-dcap-qvl/tdx_quote_collateral.json"),
    ("Phala-Network-dcap-qvl/tdx_quote_outdated", "Phala-Network-dcap-qvl/tdx_quote_outdated_collateral.json"),
    ("Phala-Network-dcap-qvl/near_quote_hex.txt", "Phala-Network-dcap-qvl/near_quote_collateral.json"),
    ("google-go-tdx-guest/quote_v5_sample.dat", "google-go-tdx-guest/assembled_quote_v5_sample_collateral.json"),
    ("google-go-tdx-guest/tdx_prod_quote_SPR_E4.dat", "google-go-tdx-guest/assembled_SPR_E4_collateral_2023.json"),
]
for q, c in pairs:
    json = (fix / c).read_bytes()
    assert len(json) < 65536, c
    put(struct.pack("<H", len(json)) + json + quote(q))
    print(q, "+", c)
PY

# TDX collateral (QuoteCollateralV3 JSON), every real one.
mkdir -p "$HERE/corpus/tdx_collateral"
find "$TDX" -name '*collateral*.json' -exec cp {} "$HERE/corpus/tdx_collateral/" \;

# Evidence bundles around the real evidence, host-enclave frame streams of every message kind,
# and OHTTP gateway inputs (mode byte, then: an encapsulated request; a Binary HTTP request; an
# inference body). CBOR and Binary HTTP are written by hand: the layouts serde and RFC 9292 give.
python3 - "$HERE/../../shared/fixtures" "$HERE/corpus" "$HERE/../models/credit-risk-v1" <<'PY'
import base64, hashlib, json, pathlib, struct, sys
fix, out, model = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])

def head(major, n):
    for limit, extra, fmt in ((24, 0, None), (1 << 8, 24, ">B"), (1 << 16, 25, ">H"), (1 << 32, 26, ">I")):
        if n < limit:
            return bytes([major << 5 | (n if fmt is None else extra)]) + (struct.pack(fmt, n) if fmt else b"")
    return bytes([major << 5 | 27]) + struct.pack(">Q", n)

def cbor(v):
    if isinstance(v, bool):
        return b"\xf5" if v else b"\xf4"
    if isinstance(v, int):
        return head(0, v)
    if isinstance(v, (bytes, bytearray)):
        return head(2, len(v)) + bytes(v)
    if isinstance(v, str):
        b = v.encode()
        return head(3, len(b)) + b
    if isinstance(v, list):
        return head(4, len(v)) + b"".join(cbor(x) for x in v)
    if isinstance(v, dict):
        return head(5, len(v)) + b"".join(cbor(k) + cbor(x) for k, x in v.items())
    raise TypeError(v)

def put(target, raw):
    d = out / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha256(raw).hexdigest()[:16]).write_bytes(raw)

def bundle(platform, evidence, collateral=()):
    return {
        "version": 2, "platform": platform, "evidence": evidence, "collateral": list(collateral),
        "kem_pub": bytes(range(32)), "sig_pub": bytes(range(32, 64)), "nonce": b"\x07" * 32,
        "ohttp_key_id": 1,
        "served_models": {"models": [
            {"id": "credit-risk-v1", "version": "1.0.0", "sha384": b"\x11" * 48},
            {"id": "z-model", "version": "2", "sha384": b"\x22" * 48},
        ]},
        "served_models_signature": b"\x33" * 64,
    }

def unhex(raw):
    text = b"".join(raw.split())
    return bytes.fromhex((text[2:] if text.startswith(b"0x") else text).decode())

bundles = []
manifest = json.loads((fix / "nitro/manifest.json").read_text())
for e in manifest:
    if e.get("kind") != "attestation":
        continue
    raw = (fix / "nitro" / e["file"]).read_bytes()
    if e.get("format") == "b64":
        raw = base64.b64decode(b"".join(raw.split()))
    bundles.append(bundle("nitro", raw))
    bundles.append(bundle("mock", raw))
tdx = fix / "tdx"
for q, c in [("Phala-Network-dcap-qvl/tdx_quote", "Phala-Network-dcap-qvl/tdx_quote_collateral.json"),
             ("Phala-Network-dcap-qvl/near_quote_hex.txt", "Phala-Network-dcap-qvl/near_quote_collateral.json"),
             ("google-go-tdx-guest/quote_v5_sample.dat", "google-go-tdx-guest/assembled_quote_v5_sample_collateral.json")]:
    raw = (tdx / q).read_bytes()
    if q.endswith("_hex.txt"):
        raw = unhex(raw)
    bundles.append(bundle("tdx", raw, [(tdx / c).read_bytes()]))
snp = sorted(p for p in (fix / "snp").rglob("*.bin") if p.stat().st_size == 1184)
ders = sorted(p for p in (fix / "snp").rglob("*.der") if p.stat().st_size < 4096)
for r in snp[:4]:
    bundles.append(bundle("sev-snp", r.read_bytes(), [d.read_bytes() for d in ders[:2]]))
for b in bundles:
    put("evidence_bundle", cbor(b))
print(len(bundles), "evidence bundles")

def frame(msg, id_=1):
    body = cbor({"v": 1, "id": id_, "msg": msg})
    return struct.pack(">I", len(body)) + body

frames = [
    frame({"attest_request": {"nonce": b"\x05" * 32}}, 1),
    frame({"infer_request": {"ohttp": b"\x01\x00\x20\x00\x01\x00\x03" + b"\x09" * 60}}, 2),
    frame({"infer_response": {"ohttp": b"\x0a" * 80}}, 3),
    frame({"error": {"code": "ohttp.decapsulate", "message": "could not be opened"}}, 2**64 - 1),
    frame({"evidence": bundles[0]}, 5),
    frame({"evidence": bundles[-1]}, 6),
]
for shape in (0x00, 0x06, 0x3f, 0x80):
    put("frame_reader", bytes([shape]) + b"".join(frames[:4]))
for f in frames:
    put("frame_reader", b"\x80" + f)
put("frame_reader", b"\x42" + frames[0] + frames[1][:9])
print(len(frames), "frames")

def varint(n):
    if n < 64:
        return bytes([n])
    if n < 16384:
        return struct.pack(">H", 0x4000 | n)
    return struct.pack(">I", 0x80000000 | n)

def vbytes(b):
    return varint(len(b)) + b

def bhttp(method, path, headers, body):
    fields = b"".join(vbytes(k) + vbytes(v) for k, v in headers)
    return (varint(0) + vbytes(method) + vbytes(b"https") + vbytes(b"enclave") + vbytes(path)
            + vbytes(fields) + vbytes(body) + varint(0))

sample = (model / "sample-input.json").read_bytes()
digest = [(b"content-type", b"application/json"), (b"cloister-evidence-sha384", b"ab" * 48)]
put("ohttp_gateway", b"\x00\x01\x00\x20\x00\x01\x00\x03" + bytes(range(32)) + b"\x00" * 64)
put("ohttp_gateway", b"\x00\x01\x00\x20\x00\x01\x00\x01" + bytes(range(32)) + b"\x00" * 64)
for req in (bhttp(b"POST", b"/v1/models/credit-risk-v1/infer", digest, sample),
            bhttp(b"GET", b"/v1/models/credit-risk-v1/infer", digest, b""),
            bhttp(b"POST", b"/v1/models/other/infer", digest, sample),
            bhttp(b"POST", b"/v1/health", [], b"")):
    put("ohttp_gateway", b"\x01" + req)
for body in (sample, sample.replace(b"52.0", b"400.01"), sample.replace(b"income_k", b"zzz"),
             b'{"features": {}}', b"{" * 100):
    put("ohttp_gateway", b"\x02" + body)
print("ohttp_gateway seeds")
PY

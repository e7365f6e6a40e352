#!/usr/bin/env bash
# Seeds every corpus from shared/fixtures (Nitro documents, decoding base64; SNP reports and
# certificates; EIF images; TDX quotes, alone and prefixed by their collateral). The corpus directories are gitignored.
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

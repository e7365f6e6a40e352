#!/usr/bin/env bash
# Seeds every corpus from shared/fixtures (Nitro documents, decoding base64; SNP reports and
# certificates; EIF images). The corpus directories are gitignored.
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

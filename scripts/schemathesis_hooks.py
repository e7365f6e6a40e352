"""Schemathesis hooks for scripts/api-conformance.sh.

POST /v1/infer takes `message/ohttp-req`: opaque bytes (an OHTTP-encapsulated request). Schemathesis
knows no serializer for that media type, so this one sends whatever it generated as raw bytes. The
host and enclave must answer such bytes with a declared status and a body matching the
description (almost always 400 `ohttp.*`), which is what the run checks.
"""

import schemathesis


@schemathesis.serializer("message/ohttp-req")
def ohttp_request(ctx, value):
    if isinstance(value, bytes):
        return {"data": value}
    return {"data": str(value).encode("utf-8", errors="ignore")}

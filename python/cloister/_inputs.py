"""Argument conveniences: files as bytes, str paths or ``os.PathLike``; policies as those or a
mapping; times as Unix seconds, ``datetime`` or the CLI's strings."""

from __future__ import annotations

import datetime as _dt
import json
import os
from typing import Any, Mapping, Optional, Union

from ._errors import UsageError

FileInput = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]"]
"""A file's content (``bytes``) or its path (``str`` or ``pathlib.Path``)."""

PolicyInput = Union[FileInput, Mapping[str, Any]]
"""A trust policy: a path, its JSON bytes, or the policy as a ``dict``."""

TimeInput = Union[int, float, str, _dt.datetime]
"""Unix seconds, an aware ``datetime``, or a string: Unix seconds or RFC 3339."""


def read_file(value: FileInput, what: str) -> bytes:
    """The bytes of ``value``: the content itself, or the file at that path."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (str, os.PathLike)):
        with open(value, "rb") as f:
            return f.read()
    raise UsageError("cli.usage", f"{what}= must be bytes, a str path or a pathlib.Path, not {type(value).__name__}")


def read_optional(value: Optional[FileInput], what: str) -> Optional[bytes]:
    """:func:`read_file`, passing ``None`` through."""
    return None if value is None else read_file(value, what)


def read_policy(value: Optional[PolicyInput]) -> Optional[bytes]:
    """A trust policy's JSON bytes."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return json.dumps(value).encode()
    return read_file(value, "policy")


def unix_seconds(at: Optional[TimeInput]) -> int:
    """``at`` as Unix seconds; ``None`` is now."""
    if at is None:
        return int(_dt.datetime.now(_dt.timezone.utc).timestamp())
    if isinstance(at, bool):
        raise UsageError("cli.usage", "at= is a bool; give Unix seconds, a datetime or RFC 3339")
    if isinstance(at, (int, float)):
        secs = int(at)
    elif isinstance(at, _dt.datetime):
        if at.tzinfo is None:
            raise UsageError(
                "cli.usage",
                "at= is a naive datetime; give it a timezone (datetime.timezone.utc)",
            )
        secs = int(at.timestamp())
    elif isinstance(at, str):
        secs = _parse_time_string(at)
    else:
        raise UsageError("cli.usage", f"at= must be Unix seconds, a datetime or a string, not {type(at).__name__}")
    if secs < 0:
        raise UsageError("cli.usage", f"at={at!r} is before 1970")
    return secs


def _parse_time_string(s: str) -> int:
    if s.isdigit():
        return int(s)
    text = s[:-1] + "+00:00" if s.endswith(("Z", "z")) else s
    try:
        t = _dt.datetime.fromisoformat(text)
    except ValueError:
        t = None
    if t is None or t.tzinfo is None:
        raise UsageError(
            "cli.usage",
            f"at={s!r} is neither Unix seconds nor RFC 3339 (e.g. 2026-01-03T12:00:00Z)",
        )
    return int(t.timestamp())

"""ServiceBridge's canonical text of a job definition, and its identity (sha256 of that text).

The text is what ``JSON.stringify`` writes for the canonical object, byte for byte: keys in a
fixed order, no spaces, numbers as JavaScript prints them (``2`` not ``2.0``, ``1e-7`` not
``1e-07``), strings escaped as JSON requires and nothing more (no ``\\u2028``, no HTML escapes,
DEL and non-ASCII raw).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal

Canonical = str | int | float | Sequence["Canonical"] | Mapping[str, "Canonical"]


def js_number(value: int | float) -> str:
    """``Number.prototype.toString`` of a finite number (ECMA-262 Number::toString)."""
    if isinstance(value, int):
        value = float(value) if abs(value) >= 2**53 else value
        if isinstance(value, int):
            return str(value)
    if not math.isfinite(value):
        raise ValueError(f"{value!r} has no JSON form")
    if value == 0:
        return "0"
    if value < 0:
        return "-" + js_number(-value)
    # repr gives the shortest digits that round-trip, as JavaScript does; only the layout differs.
    sign, digits_tuple, exponent = Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int) and not sign
    digits = "".join(map(str, digits_tuple)).rstrip("0") or "0"
    exponent += len(digits_tuple) - len(digits)
    k = len(digits)
    n = exponent + k  # value = 0.digits * 10**n
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{mantissa}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"


def stringify(value: Canonical) -> str:
    """``JSON.stringify(value)``: key order as given, no whitespace."""
    if isinstance(value, str):
        # Python escapes exactly what JSON.stringify escapes once ensure_ascii is off.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        raise TypeError("booleans have no place in a canonical job spec")
    if isinstance(value, int | float):
        return js_number(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{stringify(k)}:{stringify(v)}" for k, v in value.items()) + "}"
    return "[" + ",".join(stringify(item) for item in value) + "]"


def sha256_hex(text: str) -> str:
    """Lowercase hex sha256 of the UTF-8 bytes (a lone surrogate is refused, as it has none)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

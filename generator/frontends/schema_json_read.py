"""Stage frontend: read a .schema.json file as JSON, turning every way it can fail into a GeneratorError."""

from __future__ import annotations

import json
import pathlib

from generator.errors import Diagnostic, GeneratorError


class JsonObject(dict[str, object]):
    """A JSON object that remembers the keys it held more than once (json keeps the last)."""

    duplicates: list[str]

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, object]]) -> JsonObject:
        obj = cls()
        obj.duplicates = []
        for key, value in pairs:
            if key in obj:
                obj.duplicates.append(key)
            obj[key] = value
        return obj


def read_json(path: pathlib.Path, display_name: str) -> object:
    """The parsed document; objects are JsonObject. Errors name ``display_name`` (and line:col)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as error:
        raise _error(display_name, f"read schema file: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise _error(display_name, f"read schema file: not UTF-8 (byte {error.start})") from None
    try:
        return json.loads(text, object_pairs_hook=JsonObject.from_pairs, parse_constant=_reject)
    except json.JSONDecodeError as error:
        where = f"{error.lineno}:{error.colno}"
        raise _error(display_name, f"parse schema file: {error.msg}", where) from None
    except _NotJson as error:
        raise _error(display_name, f"parse schema file: {error}") from None
    except RecursionError:
        raise _error(display_name, "parse schema file: nested too deeply") from None
    except ValueError:  # Python refuses to convert integers of more than 4300 digits
        raise _error(display_name, "parse schema file: a number is too long") from None


class _NotJson(Exception):
    pass


def _reject(constant: str) -> object:
    """Python's json accepts NaN and Infinity; JSON (and ServiceBridge's JSON.parse) does not."""
    raise _NotJson(f"{constant} is not valid JSON")


def _error(display_name: str, message: str, where: str = "") -> GeneratorError:
    return GeneratorError(Diagnostic(display_name, message, where))

"""Text from files a user names (a policy profile, a legacy file, a digest): UTF-8 or refused, JSON nesting bounded.

A file that is not UTF-8 is named with the line its first bad byte is on, not a UnicodeDecodeError. Python's JSON
parser recurses once per level of nesting, so a line of 100,000 '[' is a RecursionError, not a syntax error: the
depth is measured first, outside any string and without recursion, and anything deeper than the ledger's files ever
are is refused.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

from ..domain.limits import MAX_JSON_DEPTH

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class TooDeep(ValueError):
    """JSON nested deeper than MAX_JSON_DEPTH."""


def deepest(text: str) -> int:
    """How deeply the arrays and objects in `text` nest (strings' contents left out); without recursion."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def loads(text: str, *, max_depth: int = MAX_JSON_DEPTH, **options: Any) -> Any:
    """json.loads, refusing (TooDeep) what nests deeper than `max_depth` before the parser sees it."""
    if deepest(text) > max_depth:
        raise TooDeep(f"nested more than {max_depth} levels deep")
    return json.loads(text, **options)


def utf8(data: bytes, *, bom: bool = False) -> str:
    """Bytes read from a file as UTF-8 text; UnicodeDecodeError's message is replaced by the line it is on."""
    try:
        return data.decode("utf-8-sig" if bom else "utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise NotUtf8(line) from None


class NotUtf8(ValueError):
    """A file that is not UTF-8 text; `line` is where the first byte that is not lies."""

    def __init__(self, line: int) -> None:
        super().__init__(f"line {line} is not UTF-8 text")
        self.line = line

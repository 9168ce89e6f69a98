"""Policy profiles from TOML: the ones shipped in domain/policies and a landlord's own file."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..domain.errors import PolicyError

if TYPE_CHECKING:  # the model (and its bank holidays) is imported on first load, not by `complaints --help`
    from ..domain.policy import Policy

DEFAULT_POLICY = "hoc-2024"
_PACKAGE = "complaints_ledger.domain.policies"


def _shipped() -> Any:
    from importlib import resources  # not on every command's start-up path

    return resources.files(_PACKAGE)


def shipped_names() -> list[str]:
    return sorted(p.name[:-5] for p in _shipped().iterdir() if p.name.endswith(".toml"))


def load_shipped(name: str) -> Policy:
    from ..domain.values import quoted

    # A name, never a path: "../x" or a NUL must not reach the file system.
    resource = _shipped() / f"{name}.toml" if re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,63}", name) else None
    if resource is None or not resource.is_file():
        raise PolicyError(f"no policy profile named {quoted(name)} (shipped: {', '.join(shipped_names())})")
    return _parse(resource.read_text(encoding="utf-8"), f"profile {quoted(name)}")


def load_file(path: str | Path) -> Policy:
    """A landlord's own profile: a UTF-8 TOML file, refused with one line naming it if it cannot be one."""
    from ..domain.values import brief
    from .file_text import NotUtf8, utf8

    path = Path(path)
    try:
        data = path.read_bytes()
    except (OSError, ValueError) as e:  # ValueError: a NUL in the name
        raise PolicyError(f"cannot read policy file {brief(path)}: {getattr(e, 'strerror', None) or e}") from None
    try:
        text = utf8(data, bom=True)
    except NotUtf8 as e:
        raise PolicyError(f"policy file {brief(path)} is not a TOML profile: {e} (is it the right file?)") from None
    return _parse(text, f"policy file {brief(path)}")


def load(name: str | None = None, path: str | Path | None = None) -> Policy:
    """A landlord's own file wins over a shipped name; with neither, the Code 2024 profile."""
    if path is not None:
        return load_file(path)
    return load_shipped(name or DEFAULT_POLICY)


def _parse(text: str, where: str) -> Policy:
    import tomllib  # not on `complaints --help`'s path

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise PolicyError(f"{where} is not valid TOML: {e}") from None
    except RecursionError:  # tomllib recurses once per nested array or table: no profile nests like that
        raise PolicyError(f"{where} is not a policy profile: its arrays or tables are nested too deeply") from None
    from ..domain.policy import Policy

    return Policy.from_dict(data)


def dumps(data: dict) -> str:
    """A profile's data as TOML that reads back to the same data (and so the same content hash): what an inquiry
    bundle ships as the profile in force. Top-level tables and arrays of tables are written as sections."""
    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{key(k)} = {value(x)}" for k, x in v.items()) + " }"
        if hasattr(v, "isoformat"):
            return v.isoformat()
        raise PolicyError(f"cannot write {type(v).__name__} values as TOML")

    def key(k: str) -> str:
        return k if k.replace("_", "").replace("-", "").isalnum() else json.dumps(k)

    def is_tables(v: object) -> bool:
        return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)

    lines = [f"{key(k)} = {value(v)}" for k, v in data.items() if not isinstance(v, dict) and not is_tables(v)]
    for k, v in data.items():
        if isinstance(v, dict):
            lines += ["", f"[{key(k)}]"] + [f"{key(a)} = {value(b)}" for a, b in v.items()]
    for k, v in data.items():
        if is_tables(v):
            for table in v:
                lines += ["", f"[[{key(k)}]]"] + [f"{key(a)} = {value(b)}" for a, b in table.items()]
    return "\n".join(lines) + "\n"

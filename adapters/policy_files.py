"""Policy profiles from TOML: the ones shipped in domain/policies and a landlord's own file."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from ..domain.errors import PolicyError
from ..domain.policy import Policy

DEFAULT_POLICY = "hoc-2024"
_PACKAGE = "complaints_ledger.domain.policies"


def shipped_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files(_PACKAGE).iterdir() if p.name.endswith(".toml"))


def load_shipped(name: str) -> Policy:
    resource = resources.files(_PACKAGE) / f"{name}.toml"
    if not resource.is_file():
        raise PolicyError(f"no policy profile named {name!r} (shipped: {', '.join(shipped_names())})")
    return _parse(resource.read_text(encoding="utf-8"), f"profile {name!r}")


def load_file(path: str | Path) -> Policy:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise PolicyError(f"cannot read policy file {path}: {e.strerror or e}") from None
    return _parse(text, f"policy file {path}")


def load(name: str | None = None, path: str | Path | None = None) -> Policy:
    """A landlord's own file wins over a shipped name; with neither, the Code 2024 profile."""
    if path is not None:
        return load_file(path)
    return load_shipped(name or DEFAULT_POLICY)


def _parse(text: str, where: str) -> Policy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise PolicyError(f"{where} is not valid TOML: {e}") from None
    return Policy.from_dict(data)

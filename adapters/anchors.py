"""Signed anchors: the ledger-wide log chain's hash at a position, signed with a key the database never sees.

The chains in the database prove that nothing changed since it was written only against someone who cannot rewrite
them: a database superuser can recompute every hash after changing an event. An anchor, taken regularly
(`complaints verify --digest --signing-key KEY --anchors DIR`, from cron) and kept where the database's
administrators cannot write, records the log position, the log chain's hash there, the heads root and the time,
signed with Ed25519. `complaints verify --anchors DIR --public-key KEY.pub` checks every anchor's signature and that
the log at its position still has its hash: a rewrite of any event at or before an anchor's position (however
carefully recomputed) changes that hash, so the last anchor taken before the rewrite names it.

Anchors are files of their own, one per anchor, named by time and position and never overwritten (opened with
O_EXCL), so the folder can be append-only (a WORM share, `chattr +a`, an object store with retention). The key pair
is made by `complaints verify --new-signing-key FILE`: FILE (private, mode 0600) and FILE.pub.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..domain.errors import ComplaintsError
from ..domain.values import brief

ANCHOR_FORMAT = "complaints-ledger anchor 1"
_FIELDS = ("format", "position", "log_hash", "root", "aggregates", "events", "made_at")


class AnchorProblem(ComplaintsError):
    """A key or anchors folder that cannot be used (missing, unreadable, not a key of the right kind)."""


@dataclass(frozen=True)
class Anchor:
    path: Path
    body: dict[str, Any]
    signed: bool  # the signature verifies with the public key given

    @property
    def position(self) -> int:
        return int(self.body["position"])

    @property
    def log_hash(self) -> bytes:
        return bytes.fromhex(self.body["log_hash"])


def new_key_pair(path: str | Path) -> tuple[Path, Path]:
    """Write a new Ed25519 private key to `path` (PEM, mode 0600, never over an existing file) and its public key
    beside it as `path`.pub."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Path(path)
    public = private.with_name(private.name + ".pub")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    for target in (private, public):
        if target.exists():
            raise AnchorProblem(f"{brief(target)} already exists: a signing key is never overwritten")
    _write_new(private, pem, 0o600)
    _write_new(public, pub, 0o644)
    return private, public


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except OSError as e:
        raise AnchorProblem(f"cannot write {brief(path)}: {e.strerror or e}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def load_private_key(path: str | Path) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except OSError as e:
        raise AnchorProblem(f"cannot read the signing key {brief(path)}: {e.strerror or e}") from None
    except (ValueError, TypeError):
        raise AnchorProblem(f"{brief(path)} is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AnchorProblem(f"{brief(path)} is not an Ed25519 key (make one with --new-signing-key)")
    return key


def load_public_key(path: str | Path) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise AnchorProblem(f"cannot read the public key {brief(path)}: {e.strerror or e}") from None
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        try:  # the private key will do: its public half is in it
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise AnchorProblem(f"{brief(path)} is not a PEM public key") from None
        key = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    if not isinstance(key, Ed25519PublicKey):
        raise AnchorProblem(f"{brief(path)} is not an Ed25519 key")
    return key


def _signed_bytes(body: dict[str, Any]) -> bytes:
    return json.dumps({k: body[k] for k in _FIELDS}, sort_keys=True, separators=(",", ":")).encode()


def make_anchor(position: int, log_hash: bytes, root: str, aggregates: int, events: int,
                private_key: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "format": ANCHOR_FORMAT, "position": position, "log_hash": log_hash.hex(), "root": root,
        "aggregates": aggregates, "events": events,
        "made_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    body["signature"] = base64.b64encode(private_key.sign(_signed_bytes(body))).decode()
    return body


def write_anchor(folder: str | Path, anchor: dict[str, Any]) -> Path:
    """A new file in `folder`, named by time and position; never one that exists (a second anchor in the same
    second at the same position gets a suffix)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AnchorProblem(f"the anchors folder {brief(folder)} does not exist")
    stamp = anchor["made_at"].replace("-", "").replace(":", "").replace("+0000", "Z")
    base = f"anchor-{stamp}-{anchor['position']:012d}"
    data = (json.dumps(anchor, indent=1) + "\n").encode()
    for n in range(100):
        path = folder / (base + (f"-{n}" if n else "") + ".json")
        try:
            _write_new(path, data, 0o444)
            return path
        except AnchorProblem:
            if not path.exists():
                raise
    raise AnchorProblem(f"cannot find a new name for an anchor in {brief(folder)}")


def read_anchors(folder: str | Path, public_key: Any) -> tuple[list[Anchor], list[str]]:
    """Every anchor in `folder` (oldest position first), each with whether its signature holds; and a line for each
    file that is not an anchor at all."""
    from cryptography.exceptions import InvalidSignature

    folder = Path(folder)
    if not folder.is_dir():
        raise AnchorProblem(f"the anchors folder {brief(folder)} does not exist")
    anchors, unreadable = [], []
    for path in sorted(folder.glob("anchor-*.json")):
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(body, dict) or body.get("format") != ANCHOR_FORMAT:
                raise ValueError("not an anchor")
            if not (isinstance(body["position"], int) and bytes.fromhex(body["log_hash"])
                    and isinstance(body["signature"], str)):
                raise ValueError("not an anchor")
            signature = base64.b64decode(body["signature"], validate=True)
        except (OSError, ValueError, KeyError, TypeError) as e:
            unreadable.append(f"anchor {path.name}: unreadable ({brief(str(e))}): not an anchor this ledger wrote")
            continue
        try:
            public_key.verify(signature, _signed_bytes(body))
            signed = True
        except (InvalidSignature, KeyError):
            signed = False
        anchors.append(Anchor(path, body, signed))
    anchors.sort(key=lambda a: (a.position, a.path.name))
    return anchors, unreadable


def check(anchors: list[Anchor], log_hashes: dict[int, bytes], log_end: int) -> list[tuple[str, str]]:
    """(anchor's name, what is wrong) for every anchor the log no longer agrees with. `log_hashes` holds the log
    chain's hash now at each anchor's position (missing: no log row there), `log_end` its last position. The
    last anchor that still holds, before the first that does not, brackets where the history was rewritten."""
    out: list[tuple[str, str]] = []
    holding = None
    for a in anchors:
        taken = f"taken {a.body.get('made_at', '?')}"
        if not a.signed:
            out.append((a.path.name, f"position {a.position}, {taken}: its signature does not verify with the "
                                     "public key (forged, altered, or signed with another key)"))
            continue
        if a.position > log_end:
            problem = (f"position {a.position}, {taken}: the log now ends at position {log_end} (events removed "
                       "from its end since)")
        elif a.position not in log_hashes:
            problem = f"position {a.position}, {taken}: the log has no row at that position now (removed)"
        elif log_hashes[a.position] != a.log_hash:
            problem = (f"position {a.position}, {taken}: the log chain's hash there differs from the anchor's: "
                       f"an event at or before position {a.position} was changed, removed or moved, and the chains "
                       "recomputed")
        else:
            holding = a
            continue
        if holding is not None and not out:
            problem += (f" (the anchor before it, {holding.path.name} at position {holding.position}, still holds:"
                        f" the rewrite lies between positions {holding.position} and {a.position})")
        out.append((a.path.name, problem))
    return out

"""Encrypted files for biometric images under MEDIA_ROOT: written atomically, read decrypted, never served raw.

Watch-list copies and pending uploads live under `watchlists/<deployment id>/`, so destroying a deployment's
watch-list can remove one folder; library originals live under `library/`.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from django.conf import settings

from compliance.crypto import decrypt_bytes, encrypt_bytes, rotate_token

LIBRARY_DIR = "library"
WATCHLISTS_DIR = "watchlists"


def media_root() -> Path:
    return Path(settings.MEDIA_ROOT)


def absolute(rel_path: str) -> Path:
    """The file for a stored relative path; refuses anything that would leave MEDIA_ROOT."""
    root = media_root().resolve()
    path = (root / rel_path).resolve()
    if root not in path.parents:
        raise ValueError(f"{rel_path!r} is outside MEDIA_ROOT")
    return path


def watchlist_folder(deployment_id: int) -> str:
    return f"{WATCHLISTS_DIR}/{int(deployment_id)}"


def new_path(folder: str) -> str:
    """A fresh, unguessable relative path in `folder` (names never carry person references)."""
    return f"{folder}/{uuid.uuid4().hex}.bin"


def write_encrypted(rel_path: str, data: bytes) -> None:
    """Encrypt under the newest key and write via a temporary file, so a reader never sees half a file."""
    path = absolute(rel_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(encrypt_bytes(data))
    os.replace(tmp, path)


def read_decrypted(rel_path: str) -> bytes:
    """The plaintext of a stored file; raises FileNotFoundError or crypto.InvalidToken."""
    return decrypt_bytes(absolute(rel_path).read_bytes())


def rotate_file(rel_path: str) -> bool:
    """Re-encrypt one file under the newest key; False when the file is missing."""
    path = absolute(rel_path)
    if not path.is_file():
        return False
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(rotate_token(path.read_bytes()))
    os.replace(tmp, path)
    return True


def remove(rel_path: str) -> None:
    if rel_path:
        absolute(rel_path).unlink(missing_ok=True)


def remove_folder(rel_folder: str) -> None:
    shutil.rmtree(absolute(rel_folder), ignore_errors=True)


def files_in(rel_folder: str) -> list[str]:
    """Every file left under a folder, relative to MEDIA_ROOT (for destruction evidence)."""
    folder = absolute(rel_folder)
    if not folder.exists():
        return []
    root = media_root().resolve()
    return sorted(str(p.relative_to(root)) for p in folder.rglob("*") if p.is_file())


def deployment_folders(rel_dir: str) -> list[int]:
    """The deployments that have a folder under `rel_dir` (watch-lists, signage photos), from one directory
    listing: what a reconciling sweep looks at, however many deployments have ended."""
    root = absolute(rel_dir)
    if not root.is_dir():
        return []
    return sorted(int(child.name) for child in root.iterdir() if child.is_dir() and child.name.isdigit())

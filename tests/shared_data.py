"""Where the shared, read-only test data lives: $LFR_SHARED_DIR, else <repo root>/../shared.

The face photos are never copied into the repository; a missing folder is an error, not a skip, so a
broken checkout cannot pass by silently running fewer tests.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ["LFR_SHARED_DIR"]) if os.environ.get("LFR_SHARED_DIR") else REPO_ROOT / ".." / "shared"


def faces_dir() -> Path:
    """The folder of face photos (data/faces); raises FileNotFoundError with the fix when it is missing."""
    path = (SHARED_DIR / "data" / "faces").resolve()
    if not path.is_dir():
        raise FileNotFoundError(
            f"Shared face photos not found at {path}. Put the shared folder next to the repository "
            f"(<repo>/../shared/data/faces) or set LFR_SHARED_DIR to the folder that contains data/faces."
        )
    return path


def face_path(name: str) -> Path:
    """A file in the faces folder, which must exist."""
    path = faces_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"Shared test file {path} is missing.")
    return path

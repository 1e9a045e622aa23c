"""Encryption at rest for biometric artefacts (encodings, reference images, probe crops).

Keys come from the environment: `LFR_ENCODING_KEYS` is a comma-separated list of Fernet keys, newest first.
Data is always encrypted with the first key and decrypted with any of them, so a key can be rotated in by
prepending it and re-encrypting (`manage.py rotate_encoding_key`) before the old one is removed.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = ["InvalidToken", "decrypt_bytes", "encrypt_bytes", "fernet", "reset_keys"]


@lru_cache(maxsize=1)
def fernet() -> MultiFernet:
    keys = [k.strip() for k in settings.LFR_ENCODING_KEYS if k.strip()]
    if not keys:
        raise ImproperlyConfigured("LFR_ENCODING_KEYS must hold at least one Fernet key (see .env.example).")
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except ValueError as exc:
        raise ImproperlyConfigured("LFR_ENCODING_KEYS holds a malformed Fernet key.") from exc


def reset_keys() -> None:
    """Forget cached keys (after settings change: key rotation, tests)."""
    fernet.cache_clear()


def encrypt_bytes(data: bytes) -> bytes:
    """Encrypt with the newest key (authenticated: tampering is detected on decryption)."""
    return fernet().encrypt(data)


def decrypt_bytes(token: bytes) -> bytes:
    """Decrypt with whichever configured key encrypted it; raises InvalidToken if none did or it was altered."""
    return fernet().decrypt(bytes(token))


def rotate_token(token: bytes) -> bytes:
    """Re-encrypt under the newest key without exposing the plaintext to the caller."""
    return fernet().rotate(bytes(token))

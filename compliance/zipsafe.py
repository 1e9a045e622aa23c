"""Safe reading of uploaded zip archives: path traversal, links and bombs are refused before and while extracting.

The declared sizes in the central directory are checked first; the bytes actually inflated are capped as well,
because a forged header can declare anything. Members are never written under their own names, so a member with an
unsafe name or a link is refused on its own (its own verdict) and the files beside it are still read.
"""

from __future__ import annotations

import io
import lzma
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

_CHUNK = 64 * 1024
# What a damaged member raises while it is inflated or checked: zipfile's own errors (a bad CRC is BadZipFile),
# and the decompressors' (a broken deflate stream is zlib.error, a broken LZMA one LZMAError; bz2 raises OSError).
_DAMAGED = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    OSError,
    ValueError,
    EOFError,
    NotImplementedError,
    RuntimeError,
)


class ZipRefused(Exception):
    """The whole archive is refused; `code` is stable, `message` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ZipLimits:
    max_files: int
    max_total_bytes: int
    max_ratio: int
    max_file_bytes: int


def is_zip(data: bytes) -> bool:
    return data[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def _unsafe_name(name: str) -> bool:
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":") or "\x00" in normalised:
        return True
    return any(part == ".." for part in normalised.split("/"))


def _skipped(info: zipfile.ZipInfo) -> bool:
    # Folders and macOS resource forks are not uploads; everything else gets a verdict.
    name = info.filename.replace("\\", "/")
    return info.is_dir() or name.startswith("__MACOSX/") or name.rsplit("/", 1)[-1].startswith("._")


def inspect(data: bytes, limits: ZipLimits) -> list[zipfile.ZipInfo]:
    """The archive's files after checking count and declared total size (members refused on their own, for an
    unsafe name, a link or their size, are counted as files but not as bytes to inflate)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise ZipRefused("bad_zip", "The file is not a readable zip archive.") from exc
    files = [info for info in infos if not _skipped(info)]
    if not files:
        raise ZipRefused("zip_empty", "The archive contains no files.")
    if len(files) > limits.max_files:
        raise ZipRefused("zip_too_many_files", f"The archive holds {len(files)} files; at most {limits.max_files}.")
    # What will be inflated: a member refused on its own (bomb-like, or larger than one image may be) is never read,
    # so its declared size, however large, does not refuse the good files beside it.
    total = sum(info.file_size for info in files if not _refused_alone(info, limits))
    if total > limits.max_total_bytes:
        raise ZipRefused(
            "zip_too_large", f"The archive expands to {total:,} bytes; at most {limits.max_total_bytes:,} are accepted."
        )
    return files


def _refused_alone(info: zipfile.ZipInfo, limits: ZipLimits) -> bool:
    """A member that gets its own verdict without being inflated (see members())."""
    return (
        _unsafe_name(info.filename)
        or _is_link(info)
        or bool(info.flag_bits & 0x1)
        or info.file_size > limits.max_file_bytes
        or _bomb_like(info, limits)
    )


def _shown(name: str) -> str:
    # A zip name may be up to 64 KiB: the verdict names the member by its end, as the item's file name does.
    return repr(name if len(name) <= 200 else "…" + name[-200:])


def _is_link(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _bomb_like(info: zipfile.ZipInfo, limits: ZipLimits) -> bool:
    """A member that compresses more than a real photo can, as a zip bomb does. It gets its own verdict and is
    never inflated, so the other files are read and kept (what is inflated stays capped, in members())."""
    return info.file_size > limits.max_ratio * max(info.compress_size, 1)


def members(data: bytes, limits: ZipLimits) -> Iterator[tuple[str, bytes | None, str, str]]:
    """Yield (name, bytes or None, error code, message) per file; stop with ZipRefused once a cap is exceeded.

    A member that is not read (an unsafe name, a link, encrypted, damaged, too large, bomb-like) yields None and an
    error, for its own verdict.
    """
    files = inspect(data, limits)
    archive = zipfile.ZipFile(io.BytesIO(data))
    total = 0
    for info in files:
        if _unsafe_name(info.filename):
            yield (
                info.filename,
                None,
                "unsafe_name",
                f"The archive member {_shown(info.filename)} has an unsafe path (absolute, or leading out of its "
                "folder); it was not extracted. Rename it inside the archive and upload it again.",
            )
            continue
        if _is_link(info):
            yield (
                info.filename,
                None,
                "link",
                f"The archive member {_shown(info.filename)} is a link, not an image; it was not extracted. Put the "
                "image itself in the archive.",
            )
            continue
        if info.flag_bits & 0x1:
            yield info.filename, None, "unsupported_format", "The file is encrypted inside the archive."
            continue
        if _bomb_like(info, limits):
            yield (
                info.filename,
                None,
                "zip_bomb",
                f"The file compresses more than {limits.max_ratio}:1, as a zip bomb does; it was not extracted.",
            )
            continue
        if info.file_size > limits.max_file_bytes:
            yield info.filename, None, "file_too_large", f"The file is larger than {limits.max_file_bytes:,} bytes."
            continue
        cap = info.file_size
        chunks: list[bytes] = []
        read = 0
        try:
            with archive.open(info) as handle:
                while chunk := handle.read(_CHUNK):
                    read += len(chunk)
                    total += len(chunk)
                    if total > limits.max_total_bytes:
                        raise ZipRefused("zip_too_large", "The archive expands beyond the accepted size; refused.")
                    if read > cap:
                        raise ZipRefused(
                            "zip_bomb", f"{info.filename!r} inflates beyond its declared or accepted size; refused."
                        )
                    chunks.append(chunk)
        except ZipRefused:
            raise
        except _DAMAGED:
            yield info.filename, None, "corrupt", "The file is damaged inside the archive."
            continue
        yield info.filename, b"".join(chunks), "", ""

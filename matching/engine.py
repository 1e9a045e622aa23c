"""The matcher: image decoding, face detection and encoding, 1:N search and alert policies.

Pure and deterministic: numpy, PIL and face_recognition (and OpenCV's batchDistance for the first pass of a search
of a large watch-list), no Django. Thresholds and scoring live here.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import io
import json
import math
import struct
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

if TYPE_CHECKING:
    from types import ModuleType

# Bump when this module changes how encodings or distances are produced, so calibrations go stale.
ENGINE_VERSION = "1"
ENCODING_DIM = 128

Detector = Literal["hog", "cnn"]
EncodingModel = Literal["small", "large"]
PolicyKind = Literal["threshold", "margin"]
EntryId = int | str

ACCEPTED_FORMATS = ("JPEG", "PNG")
# A JPEG with a multi-picture extension (most phone cameras) opens as MPO; it is still a JPEG.
_PIL_FORMATS = {"JPEG": ("JPEG", "MPO"), "PNG": ("PNG",)}
_OTHER_IMAGE_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"8BPS", "PSD"),
    (b"\xff\x0a", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
)
# Worst case of the expansion search per chunk, in float32 cells (about 32 MB).
_SEARCH_CHUNK_CELLS = 8_000_000
# Galleries this large are searched first through an 8-bit copy: a quarter of the bytes per probe, which is what a
# search of a large watch-list costs (memory-bound). The answer is still exact: see _search_quantized.
_QUANTIZED_MIN_ENTRIES = 8_000
# Nearest codes asked of the 8-bit pass per probe; if the bound cannot rule out every entry beyond them, the probe
# is searched again in float32.
_QUANTIZED_CANDIDATES = 64
# From this many probes at once, one float32 pass over the gallery (shared by every probe) reads fewer bytes than
# an 8-bit pass per probe.
_QUANTIZED_MAX_PROBES = 3
# Float rounding in the bounds, relative to the distances (float32 rounding is about 1e-7 of a distance).
_BOUND_SLACK = 1e-5
_CODES_BLOCK_ROWS = 8_192
_READ_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
    TypeError,
    KeyError,
    ZeroDivisionError,
)


# --- errors -----------------------------------------------------------------------------------------------


class EngineError(Exception):
    """A refusal with a stable machine-readable code and a human message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ImageError(EngineError):
    """The bytes are not an acceptable image: not_an_image, corrupt, unsupported_format or too_many_pixels."""


class EnrolmentError(EngineError):
    """The image decoded but does not hold exactly one usable face: no_face, multiple_faces or face_too_small."""


# --- configuration ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EngineConfig:
    """Detector and encoder settings; the fingerprint ties a calibration to them and to the installed models."""

    detector: Detector = "hog"
    upsample: int = 0
    num_jitters: int = 1
    encoding_model: EncodingModel = "large"
    min_face_px: int = 40

    def __post_init__(self) -> None:
        if self.detector not in ("hog", "cnn"):
            raise ValueError(f"detector must be 'hog' or 'cnn', not {self.detector!r}")
        if self.encoding_model not in ("small", "large"):
            raise ValueError(f"encoding_model must be 'small' or 'large', not {self.encoding_model!r}")
        for name, low, high in (("upsample", 0, 4), ("num_jitters", 1, 100), ("min_face_px", 0, 10_000)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be an integer from {low} to {high}, not {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EngineConfig:
        """Build from a stored dict; unknown keys are refused so a typo cannot silently become a default."""
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown engine settings: {', '.join(sorted(unknown))}")
        return cls(**data)

    def fingerprint(self) -> str:
        """sha256 of the settings plus the installed engine identity (versions, model files and their hashes)."""
        payload = {"config": self.to_dict(), "engine": library_identity()}
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _distribution_version(*names: str) -> str | None:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


@functools.cache
def library_identity() -> dict[str, Any]:
    """Versions of the matcher libraries and the model files they load, read from package metadata."""
    models: dict[str, str | None] = {}
    try:
        for file in importlib.metadata.files("face_recognition_models") or ():
            if file.name.endswith(".dat"):
                models[file.name] = f"{file.hash.mode}={file.hash.value}" if file.hash else None
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        import dlib

        dlib_version: str | None = str(dlib.__version__)
    except ImportError:
        dlib_version = None
    return {
        "engine_version": ENGINE_VERSION,
        # face_recognition.__version__ says 1.2.3 for 1.3.0, so the distribution metadata is the truth.
        "face_recognition": _distribution_version("face_recognition", "face-recognition"),
        "face_recognition_models": _distribution_version("face_recognition_models"),
        "dlib": dlib_version,
        "models": models,
    }


@functools.cache
def _face_recognition() -> ModuleType:
    # Importing face_recognition loads about 120 MB of models; web processes that only need policies
    # or search should not pay for that.
    truncated_before = ImageFile.LOAD_TRUNCATED_IMAGES
    import face_recognition

    # face_recognition.api sets LOAD_TRUNCATED_IMAGES = True on import, which would make PIL accept
    # truncated uploads process-wide; undo that side effect.
    ImageFile.LOAD_TRUNCATED_IMAGES = truncated_before
    return face_recognition


# --- images -----------------------------------------------------------------------------------------------


def sniff_format(data: bytes) -> str:
    """The format of an image, JPEG or PNG, from its first 16 bytes; an ImageError names any other it recognises."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        raise ImageError("unsupported_format", "WEBP images are not accepted; send JPEG or PNG.")
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif", b"ftyphevc"):
        raise ImageError("unsupported_format", "HEIC/AVIF images are not accepted; send JPEG or PNG.")
    for signature, name in _OTHER_IMAGE_SIGNATURES:
        if data.startswith(signature):
            raise ImageError("unsupported_format", f"{name} images are not accepted; send JPEG or PNG.")
    raise ImageError("not_an_image", "The data is not a JPEG or PNG image.")


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode.startswith("I;16") or img.mode == "I":
        # 16-bit greyscale: PIL's convert("RGB") clips instead of scaling, which would whiten the picture.
        wide = np.asarray(img).astype(np.int64)
        grey = (np.clip(wide, 0, 65535) // 257).astype(np.uint8)
        return Image.fromarray(np.stack([grey] * 3, axis=-1), "RGB")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info:
        # Transparent pixels often hold arbitrary colour; flatten onto white as a browser would show it.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img if img.mode == "RGB" else img.convert("RGB")  # convert() copies even when there is nothing to do


def decode_image(data: bytes, *, max_pixels: int) -> np.ndarray:
    """Decode JPEG or PNG bytes to an upright RGB uint8 array, refusing oversized images before decoding."""
    if max_pixels <= 0:
        raise ValueError("max_pixels must be positive")
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise RuntimeError(
            "PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on in this process (importing face_recognition directly "
            "turns it on); truncated uploads would pass as images. Import face_recognition only via the engine."
        )
    if not data:
        raise ImageError("not_an_image", "The data is empty.")
    fmt = sniff_format(bytes(data[:16]))
    try:
        # Only the sniffed plugin parses the bytes, so no other PIL decoder is exposed to uploads.
        with Image.open(io.BytesIO(data), formats=[fmt]) as img:
            if img.format not in _PIL_FORMATS[fmt]:
                raise ImageError("unsupported_format", f"{img.format} images are not accepted; send JPEG or PNG.")
            width, height = img.size
            if width <= 0 or height <= 0:
                raise ImageError("corrupt", "The image has no pixels.")
            if width * height > max_pixels:
                raise ImageError(
                    "too_many_pixels", f"The image is {width}×{height}; at most {max_pixels:,} pixels are accepted."
                )
            img.load()
            ImageOps.exif_transpose(img, in_place=True)  # a copy of every frame otherwise, even when upright
            return np.ascontiguousarray(np.asarray(_to_rgb(img), dtype=np.uint8))
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageError("too_many_pixels", "The image declares more pixels than can be decoded safely.") from exc
    except UnidentifiedImageError as exc:
        raise ImageError("corrupt", f"The {fmt} header cannot be read.") from exc
    except MemoryError as exc:
        raise ImageError("too_many_pixels", "The image is too large to decode.") from exc
    except _READ_ERRORS as exc:
        raise ImageError("corrupt", f"The {fmt} image is damaged or truncated.") from exc


# --- faces ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaceBox:
    """A face rectangle in pixel coordinates, bottom and right exclusive (face_recognition's css order)."""

    top: int
    right: int
    bottom: int
    left: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    def as_css(self) -> tuple[int, int, int, int]:
        return (self.top, self.right, self.bottom, self.left)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def _check_image(image: np.ndarray) -> np.ndarray:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image of shape (h, w, 3), got {image.dtype} {image.shape}")
    return np.ascontiguousarray(image)


def _detect_all(image: np.ndarray, config: EngineConfig) -> list[FaceBox]:
    fr = _face_recognition()
    locations = fr.face_locations(
        _check_image(image), number_of_times_to_upsample=config.upsample, model=config.detector
    )
    return [FaceBox(*map(int, css)) for css in locations]


def _is_usable(box: FaceBox, config: EngineConfig) -> bool:
    return min(box.width, box.height) >= config.min_face_px


def detect_faces(image: np.ndarray, config: EngineConfig) -> list[FaceBox]:
    """Faces found by the configured detector, without those whose shorter side is below min_face_px."""
    return [box for box in _detect_all(image, config) if _is_usable(box, config)]


def encode_faces(image: np.ndarray, boxes: Sequence[FaceBox], config: EngineConfig) -> np.ndarray:
    """One float32 128-d encoding per box, as an (n, 128) array."""
    if not boxes:
        return np.empty((0, ENCODING_DIM), dtype=np.float32)
    fr = _face_recognition()
    encodings = fr.face_encodings(
        _check_image(image),
        known_face_locations=[box.as_css() for box in boxes],
        num_jitters=config.num_jitters,
        model=config.encoding_model,
    )
    return np.asarray(encodings, dtype=np.float32).reshape(len(boxes), ENCODING_DIM)


def warm_up(config: EngineConfig) -> None:
    """Load the detector and encoder models now, so a worker's first live frame does not pay seconds for it."""
    blank = np.zeros((64, 64, 3), dtype=np.uint8)
    detect_faces(blank, config)
    encode_faces(blank, [FaceBox(top=8, right=56, bottom=56, left=8)], config)


def _expanded(box: FaceBox, shape: tuple[int, ...], margin: float) -> tuple[int, int, int, int]:
    dy, dx = round(box.height * margin), round(box.width * margin)
    top, bottom = max(0, box.top - dy), min(shape[0], box.bottom + dy)
    left, right = max(0, box.left - dx), min(shape[1], box.right + dx)
    return top, right, bottom, left


def crop_face(image: np.ndarray, box: FaceBox, margin: float = 0.25, hide: Sequence[FaceBox] = ()) -> np.ndarray:
    """A copy of the face with `margin` × its size added on each side, clipped to the image; any face in `hide`
    that reaches into it is pixelated, as `blur_faces` does, so a crop keeps no one else's face."""
    top, right, bottom, left = _expanded(box, image.shape, margin)
    crop = image[top:bottom, left:right].copy()

    def reaches_in(other: FaceBox) -> bool:  # with the margin it is pixelated with: a detector's box is tight
        o_top, o_right, o_bottom, o_left = _expanded(other, image.shape, BLUR_MARGIN)
        return o_top < bottom and o_bottom > top and o_left < right and o_right > left

    others = [other for other in hide if other != box and reaches_in(other)]
    if not others:
        return crop
    _pixelate(crop, [_shifted(other, top, left) for other in others])
    # The face itself stays sharp where only a neighbour's blurred margin reached into it, never where the
    # neighbour's own face overlaps it.
    sharp = np.zeros(crop.shape[:2], dtype=bool)
    own = _shifted(box, top, left)
    sharp[max(0, own.top) : max(0, own.bottom), max(0, own.left) : max(0, own.right)] = True
    for other in others:
        o = _shifted(other, top, left)
        sharp[max(0, o.top) : max(0, o.bottom), max(0, o.left) : max(0, o.right)] = False
    crop[sharp] = image[top:bottom, left:right][sharp]
    return crop


def _shifted(box: FaceBox, top: int, left: int) -> FaceBox:
    return FaceBox(top=box.top - top, right=box.right - left, bottom=box.bottom - top, left=box.left - left)


BLUR_MARGIN = 0.2  # of a face's size, added on each side of the detector's box before pixelating it


def blur_faces(
    image: np.ndarray, boxes: Sequence[FaceBox], *, margin: float = BLUR_MARGIN, blocks: int = 6
) -> np.ndarray:
    """A copy of the image with each face (plus margin) pixelated to about `blocks` cells across."""
    return _pixelate(image.copy(), boxes, margin=margin, blocks=blocks)


def _pixelate(out: np.ndarray, boxes: Sequence[FaceBox], *, margin: float = BLUR_MARGIN, blocks: int = 6) -> np.ndarray:
    """Pixelate each face (plus margin, clipped to the image; a box may reach outside it) in place.

    The cells are sized from the whole face and laid on its own grid, clipped or not: a face only partly inside
    the image (a neighbour reaching into an alert's crop) is as coarse as it would be whole."""
    for box in boxes:
        top, right, bottom, left = _expanded(box, out.shape, margin)
        region = out[top:bottom, left:right]
        h, w = region.shape[:2]
        if h == 0 or w == 0:
            continue
        dy, dx = round(box.height * margin), round(box.width * margin)
        cell = max(2, math.ceil(max(box.height + 2 * dy, box.width + 2 * dx) / blocks))
        # Where the clipped region starts on the whole face's grid.
        off_t, off_l = (top - (box.top - dy)) % cell, (left - (box.left - dx)) % cell
        pad = ((off_t, -(off_t + h) % cell), (off_l, -(off_l + w) % cell), (0, 0))
        padded = np.pad(region, pad, mode="edge").astype(np.float32)
        ph, pw = padded.shape[:2]
        means = padded.reshape(ph // cell, cell, pw // cell, cell, -1).mean(axis=(1, 3))
        mosaic = np.repeat(np.repeat(means, cell, axis=0), cell, axis=1)[off_t : off_t + h, off_l : off_l + w]
        out[top:bottom, left:right] = np.rint(mosaic).astype(out.dtype)
    return out


@dataclass(frozen=True)
class EnrolmentResult:
    """The single usable face of an enrolment image and its float32 encoding."""

    encoding: np.ndarray
    box: FaceBox
    image_width: int
    image_height: int


def enrolment_encoding(data: bytes, *, config: EngineConfig, max_pixels: int) -> EnrolmentResult:
    """Encode a watch-list image holding exactly one usable face; raises ImageError or EnrolmentError."""
    image = decode_image(data, max_pixels=max_pixels)
    found = _detect_all(image, config)
    usable = [box for box in found if _is_usable(box, config)]
    if not found:
        raise EnrolmentError("no_face", "No face was found in the image.")
    if not usable:
        raise EnrolmentError(
            "face_too_small",
            f"A face was found but it is smaller than {config.min_face_px} pixels; use a closer or larger image.",
        )
    if len(usable) > 1:
        raise EnrolmentError(
            "multiple_faces", f"{len(usable)} faces were found; a watch-list image must show exactly one person."
        )
    encoding = encode_faces(image, usable, config)[0]
    return EnrolmentResult(encoding=encoding, box=usable[0], image_width=image.shape[1], image_height=image.shape[0])


def encoding_to_bytes(encoding: np.ndarray) -> bytes:
    """The storage form of one encoding: 128 little-endian float32 values (512 bytes)."""
    vector = np.asarray(encoding, dtype="<f4")
    if vector.shape != (ENCODING_DIM,):
        raise ValueError(f"expected shape ({ENCODING_DIM},), got {vector.shape}")
    return vector.tobytes()


def encoding_from_bytes(data: bytes) -> np.ndarray:
    """Inverse of encoding_to_bytes."""
    if len(data) != ENCODING_DIM * 4:
        raise ValueError(f"expected {ENCODING_DIM * 4} bytes, got {len(data)}")
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


# --- 1:N search -------------------------------------------------------------------------------------------


def _as_matrix(vectors: np.ndarray, what: str) -> np.ndarray:
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim == 1 and matrix.size == ENCODING_DIM:
        matrix = matrix.reshape(1, ENCODING_DIM)
    if matrix.ndim == 1 and matrix.size == 0:
        matrix = matrix.reshape(0, ENCODING_DIM)
    if matrix.ndim != 2 or matrix.shape[1] != ENCODING_DIM:
        raise ValueError(f"{what} must have shape (n, {ENCODING_DIM}), got {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    return np.ascontiguousarray(matrix)


@dataclass(frozen=True, eq=False)
class _Codes:
    """An 8-bit copy of a gallery for the first pass of a search: one scale for every component, so that distances
    between codes are distances between encodings times `step`, and each entry's rounding error, for the bounds.
    """

    codes: np.ndarray  # uint8, (n, 128): round((x - low) / step)
    low: float
    step: float
    errors: np.ndarray  # float64, (n,): ||x - (low + step · code)||, computed exactly
    max_error: float

    @classmethod
    def of(cls, matrix: np.ndarray) -> _Codes:
        import cv2  # noqa: F401  (loaded with the gallery, so the first frame that searches it does not pay for it)

        low, high = float(matrix.min()), float(matrix.max())
        step = max(high - low, 1e-12) / 255.0
        codes = np.empty(matrix.shape, dtype=np.uint8)
        errors = np.empty(matrix.shape[0], dtype=np.float64)
        # In blocks: float64 temporaries of a whole 100k gallery would be several hundred MB in every worker.
        for start in range(0, matrix.shape[0], _CODES_BLOCK_ROWS):
            rows = slice(start, start + _CODES_BLOCK_ROWS)
            block = matrix[rows].astype(np.float64)
            codes[rows] = np.clip(np.rint((block - low) / step), 0, 255)
            block -= low + step * codes[rows]
            errors[rows] = np.sqrt(np.einsum("ij,ij->i", block, block))
        codes.setflags(write=False)
        errors.setflags(write=False)
        return cls(codes=codes, low=low, step=step, errors=errors, max_error=float(errors.max()))

    def encode(self, probe: np.ndarray) -> tuple[np.ndarray, float]:
        """The probe's code (clipped to the gallery's range) and its exact rounding and clipping error."""
        code = np.clip(np.rint((probe.astype(np.float64) - self.low) / self.step), 0, 255)
        error = float(np.linalg.norm(probe.astype(np.float64) - (self.low + self.step * code)))
        return code.astype(np.uint8).reshape(1, ENCODING_DIM), error


def _person_labels(persons: Sequence[Hashable | None] | None, n: int) -> np.ndarray | None:
    """One integer per entry, equal for the entries of one person; None when no person has two entries (the
    common case, searched as before). An entry whose person is None or "" is a person of its own."""
    if persons is None:
        return None
    if len(persons) != n:
        raise ValueError(f"{n} encodings but {len(persons)} persons")
    labels: dict[Hashable, int] = {}
    out = np.empty(n, dtype=np.int64)
    for i, person in enumerate(persons):
        out[i] = i if person is None or person == "" else labels.setdefault(person, i)
    if len(np.unique(out)) == n:
        return None
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class Gallery:
    """A watch-list ready to search: float32 encodings, their squared norms and entry ids, built once.

    A large gallery also keeps an 8-bit copy of its encodings for the first pass of a search (a quarter more memory).
    `persons` labels the entries of one person alike when someone has several (photos from different days):
    a search's runner-up is then the nearest entry of another person, as the margin rule means it.
    """

    matrix: np.ndarray
    sq_norms: np.ndarray
    ids: tuple[EntryId, ...]
    codes: _Codes | None = None
    persons: np.ndarray | None = None

    @classmethod
    def build(
        cls, matrix: np.ndarray, ids: Sequence[EntryId], persons: Sequence[Hashable | None] | None = None
    ) -> Gallery:
        """Copy and freeze the encodings, so one gallery can be shared by every frame of a session. `persons`: who
        each entry shows (any hashable key, such as a normalised person reference), or None if each entry is
        someone else."""
        encodings = _as_matrix(matrix, "gallery").copy()
        if len(ids) != encodings.shape[0]:
            raise ValueError(f"{encodings.shape[0]} encodings but {len(ids)} ids")
        labels = _person_labels(persons, encodings.shape[0])
        sq_norms = np.einsum("ij,ij->i", encodings, encodings)
        encodings.setflags(write=False)
        sq_norms.setflags(write=False)
        codes = _Codes.of(encodings) if encodings.shape[0] >= _QUANTIZED_MIN_ENTRIES else None
        return cls(matrix=encodings, sq_norms=sq_norms, ids=tuple(ids), codes=codes, persons=labels)

    @classmethod
    def empty(cls) -> Gallery:
        return cls.build(np.empty((0, ENCODING_DIM), dtype=np.float32), ())

    def __len__(self) -> int:
        return self.matrix.shape[0]

    def person_of(self, index: int) -> int:
        """A key equal for the entries of one person (the entry's own index when nobody has two entries)."""
        return index if self.persons is None else int(self.persons[index])

    def same_person(self, index: int) -> tuple[EntryId, ...]:
        """The ids of every entry showing the person of entry `index`, itself included."""
        if self.persons is None:
            return (self.ids[index],)
        return tuple(self.ids[i] for i in np.flatnonzero(self.persons == self.persons[index]))


@dataclass(frozen=True, eq=False)
class SearchResult:
    """Per probe: index of the nearest entry (-1 if the gallery is empty), its distance and the runner-up's: the
    nearest entry after it, or with `Gallery.persons` the nearest entry of another person (inf if none)."""

    best_index: np.ndarray
    best_distance: np.ndarray
    runner_up_distance: np.ndarray

    def __len__(self) -> int:
        return self.best_index.shape[0]


def _nearest_two(probe: np.ndarray, gallery: Gallery, candidates: np.ndarray) -> tuple[int, float, float]:
    """The nearest and second-nearest of `candidates` (indices into the gallery), by distances computed directly."""
    diff = gallery.matrix[candidates] - probe
    exact = np.sqrt(np.einsum("kd,kd->k", diff, diff))
    first = int(np.argmin(exact))
    best = float(exact[first])
    exact[first] = np.inf
    return int(candidates[first]), best, float(exact.min()) if len(exact) > 1 else math.inf


def _search_quantized(probe: np.ndarray, gallery: Gallery) -> tuple[int, float, float] | None:
    """The nearest two entries through the 8-bit codes; None when the bounds cannot vouch for the answer.

    Exact, not approximate: a code distance d̂ bounds the true distance d within |d - d̂| <= e_probe + e_entry (the
    triangle inequality over the two rounding errors). Every entry whose lower bound is within the second-smallest
    upper bound is measured directly, and no entry outside that set can be one of the nearest two.
    """
    import cv2  # OpenCV's batchDistance: the 8-bit squared distances and the nearest few, in one pass

    codes = gallery.codes
    assert codes is not None
    code, probe_error = codes.encode(probe)
    n = len(gallery)
    k = min(_QUANTIZED_CANDIDATES, n)
    squared, nearest = cv2.batchDistance(code, codes.codes, cv2.CV_32S, normType=cv2.NORM_L2SQR, K=k)
    index = nearest[0].astype(np.int64)
    approx = np.sqrt(squared[0].astype(np.float64)) * codes.step
    slack = probe_error + _BOUND_SLACK * (1.0 + float(approx.max()))
    beyond = float(approx.max()) - codes.max_error - slack  # no entry beyond the k nearest codes is nearer
    if gallery.persons is not None:
        return _nearest_of_two_persons(probe, gallery, index, beyond if k < n else math.inf)
    lower = approx - codes.errors[index] - slack
    upper = approx + codes.errors[index] + slack
    bound = float(np.partition(upper, 1)[1]) if k > 1 else float(upper[0])
    if k < n and beyond <= bound:
        return None  # an entry beyond the k nearest codes could still be one of the nearest two
    return _nearest_two(probe, gallery, index[lower <= bound])


def _nearest_of_two_persons(
    probe: np.ndarray, gallery: Gallery, candidates: np.ndarray, beyond: float
) -> tuple[int, float, float] | None:
    """The nearest of `candidates` and the nearest of another person among them, measured directly; None unless
    both are nearer than `beyond`, the least distance any entry outside `candidates` can have."""
    assert gallery.persons is not None
    diff = gallery.matrix[candidates] - probe
    exact = np.sqrt(np.einsum("kd,kd->k", diff, diff))
    first = int(np.argmin(exact))
    others = exact[gallery.persons[candidates] != gallery.persons[candidates[first]]]
    runner_up = float(others.min()) if len(others) else math.inf
    if not runner_up <= beyond:
        return None  # the nearest other person may lie beyond the candidates
    return int(candidates[first]), float(exact[first]), runner_up


def _search_block(block: np.ndarray, gallery: Gallery) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The nearest two entries for each row of `block`, in float32 over the whole gallery."""
    # ||a-b||² = ||a||² + ||b||² - 2a·b; ||a||² is the same for every entry of a row, so ranking skips it.
    sq = block @ gallery.matrix.T
    sq *= -2.0
    sq += gallery.sq_norms
    rows = np.arange(block.shape[0])
    # Only the two nearest matter: two passes of argmin read the row twice, far cheaper than any partition or sort.
    first = sq.argmin(axis=1)
    alone = None
    if len(gallery) > 1:
        if gallery.persons is None:
            sq[rows, first] = np.inf
            second = sq.argmin(axis=1)
        else:  # the runner-up is another person: every entry of the nearest one's person is set aside
            sq[gallery.persons[None, :] == gallery.persons[first][:, None]] = np.inf
            second = sq.argmin(axis=1)
            alone = np.isinf(sq[rows, second])  # everyone on the list is this one person
        top = np.stack([first, second], axis=1)
    else:
        top = first[:, None]
    # The expansion cancels badly for near-identical vectors (float32 error about 1e-3 at distance 0),
    # so the two reported distances are recomputed directly from the differences.
    diff = gallery.matrix[top] - block[:, None, :]
    exact = np.sqrt(np.einsum("ikd,ikd->ik", diff, diff))
    if top.shape[1] == 1:
        return top[:, 0], exact[:, 0], np.full(len(rows), np.inf, dtype=np.float32)
    if alone is not None:
        exact[alone, 1] = np.inf
    flip = exact[:, 1] < exact[:, 0]
    top[flip] = top[flip][:, ::-1]
    exact[flip] = exact[flip][:, ::-1]
    return top[:, 0], exact[:, 0], exact[:, 1]


def search(probes: np.ndarray, gallery: Gallery | np.ndarray) -> SearchResult:
    """Nearest and second-nearest gallery entry per probe by Euclidean distance, vectorised over the gallery."""
    if not isinstance(gallery, Gallery):
        gallery = Gallery.build(gallery, range(np.asarray(gallery).reshape(-1, ENCODING_DIM).shape[0]))
    queries = _as_matrix(probes, "probes")
    p, n = queries.shape[0], len(gallery)
    best_index = np.full(p, -1, dtype=np.int64)
    best = np.full(p, np.inf, dtype=np.float32)
    runner_up = np.full(p, np.inf, dtype=np.float32)
    if p == 0 or n == 0:
        return SearchResult(best_index, best, runner_up)

    if gallery.codes is not None and p <= _QUANTIZED_MAX_PROBES:
        pending = []
        for i in range(p):
            found = _search_quantized(queries[i], gallery)
            if found is None:
                pending.append(i)
            else:
                best_index[i], best[i], runner_up[i] = found
        if pending:
            best_index[pending], best[pending], runner_up[pending] = _search_block(queries[pending], gallery)
        return SearchResult(best_index, best, runner_up)
    chunk = max(1, _SEARCH_CHUNK_CELLS // n)
    for start in range(0, p, chunk):
        rows = slice(start, start + chunk)
        best_index[rows], best[rows], runner_up[rows] = _search_block(queries[rows], gallery)
    return SearchResult(best_index, best, runner_up)


# --- alert policies ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertPolicy:
    """When a face raises an alert: 'threshold' (best ≤ t) or 'margin' (also runner-up − best ≥ m, where the
    runner-up is the nearest other person when the gallery knows who each entry shows: `Gallery.persons`)."""

    kind: PolicyKind
    threshold: float
    margin: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("threshold", "margin"):
            raise ValueError(f"kind must be 'threshold' or 'margin', not {self.kind!r}")
        if not (math.isfinite(self.threshold) and self.threshold > 0):
            raise ValueError(f"threshold must be a positive number, not {self.threshold!r}")
        if not (math.isfinite(self.margin) and self.margin >= 0):
            raise ValueError(f"margin must be zero or more, not {self.margin!r}")
        if self.kind == "threshold" and self.margin != 0:
            raise ValueError("a threshold policy has no margin")

    def alerts(self, best: np.ndarray, runner_up: np.ndarray) -> np.ndarray:
        """Boolean alert flag per face from its best and runner-up distances."""
        best = np.asarray(best, dtype=np.float64)
        within = best <= self.threshold
        if self.kind == "margin":
            with np.errstate(invalid="ignore"):  # inf - inf when the gallery is empty; those never alert anyway
                within &= (np.asarray(runner_up, dtype=np.float64) - best) >= self.margin
        return within

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertPolicy:
        return cls(kind=data["kind"], threshold=float(data["threshold"]), margin=float(data.get("margin", 0.0)))


@dataclass(frozen=True)
class MatchVerdict:
    """The search outcome for one probe face; entry_id and index are None/-1 when the gallery is empty."""

    entry_id: EntryId | None
    index: int
    distance: float
    runner_up: float
    alert: bool


def match(probes: np.ndarray, gallery: Gallery, policy: AlertPolicy) -> list[MatchVerdict]:
    """Search every probe and apply the alert policy."""
    result = search(probes, gallery)
    flags = policy.alerts(result.best_distance, result.runner_up_distance)
    return [
        MatchVerdict(
            entry_id=gallery.ids[index] if index >= 0 else None,
            index=int(index),
            distance=float(distance),
            runner_up=float(second),
            alert=bool(flag),
        )
        for index, distance, second, flag in zip(
            result.best_index, result.best_distance, result.runner_up_distance, flags, strict=True
        )
    ]


# --- frames -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameAlert:
    """A face in the frame that met the alert policy against a watch-list entry."""

    box: FaceBox
    entry_id: EntryId
    index: int
    distance: float
    runner_up: float


@dataclass(frozen=True)
class FrameResult:
    """What a frame yields: a count of usable faces, the alerts, and only the boxes of faces that did not alert.

    Callers must persist nothing about non-matched faces beyond the count; their boxes exist only for blurring.
    """

    faces_seen: int
    alerts: tuple[FrameAlert, ...]
    non_matched_boxes: tuple[FaceBox, ...]


def process_frame(image: np.ndarray, gallery: Gallery, policy: AlertPolicy, config: EngineConfig) -> FrameResult:
    """Detect, encode and search one RGB frame; nothing of a non-matched face's template is returned or kept.

    The frame's encoding matrix is cleared before returning. Intermediate copies made on the way (the library's
    float64 encodings, the search's differences and quantised codes) are freed, not cleared: they live in this
    process's memory only, for the duration of the call.

    Faces too small to match (under min_face_px) are neither counted nor encoded, but their boxes are returned
    with the non-matched ones: whoever they are, they are blurred too."""
    detected = _detect_all(image, config)
    boxes = [box for box in detected if _is_usable(box, config)]
    small = [box for box in detected if not _is_usable(box, config)]
    if not boxes or len(gallery) == 0:
        return FrameResult(faces_seen=len(boxes), alerts=(), non_matched_boxes=(*boxes, *small))
    encodings = encode_faces(image, boxes, config)
    try:
        result = search(encodings, gallery)
    finally:
        # Templates of people not on the watch-list must never be kept (retention rule); nothing below needs
        # them, so the buffer is cleared instead of lingering until garbage collection.
        encodings.fill(0.0)
        del encodings
    flags = policy.alerts(result.best_distance, result.runner_up_distance)
    alerts: list[FrameAlert] = []
    others: list[FaceBox] = []
    for box, flag, index, distance, second in zip(
        boxes, flags, result.best_index, result.best_distance, result.runner_up_distance, strict=True
    ):
        if flag:
            alerts.append(FrameAlert(box, gallery.ids[index], int(index), float(distance), float(second)))
        else:
            others.append(box)
    return FrameResult(faces_seen=len(boxes), alerts=tuple(alerts), non_matched_boxes=(*others, *small))

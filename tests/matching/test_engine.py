"""The matcher engine: decoding safety, detection, enrolment, 1:N search and alert policies. No database."""

from __future__ import annotations

import dataclasses
import io
import resource
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from matching import engine
from matching.engine import (
    AlertPolicy,
    EngineConfig,
    EnrolmentError,
    FaceBox,
    Gallery,
    ImageError,
    blur_faces,
    crop_face,
    decode_image,
    detect_faces,
    encode_faces,
    enrolment_encoding,
    match,
    process_frame,
    search,
)
from tests.shared_data import face_path

MAX_PIXELS = 40_000_000
CONFIG = EngineConfig()


def _encode(img: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()


def _noise_image(width: int = 200, height: int = 150) -> Image.Image:
    pixels = np.random.default_rng(7).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_declaring(width: int, height: int) -> bytes:
    """A valid, tiny PNG file whose header claims width × height RGB pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", pixels) + _png_chunk(b"IEND", b"")


def _read(name: str) -> bytes:
    return face_path(name).read_bytes()


@pytest.fixture(scope="module")
def enrolled() -> dict[str, engine.EnrolmentResult]:
    """Each single-face photo enrolled once for the whole module."""
    names = ("obama.jpg", "obama2.jpg", "biden.jpg", "lin-manuel-miranda.png")
    return {name: enrolment_encoding(_read(name), config=CONFIG, max_pixels=MAX_PIXELS) for name in names}


@pytest.fixture(scope="module")
def two_people() -> np.ndarray:
    return decode_image(_read("two_people.jpg"), max_pixels=MAX_PIXELS)


# --- decoding -----------------------------------------------------------------------------------------------


def test_decode_jpeg_gives_rgb_uint8():
    image = decode_image(_read("obama.jpg"), max_pixels=MAX_PIXELS)
    assert image.dtype == np.uint8
    assert image.shape == (1137, 910, 3)
    assert image.flags.c_contiguous


def test_decode_rgba_png_is_flattened_to_rgb():
    image = decode_image(_read("test_32bit.png"), max_pixels=MAX_PIXELS)
    assert image.shape == (1200, 626, 3)


def test_decode_applies_exif_orientation():
    img = Image.new("RGB", (60, 20), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90° clockwise when shot
    image = decode_image(_encode(img, "JPEG", exif=exif), max_pixels=MAX_PIXELS)
    assert image.shape == (60, 20, 3)


def test_decode_scales_16_bit_greyscale_instead_of_clipping():
    wide = np.array([[0, 32896, 65535]], dtype=np.uint16)
    data = _encode(Image.fromarray(wide), "PNG")
    image = decode_image(data, max_pixels=MAX_PIXELS)
    assert image[0, :, 0].tolist() == [0, 128, 255]
    assert (image[..., 0] == image[..., 2]).all()


@pytest.mark.parametrize("mode", ["P", "LA", "L", "1"])
def test_decode_converts_other_png_modes_to_rgb(mode):
    data = _encode(_noise_image().convert(mode), "PNG", **({"transparency": 0} if mode == "P" else {}))
    assert decode_image(data, max_pixels=MAX_PIXELS).shape == (150, 200, 3)


def test_decode_converts_cmyk_jpeg_to_rgb():
    data = _encode(_noise_image().convert("CMYK"), "JPEG")
    assert decode_image(data, max_pixels=MAX_PIXELS).shape == (150, 200, 3)


@pytest.mark.parametrize("data", [b"", b"hello, this is not an image at all", bytes(range(256)) * 8])
def test_non_image_bytes_are_refused(data):
    with pytest.raises(ImageError) as caught:
        decode_image(data, max_pixels=MAX_PIXELS)
    assert caught.value.code == "not_an_image"


def test_random_bytes_are_not_an_image():
    data = np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    with pytest.raises(ImageError) as caught:
        decode_image(b"\x00" + data, max_pixels=MAX_PIXELS)
    assert caught.value.code == "not_an_image"


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "WEBP", "TIFF"])
def test_formats_other_than_jpeg_and_png_are_unsupported(fmt):
    with pytest.raises(ImageError) as caught:
        decode_image(_encode(_noise_image(), fmt), max_pixels=MAX_PIXELS)
    assert caught.value.code == "unsupported_format"


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.02])
def test_truncated_jpeg_is_corrupt(keep):
    data = _encode(_noise_image(), "JPEG")
    with pytest.raises(ImageError) as caught:
        decode_image(data[: int(len(data) * keep)], max_pixels=MAX_PIXELS)
    assert caught.value.code == "corrupt"


def test_jpeg_signature_with_garbage_is_corrupt():
    with pytest.raises(ImageError) as caught:
        decode_image(b"\xff\xd8\xff\xe0" + b"\x13" * 500, max_pixels=MAX_PIXELS)
    assert caught.value.code == "corrupt"


def test_png_with_damaged_data_is_corrupt():
    data = bytearray(_encode(_noise_image(), "PNG"))
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(ImageError) as caught:
        decode_image(bytes(data), max_pixels=MAX_PIXELS)
    assert caught.value.code == "corrupt"


def test_image_over_the_pixel_limit_is_refused():
    with pytest.raises(ImageError) as caught:
        decode_image(_encode(_noise_image(200, 150), "PNG"), max_pixels=200 * 150 - 1)
    assert caught.value.code == "too_many_pixels"


@pytest.mark.parametrize(
    ("side", "max_pixels"),
    [(9_000, MAX_PIXELS), (20_000, MAX_PIXELS), (20_000, 10**12)],
    ids=["over-our-limit", "over-both-limits", "over-pil-limit"],
)
def test_huge_declared_png_is_refused_without_decoding(side, max_pixels):
    data = _png_declaring(side, side)
    assert len(data) < 200
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ImageError) as caught:
        decode_image(data, max_pixels=max_pixels)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert caught.value.code == "too_many_pixels"
    assert grown_kib < 100_000  # decoding would need at least 240 MB


def test_decoding_leaves_pil_global_state_alone():
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    with pytest.raises(ImageError):
        decode_image(_encode(_noise_image(), "PNG"), max_pixels=10)
    decode_image(_encode(_noise_image(), "PNG"), max_pixels=MAX_PIXELS)
    assert before == (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)


def test_loading_face_recognition_through_the_engine_keeps_truncated_images_refused():
    engine._face_recognition()
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    data = _encode(_noise_image(), "JPEG")
    with pytest.raises(ImageError) as caught:
        decode_image(data[: len(data) // 2], max_pixels=MAX_PIXELS)
    assert caught.value.code == "corrupt"


def test_decoding_refuses_to_run_with_truncated_images_enabled(monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        decode_image(_encode(_noise_image(), "PNG"), max_pixels=MAX_PIXELS)


# --- detection and enrolment ----------------------------------------------------------------------------------


def test_same_person_matches_across_photos(enrolled):
    result = search(enrolled["obama2.jpg"].encoding, enrolled["obama.jpg"].encoding[None, :])
    assert result.best_distance[0] < 0.45
    assert AlertPolicy("threshold", 0.6).alerts(result.best_distance, result.runner_up_distance).all()


def test_different_people_do_not_match(enrolled):
    result = search(enrolled["biden.jpg"].encoding, enrolled["obama.jpg"].encoding[None, :])
    assert result.best_distance[0] > 0.7
    assert not AlertPolicy("threshold", 0.6).alerts(result.best_distance, result.runner_up_distance).any()


def test_enrolment_of_a_single_face_png(enrolled):
    result = enrolled["lin-manuel-miranda.png"]
    assert result.encoding.dtype == np.float32
    assert result.encoding.shape == (128,)
    assert min(result.box.width, result.box.height) >= CONFIG.min_face_px
    assert (result.image_width, result.image_height) == (704, 612)


def test_enrolment_with_two_faces_is_refused():
    with pytest.raises(EnrolmentError) as caught:
        enrolment_encoding(_read("two_people.jpg"), config=CONFIG, max_pixels=MAX_PIXELS)
    assert caught.value.code == "multiple_faces"


def test_enrolment_of_a_blank_image_finds_no_face():
    blank = _encode(Image.new("RGB", (400, 300), (128, 128, 128)), "PNG")
    with pytest.raises(EnrolmentError) as caught:
        enrolment_encoding(blank, config=CONFIG, max_pixels=MAX_PIXELS)
    assert caught.value.code == "no_face"


def test_enrolment_of_a_tiny_face_is_too_small():
    original = Image.open(face_path("obama.jpg"))
    tiny = original.resize((original.width // 10, original.height // 10), Image.Resampling.LANCZOS)
    # Two upsamples let HOG find the ~26 px face, which the size filter must then reject.
    with pytest.raises(EnrolmentError) as caught:
        enrolment_encoding(_encode(tiny, "JPEG"), config=EngineConfig(upsample=2), max_pixels=MAX_PIXELS)
    assert caught.value.code == "face_too_small"


def test_enrolment_passes_image_errors_through():
    with pytest.raises(ImageError) as caught:
        enrolment_encoding(b"GIF89a" + b"\x00" * 64, config=CONFIG, max_pixels=MAX_PIXELS)
    assert caught.value.code == "unsupported_format"
    assert isinstance(caught.value, engine.EngineError)


def test_detection_discards_faces_below_the_minimum_size(two_people):
    assert len(detect_faces(two_people, CONFIG)) == 2
    assert detect_faces(two_people, EngineConfig(min_face_px=1000)) == []


def test_encode_with_no_boxes_gives_an_empty_matrix(two_people):
    encodings = encode_faces(two_people, [], CONFIG)
    assert encodings.shape == (0, 128)
    assert encodings.dtype == np.float32


# --- frames -----------------------------------------------------------------------------------------------------


def _obama_biden_gallery(enrolled) -> Gallery:
    matrix = np.stack([enrolled["obama.jpg"].encoding, enrolled["biden.jpg"].encoding])
    return Gallery.build(matrix, ["obama", "biden"])


def test_two_people_frame_alerts_each_on_the_right_entry(enrolled, two_people):
    frame = process_frame(two_people, _obama_biden_gallery(enrolled), AlertPolicy("threshold", 0.6), CONFIG)
    assert frame.faces_seen == 2
    assert frame.non_matched_boxes == ()
    by_position = sorted(frame.alerts, key=lambda alert: alert.box.left)
    # In two_people.jpg Obama stands on the left and Biden on the right.
    assert [alert.entry_id for alert in by_position] == ["obama", "biden"]
    assert all(alert.distance < 0.6 < alert.runner_up for alert in frame.alerts)


def test_frame_keeps_only_the_box_of_a_face_not_on_the_list(enrolled, two_people):
    gallery = Gallery.build(enrolled["obama.jpg"].encoding[None, :], [41])
    frame = process_frame(two_people, gallery, AlertPolicy("threshold", 0.6), CONFIG)
    assert frame.faces_seen == 2
    assert [alert.entry_id for alert in frame.alerts] == [41]
    assert len(frame.non_matched_boxes) == 1
    assert frame.non_matched_boxes[0].left > frame.alerts[0].box.left
    assert {f.name for f in dataclasses.fields(frame)} == {"faces_seen", "alerts", "non_matched_boxes"}
    assert not any(isinstance(getattr(frame, f.name), np.ndarray) for f in dataclasses.fields(frame))


def test_frame_against_an_empty_gallery_only_counts_faces(two_people):
    frame = process_frame(two_people, Gallery.empty(), AlertPolicy("threshold", 0.6), CONFIG)
    assert (frame.faces_seen, frame.alerts, len(frame.non_matched_boxes)) == (2, (), 2)


def test_crop_face_adds_margin_and_stays_inside_the_image():
    image = np.zeros((100, 100, 3), dtype=np.uint8)
    assert crop_face(image, FaceBox(top=40, right=60, bottom=60, left=40)).shape == (30, 30, 3)
    assert crop_face(image, FaceBox(top=0, right=100, bottom=50, left=80), margin=0.5).shape == (75, 30, 3)


def test_blur_faces_pixelates_only_the_faces():
    image = np.asarray(_noise_image(200, 150)).copy()
    box = FaceBox(top=30, right=110, bottom=110, left=30)
    blurred = blur_faces(image, [box])
    assert (blurred[:, 130:] == image[:, 130:]).all()
    face = blurred[box.top : box.bottom, box.left : box.right].reshape(-1, 3)
    assert len(np.unique(face, axis=0)) <= 49
    assert (image == np.asarray(_noise_image(200, 150))).all()


def test_a_crop_pixelates_every_other_face_it_takes_in_and_keeps_its_own_face_sharp():
    image = np.asarray(_noise_image(200, 150)).copy()
    matched = FaceBox(top=40, right=90, bottom=90, left=40)
    neighbour = FaceBox(top=50, right=130, bottom=100, left=95)  # its left edge inside the matched crop's margin
    far = FaceBox(top=10, right=195, bottom=40, left=165)  # nowhere near the crop
    plain = crop_face(image, matched)
    crop = crop_face(image, matched, hide=(matched, neighbour, far))

    top, left = 28, 28  # the matched box less its margin (12 px), in the image coordinates
    assert crop.shape == plain.shape == (74, 74, 3)
    own = (slice(matched.top - top, matched.bottom - top), slice(matched.left - left, matched.right - left))
    assert (crop[own] == plain[own]).all()  # the face itself untouched
    theirs = crop[neighbour.top - top : neighbour.bottom - top, neighbour.left - left :].reshape(-1, 3)
    assert len(np.unique(theirs, axis=0)) <= 49 < len(np.unique(plain[22:72, 67:].reshape(-1, 3), axis=0))
    assert (crop_face(image, matched, hide=(matched, far)) == plain).all()  # nothing to hide: the plain crop


def test_a_crop_also_pixelates_a_neighbour_just_outside_it_and_never_unblurs_an_overlapping_one():
    image = np.asarray(_noise_image(200, 150)).copy()
    matched = FaceBox(top=40, right=90, bottom=90, left=40)  # its crop: rows and columns 28–101
    beside = FaceBox(top=50, right=150, bottom=100, left=104)  # the box starts past the crop; its margin reaches in
    over = FaceBox(top=30, right=60, bottom=60, left=30)  # overlaps the matched face's own box
    plain = crop_face(image, matched)
    crop = crop_face(image, matched, hide=(beside, over))

    def cells(region: np.ndarray) -> int:
        return len(np.unique(region.reshape(-1, 3), axis=0))

    assert cells(crop[22:72, 66:74]) < cells(plain[22:72, 66:74])  # the strip of the beside face's margin
    overlap = crop[40 - 28 : 60 - 28, 40 - 28 : 60 - 28]  # matched ∩ over, in crop coordinates
    assert cells(overlap) <= 49 < cells(plain[12:32, 12:32])  # still pixelated
    clear = (slice(62 - 28, 90 - 28), slice(62 - 28, 90 - 28))  # the matched face clear of both neighbours
    assert (crop[clear] == plain[clear]).all()


def test_faces_too_small_to_match_are_returned_for_blurring_but_not_counted(two_people):
    too_big_to_count = dataclasses.replace(CONFIG, min_face_px=10_000)
    frame = process_frame(two_people, Gallery.empty(), AlertPolicy("threshold", 0.6), too_big_to_count)
    assert (frame.faces_seen, frame.alerts, len(frame.non_matched_boxes)) == (0, (), 2)


# --- search and policies ------------------------------------------------------------------------------------------


def _axis(i: int, length: float) -> np.ndarray:
    vector = np.zeros(128, dtype=np.float32)
    vector[i] = length
    return vector


@pytest.fixture
def line_gallery() -> Gallery:
    """Entries at 0, 0.5·e0 and 1.0·e1, so distances from points on e0 are known exactly."""
    return Gallery.build(np.stack([_axis(0, 0.0), _axis(0, 0.5), _axis(1, 1.0)]), ["a", "b", "c"])


def test_search_reports_best_and_runner_up(line_gallery):
    result = search(np.stack([_axis(0, 0.1), _axis(0, 0.45)]), line_gallery)
    assert result.best_index.tolist() == [0, 1]
    np.testing.assert_allclose(result.best_distance, [0.1, 0.05], atol=1e-6)
    np.testing.assert_allclose(result.runner_up_distance, [0.4, 0.45], atol=1e-6)


def test_threshold_and_margin_verdicts(line_gallery):
    probes = np.stack([_axis(0, 0.1), _axis(0, 0.25), _axis(0, 0.45), _axis(2, 2.0)])
    threshold = [v.alert for v in match(probes, line_gallery, AlertPolicy("threshold", 0.3))]
    margin = [v.alert for v in match(probes, line_gallery, AlertPolicy("margin", 0.3, margin=0.25))]
    assert threshold == [True, True, True, False]
    # 0.1·e0 beats the runner-up by 0.30, 0.25·e0 is equally far from a and b, 0.45·e0 wins by 0.40.
    assert margin == [True, False, True, False]
    stricter = [v.alert for v in match(probes, line_gallery, AlertPolicy("margin", 0.3, margin=0.35))]
    assert stricter == [False, False, True, False]


def test_verdict_names_the_entry(line_gallery):
    verdict = match(_axis(0, 0.45)[None, :], line_gallery, AlertPolicy("threshold", 0.6))[0]
    assert (verdict.entry_id, verdict.index, verdict.alert) == ("b", 1, True)
    assert verdict.distance == pytest.approx(0.05, abs=1e-6)


def test_one_entry_has_no_runner_up_and_passes_any_margin():
    gallery = Gallery.build(_axis(0, 1.0)[None, :], ["only"])
    result = search(_axis(0, 0.9)[None, :], gallery)
    assert result.runner_up_distance[0] == np.inf
    assert match(_axis(0, 0.9)[None, :], gallery, AlertPolicy("margin", 0.3, margin=0.1))[0].alert


def test_empty_gallery_never_alerts():
    verdicts = match(np.stack([_axis(0, 0.0)]), Gallery.empty(), AlertPolicy("margin", 0.6, margin=0.05))
    assert verdicts == [engine.MatchVerdict(entry_id=None, index=-1, distance=np.inf, runner_up=np.inf, alert=False)]


def test_zero_probes_give_an_empty_result(line_gallery):
    result = search(np.empty((0, 128), dtype=np.float32), line_gallery)
    assert len(result) == 0
    assert match(np.empty((0, 128)), line_gallery, AlertPolicy("threshold", 0.6)) == []


def test_search_agrees_with_brute_force_over_many_chunks(monkeypatch):
    rng = np.random.default_rng(3)
    gallery = (rng.normal(size=(1000, 128)) * 0.1).astype(np.float32)
    probes = np.concatenate([(rng.normal(size=(25, 128)) * 0.1), gallery[[5, 500]] + 1e-4]).astype(np.float32)
    monkeypatch.setattr(engine, "_SEARCH_CHUNK_CELLS", 3000)
    result = search(probes, Gallery.build(gallery, list(range(1000))))
    brute = np.sqrt(((probes[:, None, :].astype(np.float64) - gallery[None, :, :]) ** 2).sum(axis=2))
    ordered = np.sort(brute, axis=1)
    assert (result.best_index == brute.argmin(axis=1)).all()
    np.testing.assert_allclose(result.best_distance, ordered[:, 0], atol=1e-5)
    np.testing.assert_allclose(result.runner_up_distance, ordered[:, 1], atol=1e-5)


def test_search_agrees_with_face_recognition_face_distance(enrolled):
    import face_recognition

    gallery = np.stack([r.encoding for r in enrolled.values()])
    for probe in gallery:
        expected = face_recognition.face_distance(gallery.astype(np.float64), probe.astype(np.float64))
        result = search(probe, gallery)
        assert result.best_distance[0] == pytest.approx(np.sort(expected)[0], abs=1e-4)
        assert result.runner_up_distance[0] == pytest.approx(np.sort(expected)[1], abs=1e-4)


def test_gallery_is_frozen_and_refuses_mismatched_ids():
    gallery = Gallery.build(np.ones((2, 128)), [1, 2])
    assert gallery.matrix.dtype == np.float32
    with pytest.raises(ValueError):
        gallery.matrix[0, 0] = 5.0
    with pytest.raises(ValueError, match="2 encodings but 3 ids"):
        Gallery.build(np.ones((2, 128)), [1, 2, 3])
    with pytest.raises(ValueError, match="shape"):
        Gallery.build(np.ones((2, 64)), [1, 2])


def test_alert_policy_validation():
    with pytest.raises(ValueError):
        AlertPolicy("vibes", 0.6)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        AlertPolicy("threshold", -0.1)
    with pytest.raises(ValueError):
        AlertPolicy("margin", 0.6, margin=-0.01)
    policy = AlertPolicy("margin", 0.55, margin=0.05)
    assert AlertPolicy.from_dict(policy.to_dict()) == policy


def test_encoding_bytes_round_trip(enrolled):
    encoding = enrolled["obama.jpg"].encoding
    data = engine.encoding_to_bytes(encoding)
    assert len(data) == 512
    assert (engine.encoding_from_bytes(data) == encoding).all()


# --- configuration ------------------------------------------------------------------------------------------------


def test_fingerprint_is_stable_and_changes_with_any_setting():
    base = EngineConfig()
    assert base.fingerprint() == EngineConfig().fingerprint()
    assert len(base.fingerprint()) == 64
    variants = [
        EngineConfig(detector="cnn"),
        EngineConfig(upsample=1),
        EngineConfig(num_jitters=2),
        EngineConfig(encoding_model="small"),
        EngineConfig(min_face_px=60),
    ]
    fingerprints = {config.fingerprint() for config in variants}
    assert len(fingerprints) == len(variants)
    assert base.fingerprint() not in fingerprints


def test_fingerprint_covers_the_installed_engine(monkeypatch):
    before = EngineConfig().fingerprint()
    identity = dict(engine.library_identity(), dlib="0.0-other")
    monkeypatch.setattr(engine, "library_identity", lambda: identity)
    assert EngineConfig().fingerprint() != before


def test_library_identity_names_versions_and_model_files():
    identity = engine.library_identity()
    assert identity["face_recognition"] == "1.3.0"
    assert identity["dlib"]
    assert "dlib_face_recognition_resnet_model_v1.dat" in identity["models"]


def test_config_round_trips_and_refuses_unknown_or_invalid_settings():
    config = EngineConfig(detector="cnn", upsample=1, num_jitters=3, encoding_model="small", min_face_px=50)
    assert EngineConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown engine settings: treshold"):
        EngineConfig.from_dict({"treshold": 0.6})
    with pytest.raises(ValueError):
        EngineConfig(detector="mtcnn")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        EngineConfig(upsample=-1)


# --- the 8-bit first pass of a large gallery ----------------------------------------------------------------


def _brute(probes: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    return np.sqrt(((probes[:, None, :].astype(np.float64) - gallery[None, :, :].astype(np.float64)) ** 2).sum(axis=2))


def _spread(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random directions at the norms of real encodings (about 1.3–1.5)."""
    vectors = rng.normal(size=(n, 128))
    vectors *= rng.uniform(1.3, 1.5, size=(n, 1)) / np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32)


@pytest.fixture
def quantized(monkeypatch):
    """Galleries of 200 entries or more get 8-bit codes; records which probes fell back to the float32 pass."""
    monkeypatch.setattr(engine, "_QUANTIZED_MIN_ENTRIES", 200)
    monkeypatch.setattr(engine, "_CODES_BLOCK_ROWS", 256)  # the codes are built in several blocks
    fell_back: list[int] = []
    block = engine._search_block

    def recording(rows: np.ndarray, gallery: Gallery):
        fell_back.append(len(rows))
        return block(rows, gallery)

    monkeypatch.setattr(engine, "_search_block", recording)
    return fell_back


def test_eight_bit_pass_gives_the_exact_nearest_two(quantized):
    rng = np.random.default_rng(11)
    matrix = _spread(rng, 3000)
    matrix[100] = matrix[99]  # a duplicate: best and runner-up at the same distance
    gallery = Gallery.build(matrix, list(range(3000)))
    assert gallery.codes is not None and gallery.codes.codes.dtype == np.uint8
    probes = np.concatenate(
        [
            matrix[[5, 99, 2999]] + rng.normal(size=(3, 128)).astype(np.float32) * 0.03,  # the same person
            matrix[[7]],  # exactly an entry
            _spread(rng, 20),  # nobody on the list
        ]
    ).astype(np.float32)
    brute = _brute(probes, matrix)
    ordered = np.sort(brute, axis=1)
    for i, probe in enumerate(probes):
        result = search(probe[None, :], gallery)
        assert brute[i, result.best_index[0]] == pytest.approx(ordered[i, 0], abs=1e-5)
        assert result.best_distance[0] == pytest.approx(ordered[i, 0], abs=1e-5)
        assert result.runner_up_distance[0] == pytest.approx(ordered[i, 1], abs=1e-5)
    assert quantized == []  # every probe was answered by the 8-bit pass
    assert search(probes[[0]], gallery).best_index[0] == 5
    assert search(probes[[1]], gallery).best_distance[0] == search(probes[[1]], gallery).runner_up_distance[0]


def test_a_probe_far_outside_the_gallery_is_clipped_and_still_answered_exactly(quantized):
    rng = np.random.default_rng(14)
    matrix = _spread(rng, 1000)
    gallery = Gallery.build(matrix, list(range(1000)))
    for probe in (matrix[8] * 3.0, matrix[9] + 0.5):
        result = search(probe[None, :], gallery)
        ordered = np.sort(_brute(probe[None, :], matrix)[0])
        assert result.best_distance[0] == pytest.approx(ordered[0], abs=1e-5)
        assert result.runner_up_distance[0] == pytest.approx(ordered[1], abs=1e-5)


def test_eight_bit_pass_measures_every_entry_its_codes_cannot_order(quantized):
    # Ten entries between 1.0000 and 1.0009 from the probe: their codes (rounding errors about 0.01) cannot tell
    # which is nearest, so the runner-up is right only if all ten are measured directly.
    rng = np.random.default_rng(15)
    probe = _spread(rng, 1)[0]
    shell = rng.normal(size=(10, 128))
    shell *= (1.0 + np.arange(10)[::-1, None] * 1e-4) / np.linalg.norm(shell, axis=1, keepdims=True)
    matrix = np.concatenate([_spread(rng, 300) * 2.0, probe + shell, [probe + 0.01]]).astype(np.float32)
    result = search(probe[None, :], Gallery.build(matrix, list(range(len(matrix)))))
    assert quantized == []
    assert result.best_index[0] == 310
    assert result.runner_up_distance[0] == pytest.approx(np.sort(_brute(probe[None, :], matrix)[0])[1], abs=1e-6)


def test_eight_bit_pass_hands_over_when_its_bounds_cannot_vouch(quantized, monkeypatch):
    # 400 entries all about 1.0 from the probe: with only the 2 nearest codes, the bounds cannot rule the rest out.
    monkeypatch.setattr(engine, "_QUANTIZED_CANDIDATES", 2)
    rng = np.random.default_rng(12)
    centre = _spread(rng, 1)[0]
    offsets = rng.normal(size=(400, 128))
    offsets *= rng.uniform(0.999, 1.001, size=(400, 1)) / np.linalg.norm(offsets, axis=1, keepdims=True)
    matrix = (centre + offsets).astype(np.float32)
    result = search(centre[None, :], Gallery.build(matrix, list(range(400))))
    ordered = np.sort(_brute(centre[None, :], matrix)[0])
    assert quantized == [1]
    assert result.best_distance[0] == pytest.approx(ordered[0], abs=1e-5)
    assert result.runner_up_distance[0] == pytest.approx(ordered[1], abs=1e-5)


def test_many_probes_share_one_float32_pass(quantized):
    rng = np.random.default_rng(13)
    matrix = _spread(rng, 500)
    probes = matrix[:6] + rng.normal(size=(6, 128)).astype(np.float32) * 0.03
    result = search(probes, Gallery.build(matrix, list(range(500))))
    assert quantized == [6]
    assert result.best_index.tolist() == list(range(6))
    np.testing.assert_allclose(result.runner_up_distance, np.sort(_brute(probes, matrix), axis=1)[:, 1], atol=1e-5)


def test_small_galleries_keep_no_codes():
    assert Gallery.build(np.ones((3, 128)), [1, 2, 3]).codes is None


# --- several entries of one person: the margin rule's runner-up is another person ----------------------------------


def _brute_by_person(probe: np.ndarray, matrix: np.ndarray, persons: list) -> tuple[int, float, float]:
    """The nearest entry, its distance and the nearest entry of another person's, measured one by one."""
    distances = _brute(probe[None, :], matrix)[0]
    best = int(np.argmin(distances))
    others = [d for d, person in zip(distances, persons, strict=True) if person != persons[best]]
    return best, float(distances[best]), min(others, default=np.inf)


def test_the_runner_up_is_the_nearest_entry_of_another_person():
    # a at 0 and a's second photo at 0.05·e1, b at 1.0·e2: a probe at 0.1·e0 is a, 0.9 nearer than b.
    matrix = np.stack([_axis(0, 0.0), _axis(1, 0.05), _axis(2, 1.0)])
    probe = _axis(0, 0.1)[None, :]
    margin = AlertPolicy("margin", 0.6, margin=0.25)
    photos_as_people = Gallery.build(matrix, [1, 2, 3])
    assert photos_as_people.persons is None
    assert search(probe, photos_as_people).runner_up_distance[0] == pytest.approx(np.hypot(0.1, 0.05), abs=1e-6)
    # Before persons were known, a's second photo was the runner-up: 0.012 behind, so a wanted person with two
    # photos on the list never alerted under a margin rule.
    assert not match(probe, photos_as_people, margin)[0].alert

    people = Gallery.build(matrix, [1, 2, 3], persons=["a", "a", "b"])
    verdict = match(probe, people, margin)[0]
    assert (verdict.entry_id, verdict.alert) == (1, True)
    assert verdict.runner_up == pytest.approx(np.hypot(0.1, 1.0), abs=1e-6)
    # Only the runner-up changes: the threshold rule and the nearest entry are as before.
    threshold = AlertPolicy("threshold", 0.6)
    before, after = match(probe, photos_as_people, threshold)[0], match(probe, people, threshold)[0]
    assert (after.entry_id, after.distance, after.alert) == (before.entry_id, before.distance, before.alert)


def test_a_list_of_one_person_has_no_runner_up():
    gallery = Gallery.build(np.stack([_axis(0, 0.0), _axis(1, 0.05)]), [1, 2], persons=["a", "a"])
    result = search(_axis(0, 0.1)[None, :], gallery)
    assert (result.best_index[0], result.runner_up_distance[0]) == (0, np.inf)


def test_persons_are_labelled_and_blank_ones_are_people_of_their_own():
    gallery = Gallery.build(np.ones((5, 128)), [1, 2, 3, 4, 5], persons=["x", "", None, "x", ""])
    labels = gallery.persons.tolist()
    assert labels[0] == labels[3]
    assert len({labels[1], labels[2], labels[4], labels[0]}) == 4
    assert gallery.same_person(3) == (1, 4) and gallery.same_person(1) == (2,)
    assert gallery.person_of(0) == gallery.person_of(3) != gallery.person_of(4)
    distinct = Gallery.build(np.ones((2, 128)), ["a", "b"])
    assert (distinct.same_person(1), distinct.person_of(1)) == (("b",), 1)
    assert Gallery.build(np.ones((2, 128)), [1, 2], persons=["", None]).persons is None  # nobody shared: as before
    with pytest.raises(ValueError, match="2 encodings but 3 persons"):
        Gallery.build(np.ones((2, 128)), [1, 2], persons=["a", "a", "b"])


def _people_gallery(rng: np.random.Generator, people: int) -> tuple[np.ndarray, list[int]]:
    """`people` random persons with 1 to 4 photos each, the photos of one person 0.2–0.4 apart."""
    centres = _spread(rng, people)
    rows, persons = [], []
    for person, centre in enumerate(centres):
        for _ in range(int(rng.integers(1, 5))):
            rows.append(centre + rng.normal(size=128).astype(np.float32) * 0.02)
            persons.append(person)
    return np.stack(rows).astype(np.float32), persons


@pytest.mark.parametrize("eight_bit", [False, True])
def test_search_by_person_agrees_with_brute_force(eight_bit, monkeypatch, request):
    if eight_bit:
        fell_back = request.getfixturevalue("quantized")
    rng = np.random.default_rng(21)
    matrix, persons = _people_gallery(rng, 150)
    gallery = Gallery.build(matrix, list(range(len(matrix))), persons=persons)
    assert (gallery.codes is not None) == eight_bit
    probes = np.concatenate(
        [matrix[::7] + rng.normal(size=(len(matrix[::7]), 128)).astype(np.float32) * 0.03, _spread(rng, 10)]
    ).astype(np.float32)
    for probe in probes:
        best, distance, runner_up = _brute_by_person(probe, matrix, persons)
        result = search(probe[None, :], gallery)
        assert result.best_index[0] == best
        assert result.best_distance[0] == pytest.approx(distance, abs=1e-5)
        assert result.runner_up_distance[0] == pytest.approx(runner_up, abs=1e-5)
    block = search(probes, gallery)  # many probes at once: one float32 pass
    expected = [_brute_by_person(probe, matrix, persons) for probe in probes]
    np.testing.assert_allclose(block.runner_up_distance, [e[2] for e in expected], atol=1e-5)
    if eight_bit:
        assert fell_back == [len(probes)]  # only the many-probe search; every single probe used the 8-bit pass


def test_eight_bit_pass_hands_over_when_the_nearest_codes_are_all_one_person(quantized):
    # 80 photos of one person round the probe, more than the 64 nearest codes the 8-bit pass looks at: the
    # nearest other person lies beyond them, so the float32 pass must find it.
    rng = np.random.default_rng(22)
    centre = _spread(rng, 1)[0]
    same = centre + rng.normal(size=(80, 128)).astype(np.float32) * 0.01
    matrix = np.concatenate([same, _spread(rng, 300)]).astype(np.float32)
    persons = ["wanted"] * 80 + list(range(300))
    result = search(centre[None, :], Gallery.build(matrix, list(range(len(matrix))), persons=persons))
    best, distance, runner_up = _brute_by_person(centre, matrix, persons)
    assert quantized == [1]
    assert (result.best_index[0], result.best_distance[0]) == (best, pytest.approx(distance, abs=1e-5))
    assert result.runner_up_distance[0] == pytest.approx(runner_up, abs=1e-5)
    assert runner_up > 1.0  # another person indeed, not one of the 80 photos 0.1 away


def test_a_face_partly_inside_a_crop_is_pixelated_as_coarsely_as_when_whole():
    """A neighbour's face cut by the crop's edge was pixelated in cells sized from the part inside: 3.6 times
    finer than the same face gets whole. Cells now come from the whole face (280 px with its margin: 47 px)."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(400, 400, 3), dtype=np.uint8)
    neighbour = engine.FaceBox(top=190, right=390, bottom=390, left=190)
    crop = image[75:225, 75:225].copy()  # the crop of a face at 100-200, with its 25 % margin

    engine._pixelate(crop, [engine._shifted(neighbour, 75, 75)])

    inside = crop[75:150, 75:150]  # the neighbour's part of the crop, 75 x 75
    assert len(np.unique(inside[:, :, 0], axis=1)[0]) <= 3  # at most 3 cells across 75 px
    assert not np.array_equal(inside, image[150:225, 150:225])  # and it is pixelated

"""The analyzers' measurements on controlled inputs, and the registry."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.detector.conftest import portrait
from trustavatar.detector import (
    Analyzer,
    AnalyzerResult,
    AnalyzerStatus,
    analyzer_spec,
    create_analyzer,
    list_analyzers,
    register_analyzer,
)
from trustavatar.detector.analyzers.blink import (
    BLINK_NORMS,
    blink_score,
    detect_blinks,
    poisson_interval,
)
from trustavatar.detector.analyzers.frequency import frame_figures, patch_figures
from trustavatar.detector.analyzers.sync import (
    GRID_FPS,
    MIN_CONFIDENCE,
    SyncAnalyzer,
    sync_score,
    window_offset,
)
from trustavatar.detector.crops import MOUTH_CENTRE, similarity_to_template
from trustavatar.errors import DetectionError
from trustavatar.face.mesh import FaceMesh


def ear_series(seconds: float, blink_every: float, *, blink_s: float = 0.15, fps: float = 25.0,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fps)) / fps
    ear = 0.3 + rng.normal(0, 0.005, t.size)
    for onset in np.arange(1.0, seconds - 1.0, blink_every):
        ear[(t >= onset) & (t < onset + blink_s)] = 0.08
    return t, ear


def test_poisson_interval_is_exact():
    low, high = poisson_interval(0, 1.0)
    assert low == 0.0 and high == pytest.approx(3.689, abs=1e-3)
    low, high = poisson_interval(20, 2.0)  # 20 blinks in 2 minutes
    assert low < 10 < high and low == pytest.approx(6.108, abs=1e-2)
    # the Garwood interval as chi-squared quantiles, as textbooks write it
    from scipy.stats import chi2

    for count in (1, 3, 17, 150):
        low, high = poisson_interval(count, 2.5)
        assert low == pytest.approx(chi2.ppf(0.025, 2 * count) / 2 / 2.5, rel=1e-12)
        assert high == pytest.approx(chi2.ppf(0.975, 2 * count + 2) / 2 / 2.5, rel=1e-12)


def test_blinks_are_found_timed_and_scored():
    t, ear = ear_series(90, 3.0)  # 20 blinks per minute, 150 ms each
    blinks, long = detect_blinks(t, ear)
    assert long == 0 and len(blinks) == 30
    assert all(abs(b.duration - 0.16) < 0.05 for b in blinks)
    assert blinks[0].onset == pytest.approx(1.0, abs=0.05)
    figures = {"face_seconds": 90.0, "blinks": 30, "median_duration_ms": 160.0}
    figures["rate_ci_low"], figures["rate_ci_high"] = poisson_interval(30, 1.5)
    assert blink_score(figures) == 0.0  # normal blinking: no evidence, never negative
    rare = {"face_seconds": 90.0, "blinks": 2, "median_duration_ms": 160.0}
    rare["rate_ci_low"], rare["rate_ci_high"] = poisson_interval(2, 1.5)
    assert rare["rate_ci_high"] < BLINK_NORMS["rate_low_per_min"] and blink_score(rare) > 0
    assert blink_score({**figures, "face_seconds": 59.0}) is None  # insufficient footage
    closed_long = ear.copy()
    closed_long[(t > 40) & (t < 42)] = 0.05
    assert detect_blinks(t, closed_long)[1] == 1


def test_sync_offset_is_measured_and_only_ever_accuses():
    rng = np.random.default_rng(1)
    speech = np.convolve(rng.normal(size=400), np.ones(4) / 4, mode="same")
    mouth = np.roll(speech, 3)  # the mouth moves 3 frames after the sound
    off, conf, peak = window_offset(mouth, speech, 100, 50, 15)
    assert off == 3 and peak > 0.9 and conf > 0.5
    assert window_offset(np.roll(speech, -2), speech, 100, 50, 15)[0] == -2
    assert sync_score({"windows_speech": 6, "sustained_offset": True, "median_offset": 3.0}) == 2.0
    assert sync_score({"windows_speech": 6, "sustained_offset": False, "median_offset": 0.0}) == 0
    assert sync_score({"windows_speech": 0}) is None


def test_follow_is_the_whole_clip_correlation_at_the_best_small_lag():
    from trustavatar.detector.analyzers.sync import FOLLOW_MIN_FRAMES, _follow

    rng = np.random.default_rng(2)
    speech = np.convolve(rng.normal(size=300), np.ones(4) / 4, mode="same")
    late = np.roll(speech, 2)
    late[:2] = np.nan  # no face in the first frames
    assert _follow(late, speech) == pytest.approx(1.0, abs=1e-6)
    assert abs(_follow(rng.normal(size=300), speech)) < 0.25
    assert _follow(np.roll(speech, 8), speech) < 0.9  # beyond the lags tried
    assert _follow(speech[:FOLLOW_MIN_FRAMES - 1], speech[:FOLLOW_MIN_FRAMES - 1]) is None


def test_the_openness_signal_finds_a_late_mouth_in_real_speech_windows():
    """The default speech signal (the generator's planned opening, from phone posteriors)
    against a mouth that follows the words as espeak-ng timed them: in sync, and 4 frames
    late, window by window as the analyzer measures."""
    from trustavatar.generator.audio import frame_energy, synthesize, viseme_track
    from trustavatar.generator.motion import plan_motion

    # ~20 s, ten 2 s windows: espeak-ng's waveform is not bit-identical from call to call
    # (and depends on what it synthesised before), and with the ~10 s passage alone one or
    # two odd windows out of five could move the median
    speech = synthesize(
        "Please call Stella. Ask her to bring these things with her from the store: six "
        "spoons of fresh snow peas, five thick slabs of blue cheese, and maybe a snack for "
        "her brother Bob. We also need a small plastic snake and a big toy frog for the "
        "kids. She can scoop these things into three red bags, and we will go meet her "
        "Wednesday at the train station.", language="en-us")
    level = frame_energy(speech.audio, GRID_FPS).astype(np.float64)
    n = len(level)
    signal = SyncAnalyzer()._planned_opening(speech.audio, level, n)
    assert signal.shape == (n,)
    # a mouth from the TTS's own phoneme timings (hand-set targets): what a talking face does
    mouth = plan_motion(viseme_track(speech.phonemes, fps=GRID_FPS, n_frames=n),
                        level.astype(np.float32), fps=GRID_FPS, head=False).gap
    late = np.concatenate([np.zeros(4), mouth[:-4]])
    for shifted, truth in ((mouth, 0), (late, 4)):
        offsets = [w[0] for w0 in range(0, n - 50 + 1, 50)
                   if (w := window_offset(shifted, signal, w0, 50, 15)) is not None
                   and w[1] >= MIN_CONFIDENCE]
        assert len(offsets) >= 3
        assert float(np.median(offsets)) == truth
        assert np.mean([abs(o - truth) <= 1 for o in offsets]) >= 0.6


def test_the_sync_analyzer_plans_with_a_given_openness_table(tmp_path):
    """``table=`` (the detector evaluation's cross-fitting): the packaged table written out
    plans the same opening; another table another one; a bad file is bad input."""
    import json

    from trustavatar.errors import InputError
    from trustavatar.generator.audio import OpennessTable, frame_energy, synthesize

    audio = synthesize("Open wide, then close your mouth.", language="en").audio
    level = frame_energy(audio, GRID_FPS).astype(np.float64)
    shipped = OpennessTable.load()
    same = tmp_path / "same.json"
    same.write_text(json.dumps(shipped.to_dict()))
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps({**shipped.to_dict(),
                                "scores": {p: 0.0 for p in shipped.scores}}))
    default = SyncAnalyzer()._planned_opening(audio, level, len(level))
    assert np.array_equal(SyncAnalyzer(table=same)._planned_opening(audio, level, len(level)),
                          default)
    other = SyncAnalyzer(table=flat)._planned_opening(audio, level, len(level))
    assert not np.allclose(other, default)
    for bad in (tmp_path / "missing.json", tmp_path):
        with pytest.raises(InputError, match="cannot read the openness table"):
            SyncAnalyzer(table=bad)
    (tmp_path / "junk.json").write_text("{}")
    with pytest.raises(InputError, match="cannot read the openness table"):
        SyncAnalyzer(table=tmp_path / "junk.json")


def test_high_band_ratio_drops_when_a_patch_is_blurred():
    rng = np.random.default_rng(0)
    sharp = rng.normal(128, 20, (48, 48)).astype(np.float32)
    blurred = cv2.resize(cv2.resize(sharp, (16, 16), interpolation=cv2.INTER_AREA), (48, 48),
                         interpolation=cv2.INTER_LINEAR)
    hs, hb = patch_figures(sharp)[0], patch_figures(blurred)[0]
    assert hb < hs - 0.5
    assert patch_figures(sharp[:8, :8]) is None  # too small to say anything


def _paste_low_res(img: np.ndarray, m: np.ndarray, x: tuple[float, float],
                   y: tuple[float, float], factor: int = 4) -> np.ndarray:
    """Replace a template-space box by a ``factor``× downsampled copy (bilinear back up)."""
    inv = np.linalg.inv(m[:, :2])
    corners = (np.array([[x[0], y[0]], [x[1], y[1]]]) - m[:, 2]) @ inv.T
    (x0, y0), (x1, y1) = np.round(corners.min(0)).astype(int), np.round(corners.max(0)).astype(int)
    out = img.copy()
    region = out[y0:y1, x0:x1]
    small = cv2.resize(region, (region.shape[1] // factor, region.shape[0] // factor),
                       interpolation=cv2.INTER_AREA)
    out[y0:y1, x0:x1] = cv2.resize(small, (region.shape[1], region.shape[0]),
                                   interpolation=cv2.INTER_LINEAR)
    return out


def test_a_pasted_low_resolution_mouth_reads_blurrier_than_the_face():
    """Matched pairs: the same frame, with a 4× downsampled mouth (or lower face) pasted."""
    img = cv2.resize(portrait(), (512, 512), interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(0)
    img = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)  # sensor noise
    with FaceMesh(video=False) as mesh:
        lm = mesh.detect(img)
    assert lm is not None
    m = similarity_to_template(lm)
    real = frame_figures(img, lm)
    mouth_only = frame_figures(_paste_low_res(img, m, (-0.6, 0.6), (0.45, 1.45)), lm)
    lower_face = frame_figures(_paste_low_res(img, m, (-1.1, 1.1), (0.3, 1.6)), lm)
    assert real is not None and mouth_only is not None and lower_face is not None
    # mouth alone pasted: blurrier than the (untouched) cheeks
    assert mouth_only["hf_mouth_cheek"] < real["hf_mouth_cheek"] - 0.2
    assert mouth_only["hf_cheek"] == pytest.approx(real["hf_cheek"], abs=0.05)
    # the whole lower face pasted (Wav2Lip-style): the cheeks go too, the forehead does not
    assert lower_face["hf_mouth_forehead"] < real["hf_mouth_forehead"] - 0.2
    assert lower_face["hf_forehead"] == pytest.approx(real["hf_forehead"], abs=0.05)
    assert MOUTH_CENTRE[1] > 0.5


def test_registry_lists_creates_and_refuses():
    assert list_analyzers() == ["blink", "frequency", "lipsync", "motion", "provenance", "sync"]
    assert list_analyzers("f*") == ["frequency"]
    spec = analyzer_spec("sync")
    assert spec.needs_audio and "good sync" in spec.blind_to
    assert create_analyzer("frequency", stride=2).stride == 2
    with pytest.raises(DetectionError, match="unknown analyzer 'vit'; known: blink"):
        create_analyzer("vit")
    with pytest.raises(DetectionError, match="does not take"):
        create_analyzer("blink", nonsense=1)


class _Broken(Analyzer):
    name = "test_broken"

    def begin(self, ctx) -> None:
        pass

    def update(self, obs) -> None:
        raise ValueError("boom")

    def finish(self, track) -> AnalyzerResult:
        return AnalyzerResult(self.name, self.version, AnalyzerStatus.OK, 0.0)


def test_a_registered_analyzer_joins_and_a_failing_one_does_not_stop_the_scan(clips, no_trust):
    from trustavatar.detector import scan

    register_analyzer(summary="test", detects="-", blind_to="-", default=False)(_Broken)
    assert "test_broken" in list_analyzers() and "test_broken" not in list_analyzers(
        default_only=True)
    result = scan(clips["portrait_mute"], trust=no_trust,
                  analyzers=["test_broken", "frequency"])
    broken = result.analyzers["test_broken"]
    assert broken.status is AnalyzerStatus.FAILED and "boom" in broken.reasons[0]
    assert result.analyzers["frequency"].status is AnalyzerStatus.OK
    assert any("test_broken failed" in w for w in result.warnings)


def test_ear_series_is_bounded_and_keeps_blinks() -> None:
    from trustavatar.detector.analyzers.blink import ear_series

    t = np.arange(30_000) / 25.0  # 20 minutes at 25 fps
    ear = np.full(t.size, 0.3)
    ear[12_345:12_349] = 0.08  # one 160 ms blink
    series = ear_series(t, ear, points=600)
    assert len(series) <= 600
    assert min(v for _, v in series) == pytest.approx(0.08)
    assert any(abs(ts - t[12_345]) < 2.0 for ts, v in series if v < 0.1)
    assert ear_series(np.zeros(0), np.zeros(0)) == []


def test_frequency_spectra_for_the_report(scanned) -> None:
    f = scanned("portrait").analyzers["frequency"].figures
    bands, mouth, cheek = f["spectrum_cycles_per_px"], f["spectrum_mouth"], f["spectrum_cheek"]
    assert len(bands) == len(mouth) == len(cheek) == 6
    assert bands == sorted(bands) and mouth[-1] == pytest.approx(0.0)  # relative to the top band

"""Pin the public API: removing or renaming a public name must be a deliberate change."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "trustavatar": ["__version__"],
    "trustavatar.keys": ["Anchor", "Keystore", "SigningIdentity", "SigningKey", "TrustStore",
                         "validate_chain"],
    "trustavatar.provenance": [
        "SUPPORTED_FORMATS", "ConsentBinding", "Failure", "GenerationBinding", "Ingredient",
        "ParentManifest", "ProvenanceReport",
        "SignResult", "Signer", "SourceType", "ValidationState", "build_manifest",
        "detect_format", "explain", "sign", "verify",
    ],
    "trustavatar.home": ["Config", "Home"],
    "trustavatar.consent": [
        "DEFAULT_PURPOSE", "DEFAULT_VALIDITY", "MAX_ARTIFACT_BYTES", "ArtifactSource",
        "ConsentArtifact", "ConsentGrant", "ConsentRecord", "ConsentStatus", "Evidence",
        "EvidenceDocument", "Issuer", "Revocation", "RevocationList", "RevocationListSource",
        "Scope", "Subject", "Validity", "export_revocations", "get_consent", "issue",
        "list_consents", "load_artifact", "load_revocation_list", "parse_artifact",
        "record_consent", "require", "revoke", "revoke_once", "verify",
        # recorded consent: challenges, clip checks
        "CHALLENGE_TTL", "ENGLISH_TEMPLATE", "MAX_ATTEMPTS", "Challenge", "ChallengeStatus",
        "ClipEvidence",
        "ClipReport", "ConsentDraft", "ConsentTemplate", "IdentityResult", "LivenessResult",
        "ProvenanceScreen", "RecordedConsent", "SpokenCodeResult", "analyse_liveness",
        "check_clip", "create_challenge", "get_challenge", "list_challenges", "load_template",
        "record_clip", "score_spoken_code",
    ],
    "trustavatar.face": [
        "EMBEDDING_DIMS", "EMBEDDING_MODEL", "MATCH_THRESHOLD", "FaceBox", "FaceEmbedding",
        "ImageSource", "QuantisedEmbedding", "embed_face", "load_image", "sample_portrait_path",
    ],
    "trustavatar.generator": [
        "GenerationResult", "MotionConfig", "MotionTrack", "PURPOSE", "QAPolicy", "QAReport",
        "generate", "plan_motion",
    ],
    "trustavatar.generator.audio": [
        "Audio", "AudioEncoder", "COLUMNS", "DEFAULT_SAMPLE_RATE", "MAX_SECONDS",
        "OpennessTable", "PhonePosteriors", "PhonemeAlphabet", "PhonemeClass", "PhonemeEvent",
        "SILENCE_DBFS", "Speech", "Viseme", "VoiceInfo", "WordEvent", "decode_phonemes",
        "encoder_frames", "frame_count", "frame_energy", "list_languages", "list_voices",
        "load_audio", "log_mel_100hz", "log_mel_frames", "phone_posteriors", "phoneme_class",
        "posterior_viseme_track", "resample", "synthesize", "viseme_for", "viseme_track",
        "voice_activity",
    ],
    "trustavatar.watermark": [
        "DEFAULT_KEY", "MIN_SIDE", "PAYLOAD_BYTES", "VideoSource", "Watermark", "WatermarkReader",
        "WatermarkReading", "Z_PAYLOAD", "Z_PRESENT", "payload_for", "read_watermark",
    ],
    "trustavatar.face.mesh": [
        "FaceCounter", "FaceMesh", "Region", "face_height", "mouth_opening", "preload",
    ],
    "trustavatar.detector": [
        "DETECTOR_VERSION", "AlignedCrop", "Analyzer", "AnalyzerResult", "AnalyzerSpec",
        "AnalyzerStatus", "BatchItem", "DecodedFrame", "EyeLandmarks", "FaceObservation",
        "FaceTracker", "FeatureDef", "FrameReader", "FusionModel", "MouthAligner",
        "MouthStacker", "ScanContext", "ScanResult", "TimelineWindow", "TrackSummary",
        "Verdict", "VideoProbe", "WindowScore", "align_mouth", "analyzer_spec",
        "create_analyzer", "eye_aspect_ratio", "eye_landmarks", "list_analyzers", "probe_video",
        "register_analyzer", "register_feature", "scan", "scan_many",
    ],
    "trustavatar.video_io": ["MAX_BAD_PACKETS", "Decoding", "StreamFacts", "VideoInfo",
                             "as_displayed", "clockwise_turn", "first_frame_turn",
                             "iter_frames", "probe", "stream_facts", "upright"],
    "trustavatar.registry": [
        "GENESIS_HASH", "LEDGER_CHECKPOINT_TYPE", "MIGRATIONS", "LedgerCheckpoint", "LedgerEntry",
        "LedgerProblem", "LedgerProblemKind", "LedgerReport", "LedgerRow", "Migration",
        "Registry", "append_generation", "export_head", "find_by_manifest", "find_by_output",
        "find_by_watermark", "find_by_watermark_in", "get_generation", "list_generations",
        "load_checkpoint",
        "verify_ledger",
    ],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names(module: str) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(PUBLIC[module])
    for name in mod.__all__:
        assert hasattr(mod, name), name


def test_error_family() -> None:
    from trustavatar import errors

    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, errors.Error), name
    assert issubclass(errors.ConsentExpiredError, errors.ConsentError)
    assert errors.ConsentError.exit_code == errors.ExitCode.REJECTED
    assert errors.UnsupportedFormatError.exit_code == errors.ExitCode.USAGE
    e = errors.KeystoreMissingError("no identity", detail="look in ~/.local/share")
    assert str(e) == "no identity"
    assert e.diagnostics().splitlines() == ["KeystoreMissingError: no identity",
                                           "look in ~/.local/share"]


def test_py_typed_ships() -> None:
    from importlib.resources import files

    assert files("trustavatar").joinpath("py.typed").is_file()

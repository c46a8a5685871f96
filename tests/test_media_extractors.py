"""The extractors on real decoded clips: MediaPipe landmarks (a face where there is one, zeros and
a flag where there is none), openSMILE eGeMAPS, and the Hugging Face extractors with tiny
randomly initialised models of the real classes (built here, nothing downloaded)."""

from __future__ import annotations

import numpy as np
import pytest
from media_clips import clip_folder, tone

from labelsync.media import (
    Clip,
    Extractor,
    ExtractSettings,
    Featurizer,
    MediaError,
    create_extractor,
    extract_clip,
    register_extractor,
)
from labelsync.media.decode import decode_clip
from labelsync.media.hf import HF_ALIASES
from labelsync.media.landmarks import PARTS


@pytest.fixture(scope="module")
def landmarks():
    extractor = create_extractor("video", "mediapipe")
    yield extractor
    extractor.close()


def _part(features: np.ndarray, extractor, part: str) -> np.ndarray:
    begin, end = extractor.details()["layout"][part]["slice"]
    return features[:, begin:end]


def test_the_face_is_found_on_the_face_clip_and_not_on_the_others(landmarks):
    face = landmarks.extract(decode_clip(clip_folder() / "face.mp4", audio=False))
    assert face.shape == (10, 1682) and face.dtype == np.float32
    assert landmarks.dim == sum(5 + n * v for n, v in PARTS.values()) == 1682
    mesh = _part(face, landmarks, "face")
    assert (mesh[:, 0] == 1).all()  # present on every frame
    points = mesh[:, 5:].reshape(10, 468, 3)
    assert np.abs(points[:, :, :2]).max() <= 0.75  # normalised to the face box
    assert np.ptp(points[:, :, 0], axis=1).min() > 0.8  # and spanning it
    centres = mesh[:, 1]  # the photo slides sideways: the face box follows it
    assert np.ptp(centres) > 0.05 and 0.2 < centres.mean() < 0.8
    pose = _part(face, landmarks, "pose")
    assert (pose[:, 0] == 1).all() and pose[:, 5:].reshape(10, 33, 4).shape == (10, 33, 4)
    for name in ("noface.mp4", "mute.mp4"):
        other = landmarks.extract(decode_clip(clip_folder() / name, audio=False))
        assert other.shape == (10, 1682) and not other.any()  # zeros, flags 0
    blank = Clip("blank", np.full((3, 120, 120, 3), 128, np.uint8), 5.0, None, 16000, 0.6)
    assert not landmarks.extract(blank).any()


def test_the_main_speaker_is_the_largest_face(landmarks):
    from skimage import data
    from skimage.transform import resize

    astronaut = data.astronaut()
    canvas = np.full((360, 480, 3), 200, np.uint8)
    big = (resize(astronaut, (300, 300)) * 255).astype(np.uint8)
    small = (resize(astronaut, (120, 120)) * 255).astype(np.uint8)
    canvas[30:330, 170:470] = big  # right, large
    canvas[10:130, 10:130] = small  # top left, small
    features = landmarks.extract(Clip("two", canvas[None], 5.0, None, 16000, 0.2))
    present, cx, cy, w, h = _part(features, landmarks, "face")[0, :5]
    assert present == 1 and cx > 0.5 and w > 0.1  # the large face on the right


def test_face_only_variant_and_description():
    with Featurizer(ExtractSettings(video="mediapipe-face", audio=None)) as featurizer:
        features = featurizer(clip_folder() / "face.mp4")
        described = featurizer.describe()["video"]
    assert list(features) == ["video"] and features["video"].shape == (10, 1409)
    assert described["extractor"] == "mediapipe-face" and described["dim"] == 1409
    assert described["version"].startswith("mediapipe 0.10") and described["frame_rate"] == 5.0
    assert list(described["layout"]) == ["face"]


def test_egemaps_prosody_hears_pitch_and_silence():
    egemaps = create_extractor("audio", "egemaps")
    names = egemaps.details()["names"]
    assert egemaps.dim == len(names) == 25 and egemaps.frame_rate == 100.0
    pitch, loudness = names.index("F0semitoneFrom27.5Hz_sma3nz"), names.index("Loudness_sma3")
    low = egemaps.extract(decode_clip(clip_folder() / "face.mp4", video=False))  # 220 Hz
    high = egemaps.extract(decode_clip(clip_folder() / "noface.mp4", video=False))  # 440 Hz
    silent = egemaps.extract(decode_clip(clip_folder() / "silent.mp4", video=False))
    assert low.shape[1] == 25 and abs(low.shape[0] - 200) <= 8  # 100 frames a second
    # an octave is 12 semitones, stored divided by 10
    octave = np.median(high[high[:, pitch] > 0, pitch]) - np.median(low[low[:, pitch] > 0, pitch])
    assert octave == pytest.approx(1.2, abs=0.05)
    assert silent[:, loudness].max() < 0.01 and not silent[:, pitch].any()
    assert low[:, loudness].mean() > 0.1
    tiny = Clip("tiny", None, 5.0, tone(0.005, 200), 16000, 0.005)  # shorter than one window
    short = egemaps.extract(tiny)
    assert short.shape == (1, 25) and np.isfinite(short).all()
    assert egemaps.describe()["divided_by"][names.index("F1frequency_sma3nz")] == 1000.0


def test_a_registered_extractor_is_used_by_name():
    class MeanColour(Extractor):
        name, modality, dim, frame_rate = "mean-colour", "video", 3, 5.0

        def extract(self, clip):
            return clip.frames.mean(axis=(1, 2)).astype(np.float32)

    register_extractor("video", "mean-colour", lambda **_: MeanColour())
    features = extract_clip(clip_folder() / "face.mp4", ExtractSettings("mean-colour", None))
    assert features["video"].shape == (10, 3)
    with pytest.raises(MediaError, match="unknown modality 'text'"):
        create_extractor("text", "x")


# -- Hugging Face extractors with tiny random models --------------------------------------------
@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """Tiny wav2vec2, WavLM, CLIP, Swin and VideoMAE models (random weights) in local folders."""
    import torch
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        SwinConfig,
        SwinModel,
        VideoMAEConfig,
        VideoMAEImageProcessor,
        VideoMAEModel,
        ViTImageProcessor,
        Wav2Vec2Config,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2Model,
        WavLMConfig,
        WavLMModel,
    )

    root = tmp_path_factory.mktemp("tiny-hf")
    torch.manual_seed(0)
    speech = dict(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(8,) * 7,  # the real front end's strides: 320 samples = 20 ms a frame
        conv_stride=(5, 2, 2, 2, 2, 2, 2),
        conv_kernel=(10, 3, 3, 3, 3, 2, 2),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
    )
    paths = {}
    for name, model in (
        ("wav2vec2", Wav2Vec2Model(Wav2Vec2Config(**speech))),
        ("wavlm", WavLMModel(WavLMConfig(**speech, num_buckets=8, max_bucket_distance=20))),
    ):
        model.save_pretrained(root / name)
        Wav2Vec2FeatureExtractor(sampling_rate=16000).save_pretrained(root / name)
        paths[name] = str(root / name)
    small = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)
    vision = dict(**small, image_size=32, patch_size=8)
    text = dict(**small, vocab_size=99, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    clip = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=12))
    clip.save_pretrained(root / "clip")
    square = {"height": 32, "width": 32}
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=square).save_pretrained(root / "clip")
    swin = SwinConfig(
        image_size=32, patch_size=4, embed_dim=8, depths=[1, 1], num_heads=[1, 2], window_size=4
    )
    SwinModel(swin).save_pretrained(root / "swin")
    ViTImageProcessor(size=square).save_pretrained(root / "swin")
    mae = VideoMAEConfig(**vision, num_frames=4, tubelet_size=2)
    VideoMAEModel(mae).save_pretrained(root / "videomae")
    VideoMAEImageProcessor(size={"shortest_edge": 32}, crop_size=square).save_pretrained(
        root / "videomae"
    )
    paths.update({n: str(root / n) for n in ("clip", "swin", "videomae")})
    return paths


def test_hf_speech_encoders_give_one_row_per_20_ms(tiny_models):
    clip = decode_clip(clip_folder() / "face.mp4", video=False)
    for name in ("wav2vec2", "wavlm"):
        extractor = create_extractor("audio", tiny_models[name])
        features = extractor.extract(clip)
        assert extractor.frame_rate == 50.0 and extractor.dim == 16
        assert features.shape == (clip.audio.size // 320 - 1 + (clip.audio.size % 320 >= 80), 16)
        assert np.isfinite(features).all() and features.std() > 0
        assert np.array_equal(features, extractor.extract(clip))  # deterministic
        described = extractor.describe()
        assert described["model_type"] == name and "transformers" in described["version"]


def test_hf_frame_encoders_per_frame_and_per_window(tiny_models):
    settings = ExtractSettings(video=tiny_models["clip"], audio=tiny_models["wav2vec2"])
    with Featurizer(settings) as featurizer:
        features = featurizer(clip_folder() / "face.mp4")
        assert featurizer.describe()["video"]["mode"] == "one vector per frame"
    assert features["video"].shape == (10, 12)  # CLIP: the projected image embedding
    assert features["audio"].shape[1] == 16
    assert not np.allclose(features["video"][0], features["video"][5])  # frames differ
    swin = create_extractor("video", tiny_models["swin"], batch_size=3)  # batches of 3 frames
    frames = decode_clip(clip_folder() / "face.mp4", audio=False)
    assert swin.extract(frames).shape == (10, swin.dim)
    mae = create_extractor("video", tiny_models["videomae"])
    windows = mae.extract(frames)  # 10 frames, windows of 4, tubelets of 2 -> 5 rows
    assert windows.shape == (5, 16) and mae.frame_rate == 2.5


def test_hf_models_that_are_not_here_fail_in_one_line(tmp_path):
    assert HF_ALIASES["wav2vec2"] == "facebook/wav2vec2-base-960h"  # what MIntRec used
    with pytest.raises(MediaError, match="no-model: cannot load the Hugging Face config") as info:
        create_extractor("video", str(tmp_path / "no-model"))
    assert "\n" not in str(info.value)


def test_cuda_without_a_gpu_is_refused(tiny_models):
    import torch

    if torch.cuda.is_available():  # pragma: no cover - the test machines have no GPU
        pytest.skip("a GPU is present")
    with pytest.raises(MediaError, match="torch sees no CUDA GPU"):
        create_extractor("audio", tiny_models["wav2vec2"], device="cuda")

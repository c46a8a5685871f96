"""Tiny CARAT / HyCon models and batches for tests/test_carat.py and tests/test_hycon.py."""

from __future__ import annotations

import torch

from labelsync.model import AMessConfig, AMessModel

LABELS = ["joy", "anger", "fear"]
# eq. 15 with Table 4, ID 0; the task's own BCE on eq. 16's output is off, as in the paper
CARAT_LOSSES = {
    "carat_lsr_o": 0.01,
    "carat_lsr_alpha": 0.1,
    "carat_lsr_beta": 1.0,
    "carat_agg": 1.0,
    "carat_agg_shuffled": 0.1,
    "carat_scl": 1.0,
    "carat_rec": 1.0,
    "bce": 0.0,
}
HYCON_LOSSES = {
    "hycon_iamcl": 1.0,
    "hycon_iamcl_refine": 1.0,
    "hycon_iemcl": 1.0,
    "hycon_iemcl_refine": 1.0,
    "hycon_scl": 1.0,
}


def carat_model(encoder: str, seed: int = 0, text_only: bool = False, **options) -> AMessModel:
    """A tiny CARAT (d 16, d_z 8, 1 layer) over the tiny BERT; ``options`` = fusion options."""
    torch.manual_seed(seed)
    losses = options.pop("losses", CARAT_LOSSES)
    fusion_options = dict(hidden=16, latent=8, layers=1, heads=2, queue_size=64) | options
    return AMessModel(
        AMessConfig(
            encoder_name_or_path=encoder,
            label_names=LABELS,
            task="multi_label",
            fusion="carat",
            use_ss=False,
            video_dim=None if text_only else 6,
            audio_dim=None if text_only else 5,
            max_text_len=12,
            fusion_options=fusion_options,
            losses=losses,
        )
    )


def hycon_model(encoder: str, seed: int = 0, text_only: bool = False, **options) -> AMessModel:
    """A tiny HyCon (d 10, 1 layer) regression model over the tiny BERT."""
    torch.manual_seed(seed)
    losses = options.pop("losses", HYCON_LOSSES)
    return AMessModel(
        AMessConfig(
            encoder_name_or_path=encoder,
            label_names=["sentiment"],
            task="regression",
            fusion="hycon",
            use_ss=False,
            video_dim=None if text_only else 6,
            audio_dim=None if text_only else 5,
            max_text_len=12,
            fusion_options=dict(dim=10, layers=1, heads=2) | options,
            losses=losses,
        )
    )


def affect_batch(n: int = 6, seed: int = 1, pad: int = 0) -> dict:
    """``n`` samples of different lengths in every modality (``pad`` extra padded steps), label
    sets over ``LABELS`` and sentiment scores of both signs."""
    gen = torch.Generator().manual_seed(seed)
    junk = torch.Generator().manual_seed(seed + 1000)  # what fills the padding

    def sequence(full: int, width: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        length = torch.randint(2, full + 1, (n,), generator=gen)
        mask = torch.arange(full + pad)[None, :] < length[:, None]
        if width is None:  # token ids; padding is id 0
            values = torch.randint(1, 100, (n, full), generator=gen)
            values = torch.cat([values, torch.zeros(n, pad, dtype=values.dtype)], dim=1)
            return values * mask, mask
        values = torch.randn(n, full, width, generator=gen)
        values = torch.cat([values, torch.zeros(n, pad, width)], dim=1)
        noise = 100 * torch.randn(n, full + pad, width, generator=junk)
        return torch.where(mask[..., None], values, noise), mask

    ids, text_mask = sequence(7, None)
    video, video_mask = sequence(9, 6)
    audio, audio_mask = sequence(11, 5)
    label_ids = torch.full((n, 2), -100)
    for i in range(n):  # alternating one and two labels, every label used
        label_ids[i, 0] = i % 3
        if i % 2:
            label_ids[i, 1] = (i + 1) % 3
    scores = torch.linspace(-2.5, 2.5, n)
    return {
        "input_ids": ids,
        "attention_mask": text_mask.long(),
        "video": video,
        "video_mask": video_mask,
        "audio": audio,
        "audio_mask": audio_mask,
        "label_id": label_ids[:, 0].clone(),
        "label_ids": label_ids,
        "score": scores,
    }


def text_only(batch: dict) -> dict:
    """The batch without its video and audio."""
    return {k: v for k, v in batch.items() if not k.startswith(("video", "audio"))}

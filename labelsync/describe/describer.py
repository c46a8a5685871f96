"""``describe``: label names -> validated, cached descriptions from an LLM backend.

For every label not given by a reviewed file and not in the cache, the backend answers the
prompt (several labels per request when the template allows it); answers are parsed, checked
(:mod:`.parse`) and guarded (:mod:`.guard`); labels short of ``n`` good descriptions are asked
again with sampling and a new seed, a bounded number of times. A label that still fails is
never cached and stays in the result by its name only (``strict``: an error instead). Finished
labels are written to the cache as they complete, so an interrupted run keeps them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..descriptions import Descriptions, LabelDescriptions
from ..errors import DescriptionError
from ..labels import LabelSet, normalize_label
from .backends import create_backend
from .cache import CacheRecord, DescriptionCache, cache_key
from .config import DescribeConfig
from .examples import training_examples
from .generation import Backend, GenerationRequest, estimate_tokens
from .guard import Guard
from .parse import Rejection, check_descriptions, parse_answer
from .prompts import PromptTemplate
from .throughput import Throughput

__all__ = [
    "DescribeConfig",
    "DescribePlan",
    "Describer",
    "describe",
    "LabelFailure",
    "training_examples",
]

logger = logging.getLogger(__name__)


@dataclass
class DescribePlan:
    """What a run would do (``--dry-run``): labels by where their descriptions come from, and
    the first-round requests with their size; retries for failing labels come on top."""

    labels: list[str]  # to generate
    cached: list[str]
    reviewed: list[str]  # given by the reviewed file, used as they are
    requests: list[GenerationRequest]
    prompt_tokens: int  # tiktoken cl100k estimate, whatever the backend's own tokenizer
    output_budget: int  # completion tokens the requests may use (their max_tokens summed)


@dataclass
class LabelFailure:
    label: str
    reason: str


@dataclass
class _Outcome:
    label: str
    record: CacheRecord | None
    reason: str = ""


def _prompt_hash(template: PromptTemplate, examples: list[str] | None) -> str:
    if not examples:
        return template.sha256
    blob = template.sha256 + json.dumps(examples, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


class Describer:
    """Binds a config, a backend, a prompt and a cache; ``run(labels)`` does the work."""

    def __init__(self, config: DescribeConfig | None = None, backend: Backend | None = None):
        self.config = config or DescribeConfig()
        cfg = self.config
        if cfg.n < 1:
            raise DescriptionError("n must be at least 1")
        self.backend = backend or create_backend(
            cfg.backend,
            model=cfg.model,
            base_url=cfg.base_url,
            concurrency=cfg.concurrency,
            timeout=cfg.timeout,
            retries=cfg.retries,
        )
        self.template = PromptTemplate.load(cfg.prompt or self.backend.default_prompt())
        self.cache = DescriptionCache(cfg.cache_dir)
        local = self.backend.local
        self.samples = cfg.samples if cfg.samples is not None else (2 if local else 1)
        per_request = cfg.labels_per_request if self.template.multi_label else 1
        self.labels_per_request = max(1, per_request)
        self.max_tokens = cfg.max_tokens or 40 * cfg.n + 20
        self.throughput = Throughput()

    # -- keys and plans -----------------------------------------------------------------------
    def key(self, label: str, examples: dict[str, list[str]] | None = None) -> str:
        cfg = self.config
        return cache_key(
            label,
            _prompt_hash(self.template, (examples or {}).get(label)),
            self.backend.name,
            self.backend.model_id,
            cfg.n,
            cfg.temperature,
            cfg.seed,
        )

    def requests(self, labels: list[str], examples=None) -> list[GenerationRequest]:
        """The first-round requests for ``labels`` (what ``--dry-run`` shows)."""
        out = []
        for group in self._groups(labels):
            for attempt in range(self.samples):
                out.append(self._request(group, attempt, examples))
        return out

    def plan(
        self,
        labels: LabelSet | Iterable[str],
        reviewed: Descriptions | None = None,
        examples: dict[str, list[str]] | None = None,
    ) -> DescribePlan:
        """What ``run`` would do for ``labels``, without loading a model or sending anything."""
        labels = labels if isinstance(labels, LabelSet) else LabelSet(labels)
        given, cached, todo = self._partition(labels, reviewed, examples)
        requests = self.requests(todo, examples)
        return DescribePlan(
            labels=todo,
            cached=list(cached),
            reviewed=list(given),
            requests=requests,
            prompt_tokens=sum(estimate_tokens(r.prompt.as_text()) for r in requests),
            output_budget=sum(r.max_tokens for r in requests),
        )

    def _partition(
        self, labels: LabelSet, reviewed: Descriptions | None, examples
    ) -> tuple[dict[str, LabelDescriptions], dict[str, CacheRecord], list[str]]:
        """(entries ``reviewed`` gives, cache records of the cached labels, labels to generate),
        each in label order; ``refresh`` ignores the cache."""
        given: dict[str, LabelDescriptions] = {}
        cached: dict[str, CacheRecord] = {}
        todo: list[str] = []
        for label in labels:
            if reviewed is not None and label in reviewed:
                given[label] = reviewed.entry(label)
            elif not self.config.refresh and (record := self.cache.get(self.key(label, examples))):
                cached[label] = record
            else:
                todo.append(label)
        return given, cached, todo

    def _groups(self, labels: list[str]) -> list[list[str]]:
        size = self.labels_per_request
        return [labels[i : i + size] for i in range(0, len(labels), size)]

    def _request(self, group: list[str], attempt: int, examples) -> GenerationRequest:
        cfg = self.config
        temperature = cfg.temperature if attempt == 0 else max(cfg.temperature, 0.8)
        stop = () if self.template.is_chat else ("\n\n", "Intent label:")
        return GenerationRequest(
            prompt=self.template.render(group, cfg.n, examples),
            max_tokens=self.max_tokens * len(group),
            temperature=temperature,
            seed=cfg.seed + attempt,
            stop=stop,
        )

    # -- generation ---------------------------------------------------------------------------
    def _describe_group(self, group: list[str], guard: Guard | None, examples) -> list[_Outcome]:
        cfg = self.config
        candidates = {label: [] for label in group}
        raw = {label: [] for label in group}
        selected: dict[str, list[str]] = {label: [] for label in group}
        rejected: dict[str, list[Rejection]] = {label: [] for label in group}
        usage = {label: [0, 0, 0.0] for label in group}
        pending = list(group)
        for attempt in range(self.samples + cfg.max_retries):
            if not pending:
                break
            generation = self.backend.generate(self._request(pending, attempt, examples))
            self.throughput.add(generation.prompt_tokens, generation.completion_tokens)
            parsed = parse_answer(generation.text, pending)
            for label in pending:
                raw[label].append(generation.text)
                candidates[label].extend(parsed[label])
                share = len(pending)
                usage[label][0] += generation.prompt_tokens // share
                usage[label][1] += generation.completion_tokens // share
                usage[label][2] += generation.seconds / share
                valid, rejected[label] = check_descriptions(label, candidates[label], cfg.limits)
                if guard is not None:
                    valid, guarded = guard.select(label, valid, cfg.n)
                    rejected[label] += guarded
                selected[label] = valid[: cfg.n]
            pending = [
                label
                for label in pending
                if attempt + 1 < self.samples or len(selected[label]) < cfg.n
            ]
        outcomes = []
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        for label in group:
            if len(selected[label]) < cfg.n:
                reasons = sorted({r.reason.split(" (")[0] for r in rejected[label]})
                why = ", ".join(reasons) or "no parseable descriptions"
                outcomes.append(
                    _Outcome(
                        label,
                        None,
                        f"{len(selected[label])} of {cfg.n} valid descriptions after "
                        f"{len(raw[label])} answers (rejected: {why})",
                    )
                )
                continue
            key = self.key(label, examples)
            record = CacheRecord(
                key=key,
                label=label,
                label_key=normalize_label(label),
                prompt_name=self.template.name,
                prompt_sha256=_prompt_hash(self.template, (examples or {}).get(label)),
                backend=self.backend.name,
                model=self.backend.model_id,
                n=cfg.n,
                temperature=cfg.temperature,
                seed=cfg.seed,
                descriptions=selected[label],
                raw_answers=raw[label],
                rejected=[{"text": r.text, "reason": r.reason} for r in rejected[label]],
                prompt_tokens=usage[label][0],
                completion_tokens=usage[label][1],
                seconds=round(usage[label][2], 3),
                created=now,
            )
            outcomes.append(_Outcome(label, record))
        return outcomes

    def _entry(self, record: CacheRecord) -> LabelDescriptions:
        return LabelDescriptions(
            label=record.label,
            descriptions=list(record.descriptions),
            source="llm",
            model=record.model,
            prompt_hash=record.prompt_sha256[:12],
        )

    def run(
        self,
        labels: LabelSet | Iterable[str],
        *,
        reviewed: Descriptions | None = None,
        examples: dict[str, list[str]] | None = None,
        on_label: Callable[[str, LabelDescriptions | None, CacheRecord | None], None] | None = None,
    ) -> tuple[Descriptions, list[LabelFailure]]:
        """Descriptions for every label (reviewed ones as given) plus the labels that failed:
        those stay in the result name-only, with one warning (``strict``: DescriptionError)."""
        cfg = self.config
        labels = labels if isinstance(labels, LabelSet) else LabelSet(labels)
        given, cached, todo = self._partition(labels, reviewed, examples)
        known = {**given, **{label: self._entry(record) for label, record in cached.items()}}
        results = {label: known[label] for label in labels if label in known}
        for label, entry in results.items():
            if on_label:
                on_label(label, entry, None)
        failures: list[LabelFailure] = []
        if todo:
            logger.info(
                "generating descriptions for %d labels with %s (%s), prompt %s",
                len(todo),
                self.backend.name,
                self.backend.model_id,
                self.template.name,
            )
            guard = Guard(labels.names, cfg.embedder) if cfg.guard else None
            self.throughput = Throughput()  # each run counts its own requests
            self.throughput.start()
            try:
                failures = self._generate(todo, guard, examples, results, on_label)
            finally:
                self.throughput.stop()
        failures.sort(key=lambda failure: labels.id(failure.label))
        if failures and cfg.strict:
            first = failures[0]
            more = f" (and {len(failures) - 1} more labels)" if len(failures) > 1 else ""
            raise DescriptionError(
                f"label {first.label!r} failed: {first.reason}{more}; the labels that succeeded "
                "are cached; without strict the failed ones are kept by name only"
            )
        if failures:
            logger.warning(
                "%d of %d labels failed and keep their name only (descriptions: [], the reason "
                "under 'failed'): %s",
                len(failures),
                len(labels),
                ", ".join(failure.label for failure in failures),
            )
        # Failed labels stay, with no descriptions and the reason: a reviewer sees them, and a
        # label store falls back to the label name for them. They are never cached.
        for failure in failures:
            results[failure.label] = LabelDescriptions(
                label=failure.label,
                descriptions=[],
                source="llm",
                model=self.backend.model_id,
                extra={"failed": failure.reason},
            )
        ordered = Descriptions(results[label] for label in labels if label in results)
        return ordered, failures

    def _generate(self, todo, guard, examples, results, on_label) -> list[LabelFailure]:
        failures: list[LabelFailure] = []
        pool = ThreadPoolExecutor(
            max_workers=self.backend.concurrency, thread_name_prefix="describe"
        )
        futures = {
            pool.submit(self._describe_group, g, guard, examples) for g in self._groups(todo)
        }
        try:
            while futures:
                done, futures = wait(futures, return_when=FIRST_COMPLETED)
                for future in done:
                    for outcome in future.result():
                        if outcome.record is None:
                            failures.append(LabelFailure(outcome.label, outcome.reason))
                            logger.info("label %r failed: %s", outcome.label, outcome.reason)
                            if on_label:
                                on_label(outcome.label, None, None)
                            continue
                        self.cache.put(outcome.record)
                        results[outcome.label] = self._entry(outcome.record)
                        if on_label:
                            on_label(outcome.label, results[outcome.label], outcome.record)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            self.backend.close()  # closes open connections so requests in flight end now
            raise
        pool.shutdown(wait=True)
        return failures


def describe(
    labels: LabelSet | Iterable[str] | str | Path,
    n: int = 3,
    backend: str = "llamacpp",
    *,
    reviewed: Descriptions | str | Path | None = None,
    examples: dict[str, list[str]] | None = None,
    **options,
) -> Descriptions:
    """Descriptions for ``labels`` (a LabelSet, a list, a preset name or a label file).

    ``options`` are :class:`DescribeConfig` fields (``model``, ``prompt``, ``temperature``,
    ``base_url``, ``cache_dir``, ``strict``, ...). Labels in ``reviewed`` are used as they are;
    the rest come from the cache or the backend. A label that fails validation is kept by its
    name only (``descriptions: []``, the reason under ``failed``) with one warning that lists
    them; ``strict=True`` raises :class:`DescriptionError` instead.
    """
    if isinstance(labels, (str, Path)):
        labels = LabelSet.resolve(labels)
    if isinstance(reviewed, (str, Path)):
        reviewed = Descriptions.from_yaml(reviewed)
    config = DescribeConfig(n=n, backend=backend, **options)
    describer = Describer(config)
    start = time.perf_counter()
    try:
        result, _ = describer.run(labels, reviewed=reviewed, examples=examples)
    finally:
        describer.backend.close()
    logger.info("described %d labels in %.1fs", len(result), time.perf_counter() - start)
    return result

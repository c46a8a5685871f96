"""HTTP serving: ``labelsync serve`` (a label store or a trained run behind FastAPI, with dynamic
micro-batching, metrics and an optional API key) and the ``labelsync review`` page.

Importing this package is cheap; FastAPI, uvicorn and the models load when a name is used.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "ServeConfig": "labelsync.serve.config",
    "create_app": "labelsync.serve.app",
    "run_server": "labelsync.serve.runner",
    "open_served": "labelsync.serve.served",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

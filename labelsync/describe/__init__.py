"""Label names -> descriptions from an LLM: prompts, backends, parsing, guard, cache, describer.

``labelsync.describe`` is both this package and the ``describe()`` function of the public API:
once any of its modules is imported, Python binds the package to the name ``describe`` in
``labelsync``, so the package itself calls ``describer.describe`` and either object works.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallablePackage(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from .describer import describe

        return describe(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage

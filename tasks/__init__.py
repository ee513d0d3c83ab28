"""The gate's shared tasks: nox sessions and invoke tasks call the same functions.

invoke loads this package as its collection (``inv --list``). The collection is built on first
access, so importing ``tasks`` from the noxfile costs nothing and does not need invoke.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name in {"ns", "namespace"}:
        from tasks.invoke_tasks import namespace  # noqa: PLC0415

        return namespace
    raise AttributeError(name)

"""The gate's shared tasks: nox sessions and invoke tasks call the same functions.

invoke loads this package as its collection (``inv --list``). The collection is built on first
access, so importing ``tasks`` from the noxfile costs nothing and does not need invoke.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

# invoke puts this folder itself at the front of sys.path before importing the package; then a
# folder in here (settings/, report/, environments/) would shadow any top-level module of that
# name. Our modules import each other as `tasks.x`, so the folder is not needed there.
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != _HERE]


def __getattr__(name: str) -> Any:
    if name in {"ns", "namespace"}:
        from tasks.invoke_tasks import namespace  # noqa: PLC0415

        return namespace
    raise AttributeError(name)

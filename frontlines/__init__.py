"""frontlines: spans and control-change events in conflict reporting.

The installed package is ``frontlines.inference`` (the slim predictor) and
``frontlines.training`` (corpus, training, evaluation), so installing it never
shadows another distribution's top-level ``inference`` or ``training``. A wheel
maps the repository's top-level ``inference/`` and ``training/`` folders into
this package (``package-dir`` in ``pyproject.toml``); in a source checkout the
folders stay where they are and this file points the package's search path at
the repository root, so the same import names work there too.
"""

from __future__ import annotations

from pathlib import Path

_here = Path(__file__).resolve().parent
if not (_here / "inference").is_dir() and (_here.parent / "inference" / "__init__.py").is_file():
    __path__.append(str(_here.parent))  # a source checkout: frontlines.inference is <repo>/inference

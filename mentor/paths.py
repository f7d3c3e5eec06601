"""Where the shipped data lives: a source checkout (repo root) or an installed wheel (mentor/_data)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    for candidate in (_PKG / "_data" / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    from mentor.errors import MentorError

    raise MentorError(
        f"mentor's {name}/ folder is missing (looked in {_PKG / '_data'} and {_PKG.parent})",
        "reinstall mentor: pip install --force-reinstall mentor",
    )


@lru_cache(maxsize=None)
def curriculum_dir() -> Path:
    return _data_dir("curriculum")


@lru_cache(maxsize=None)
def prompts_dir() -> Path:
    return _data_dir("prompts")


@lru_cache(maxsize=None)
def reference_root() -> Path:
    """The folder that *contains* the reference_impl package (put it on sys.path to import it)."""
    import importlib.util

    spec = importlib.util.find_spec("reference_impl")
    if spec is not None and spec.origin:
        return Path(spec.origin).resolve().parent.parent
    if (_PKG.parent / "reference_impl").is_dir():
        return _PKG.parent
    from mentor.errors import MentorError

    raise MentorError("the reference_impl package is missing", "reinstall mentor")


def package_root() -> Path:
    """The folder that contains the mentor package (for the sandbox harness's sys.path)."""
    return _PKG.parent

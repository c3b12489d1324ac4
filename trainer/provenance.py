"""Which code trained a version: the package version and, from a checkout, the git commit."""

from __future__ import annotations

import functools
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

from trainer import __version__

CHECKOUT = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    try:  # fixed arguments, no shell
        out = subprocess.run([git, "-C", str(CHECKOUT), *args], capture_output=True,  # noqa: S603
                             text=True, timeout=10, check=True)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


@functools.cache
def code_version() -> str:
    """`0.1.0+g<40-hex commit>` from a git checkout (`.dirty` when tracked files were
    changed since that commit), `0.1.0` from an installed package without one (a Docker
    image): a PEP 440 version with a local part."""
    try:
        version = metadata.version("autoencoders-service")
    except metadata.PackageNotFoundError:
        version = __version__
    if not (CHECKOUT / ".git").exists():
        return version
    commit = _git("rev-parse", "HEAD")
    if not commit:
        return version
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return f"{version}+g{commit}" + (".dirty" if dirty else "")

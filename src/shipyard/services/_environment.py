"""What a run captures about where it ran: code revision, interpreter, packages, host."""

from __future__ import annotations

import getpass
import json
import os
import platform
import socket
import subprocess
import sys
import time
from importlib import metadata

__all__ = ["KEY_PACKAGES", "capture_environment"]

#: Packages whose versions are recorded with every run when installed.
KEY_PACKAGES = (
    "shipyard",
    "numpy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "scipy",
    "torch",
    "lightgbm",
    "xgboost",
    "onnxruntime",
)
_GIT_TTL_S = 10.0
_git_cache: dict[str, tuple[float, dict[str, str]]] = {}
_static: dict[str, str] | None = None


def _git(args: list[str], cwd: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _git_tags(cwd: str) -> dict[str, str]:
    cached = _git_cache.get(cwd)
    if cached and time.monotonic() - cached[0] < _GIT_TTL_S:
        return cached[1]
    found: dict[str, str] = {}
    commit = _git(["rev-parse", "HEAD"], cwd)
    if commit:
        status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
        found["shipyard.git.commit"] = commit
        found["shipyard.git.dirty"] = "true" if status else "false"
        branch = _git(["rev-parse", "--abbrev-ref", "HEAD"], cwd)
        if branch and branch != "HEAD":
            found["shipyard.git.branch"] = branch
    _git_cache[cwd] = (time.monotonic(), found)
    return found


def _static_tags() -> dict[str, str]:
    global _static
    if _static is None:
        versions = {}
        for name in KEY_PACKAGES:
            try:
                versions[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                continue
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = ""
        _static = {
            "shipyard.python": platform.python_version(),
            "shipyard.platform": platform.platform(terse=True),
            "shipyard.host": socket.gethostname(),
            "shipyard.user": user,
            "shipyard.packages": json.dumps(versions, sort_keys=True),
        }
    return _static


def capture_environment() -> dict[str, str]:
    """System tags for a new run: git revision and dirty flag, Python, packages, host, source.

    Git is asked at most every few seconds per directory; the rest once per process.
    """
    tags = dict(_static_tags())
    source = sys.argv[0] if sys.argv and sys.argv[0] else ""
    if source and source not in ("-c", "-m"):
        tags["shipyard.source"] = os.path.basename(source)
    tags.update(_git_tags(os.getcwd()))
    return tags

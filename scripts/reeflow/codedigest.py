"""A digest of the reeflow modules a rule script uses, so that editing one reruns exactly its rules.

Snakemake reruns a job when its rule's script changes, not when a module that script imports does.
Each rule with a script gets ``params: code=code_digest(script)``: a hash over the source of every
``reeflow`` module the script imports, directly or through other modules (found by reading the
code with ``ast``, imports inside functions included, nothing executed). An edit to
reeflow/mfa/balance.py then changes the params of the MFA rules only, and Snakemake's params
trigger reruns them and what depends on them.

The digest names modules by their path relative to the scripts folder, never an absolute path, so
the same tree in another folder (a clone, a test copy, a cluster node) gives the same digest. It is
computed once per script and process (the Snakefile is parsed again by every cluster job).
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path

PACKAGE = "reeflow"


def _module_file(scripts: Path, module: str) -> Path | None:
    """The file of a reeflow module (``reeflow.mfa.balance``), a package's __init__, or None."""
    base = scripts.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _package_of(scripts: Path, path: Path) -> str:
    """The dotted package a module file belongs to (for relative imports)."""
    parts = path.relative_to(scripts).with_suffix("").parts
    return ".".join(parts[:-1])


def imported_modules(scripts: Path, path: Path) -> set[str]:
    """Dotted names of the reeflow modules ``path`` imports anywhere, with their parent packages
    (importing reeflow.mfa.balance runs reeflow/__init__.py and reeflow/mfa/__init__.py too).

    Parsed once per file version and process: the ~40 rule scripts share most modules, and every
    Snakemake start (every cluster job too) computes all digests while reading the Snakefile."""
    stat = path.stat()
    return set(_imported_modules(scripts, path, stat.st_mtime_ns, stat.st_size))


@cache
def _imported_modules(scripts: Path, path: Path, mtime_ns: int, size: int) -> frozenset[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x / from ..io import y
                package = _package_of(scripts, path).split(".") if path.is_relative_to(scripts) else []
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from reeflow.mfa import balance`
    found: set[str] = set()
    for name in names:
        parts = name.split(".")
        if parts[0] != PACKAGE:
            continue
        for end in range(1, len(parts) + 1):
            prefix = ".".join(parts[:end])
            if _module_file(scripts, prefix) is not None:
                found.add(prefix)
    return frozenset(found)


@cache
def _module_closure(scripts: Path, module: str) -> frozenset[str]:
    """``module`` and every reeflow module it reaches; cycles are cut by the partial result."""
    seen = {module}
    stack = [module]
    while stack:
        path = _module_file(scripts, stack.pop())
        if path is None:
            continue
        for dep in imported_modules(scripts, path) - seen:
            seen.add(dep)
            stack.append(dep)
    return frozenset(seen)


@cache
def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def script_modules(script: str | Path, scripts: str | Path) -> list[str]:
    """Every reeflow module ``script`` uses, transitively, sorted (what its digest covers)."""
    scripts = Path(scripts).resolve()
    modules: set[str] = set()
    for module in imported_modules(scripts, Path(script).resolve()):
        modules |= _module_closure(scripts, module)
    return sorted(modules)


@cache
def _digest(script: Path, scripts: Path) -> str:
    digest = hashlib.sha256()
    # the script itself too: the profiles leave out Snakemake's own `code` trigger (see there)
    own = script.relative_to(scripts).as_posix() if script.is_relative_to(scripts) else script.name
    digest.update(f"{own}\0{_file_sha256(script)}\n".encode())
    for module in script_modules(script, scripts):
        path = _module_file(scripts, module)
        assert path is not None  # script_modules keeps only modules with a file
        digest.update(f"{path.relative_to(scripts).as_posix()}\0{_file_sha256(path)}\n".encode())
    return digest.hexdigest()[:16]


def code_digest(script: str | Path, scripts: str | Path) -> str:
    """A short hash of ``script`` and of the source of every reeflow module it imports (transitively).

    ``scripts`` is the folder holding the reeflow package; paths enter the hash relative to it."""
    return _digest(Path(script).resolve(), Path(scripts).resolve())

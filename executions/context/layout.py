"""Which files are the repository's own source, and which are tests, docs, examples, vendored or
other code: the listing and the map put the source first.

A path's weight multiplies its word score in the ranking (``repomap.rank``) and orders the
commit-stable listing (``repomap.overview``). The source is found from the layout a packaging
config points at: ``src/``, ``lib/``, the Python package directories (a folder with an
``__init__.py`` at the top or under ``src/``), a Go module's packages, the code files at the root.
"""

from __future__ import annotations

import re
from functools import lru_cache

from executions.context import grammars

SOURCE, OTHER_CODE, CONFIG, TESTS, DOCS, EXAMPLES, VENDORED = 1.0, 0.7, 0.5, 0.35, 0.3, 0.3, 0.2

_VENDORED = re.compile(r"(^|/)(_vendor|vendor|vendored|extern|third_party|thirdparty)/")
_TESTS = re.compile(
    r"(^|/)(tests?|testing|__tests__|specs?|testdata|fixtures)/|(^|/)(test_[^/]*|[^/]*_tests?\.\w+|conftest\.py)$"
    r"|\.(test|spec)\.[jt]sx?$"
)
_EXAMPLES = re.compile(r"(^|/)(examples?|samples?|demos?|_examples|tutorial)/")
_DOCS = re.compile(r"(^|/)(docs?|documentation|man)/|\.(md|rst|txt|adoc)$")
_CONFIG = re.compile(r"(^|/)\.|(^|/)(requirements|scripts|tools|ci|benchmarks?|bench)/")


@lru_cache(maxsize=4)
def source_roots(paths: frozenset[str]) -> tuple[str, ...]:
    """The folders holding the repository's own source, from its layout."""
    roots = {"src/", "lib/", "pkg/", "internal/", "cmd/"}
    for path in paths:
        parts = path.split("/")
        if parts[-1] == "__init__.py" and (len(parts) == 2 or (len(parts) == 3 and parts[0] == "src")):
            roots.add("/".join(parts[:-1]) + "/")
    return tuple(sorted(roots))


def weight(path: str, roots: tuple[str, ...], *, go_module: bool = False) -> float:
    """How much a file is the repository's own source (1.0) rather than the rest."""
    if _VENDORED.search(path):
        return VENDORED
    if _TESTS.search(path):
        return TESTS
    if _EXAMPLES.search(path):
        return EXAMPLES
    if _DOCS.search(path):
        return DOCS
    if _CONFIG.search(path):
        return CONFIG
    if grammars.language_of(path) is None:
        return CONFIG  # a build file, a template, data
    if "/" not in path or path.startswith(roots) or (go_module and path.endswith(".go")):
        return SOURCE
    return OTHER_CODE


def weights(paths) -> dict[str, float]:
    """Every path's weight (see ``weight``)."""
    paths = frozenset(paths)
    roots, go_module = source_roots(paths), "go.mod" in paths
    return {path: weight(path, roots, go_module=go_module) for path in paths}

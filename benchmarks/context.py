"""The repository map on Django's source tree: cold and warm builds, and the analysis prompt's size
(a script, not a test).

    python benchmarks/context.py [--source PATH] [--runs 3] [--warm-runs 20]

Copies the source tree (default: the installed ``django`` package, about 3,600 files) into a
temporary git repository (not timed), then measures with the real local-git gateway:

- cold: snapshot + index build (``git ls-tree``, reading every source file, tree-sitter), with an
  empty cache directory and nothing in memory — what the first execution on a new commit pays;
- warm: snapshot + index from the cache file, nothing in memory — what a new worker process pays
  for the next execution on the same commit;
- per task: ranking (BM25), the rendered map and the files read for the analyst;
- the analysis prompt's size against its budget: the map against ``CONTEXT_MAP_TOKENS``, the
  files against ``CONTEXT_FILE_BYTES``, the whole prompt against the sum of its fixed part and both
  caps (targets: cold < 10 s, warm < 0.2 s, prompt within its budget ±10 %).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TASKS = [
    "get_object_or_404 should say which model was not found",
    "Paginator.get_page() must accept a page number given as a float string",
    "CsrfViewMiddleware should log why it rejected a request",
    "Let `escape_leading_slashes` keep a trailing slash",
    "QuerySet.bulk_create() should report how many rows were inserted",
    "The runserver command should print the URL it listens on",
]
TARGET_COLD_S, TARGET_WARM_S = 10.0, 0.2


def setup_django(cache_dir: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestration_site.settings")
    import django

    django.setup()
    from django.conf import settings

    settings.CONTEXT_CACHE_DIR = cache_dir


def make_repository(source: Path, into: Path) -> Path:
    repo = into / "repo"
    shutil.copytree(source, repo / source.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@b"}  # fmt: skip
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "source"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, env=env)
    return repo


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def main() -> int:
    import django as django_package

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=Path(django_package.__file__).parent)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warm-runs", type=int, default=20)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-context-issue-17-") as scratch:
        scratch = Path(scratch)
        setup_django(str(scratch / "cache"))
        from django.conf import settings

        from executions.analysis import analyst
        from executions.context import repoindex, repomap
        from executions.models import Task
        from executions.pipeline import steps
        from executions.repositories.local_git import LocalGitGateway

        repo = make_repository(options.source, scratch)
        gateway = LocalGitGateway(repo)

        def build():
            snapshot = gateway.snapshot()
            return snapshot, repoindex.index_for(snapshot, gateway)

        colds = []
        for _ in range(options.runs):
            shutil.rmtree(settings.CONTEXT_CACHE_DIR, ignore_errors=True)
            repoindex.clear_memory_cache()
            seconds, (snapshot, index) = timed(build)
            colds.append(seconds)
        warms = []
        for _ in range(options.warm_runs):
            repoindex.clear_memory_cache()
            seconds, _ = timed(build)
            warms.append(seconds)
        symbols = sum(len(v) for v in index.symbols.values())
        print(f"source: {options.source} ({len(index.tree):,} files; {len(index.files):,} listed; "
              f"{len(index.symbols):,} parsed, {symbols:,} definitions)")  # fmt: skip
        cold, warm = statistics.median(colds), statistics.median(warms)
        print(f"cold build: median {cold:.2f} s of {options.runs} (target < {TARGET_COLD_S:g} s)")
        print(f"warm build: median {warm * 1000:.1f} ms, max {max(warms) * 1000:.1f} ms of {options.warm_runs} "
              f"(target < {TARGET_WARM_S * 1000:g} ms)")  # fmt: skip

        overview = repomap.overview(snapshot, index)
        map_budget, file_budget = settings.CONTEXT_MAP_TOKENS, settings.CONTEXT_FILE_BYTES
        print(f"\nper task (CONTEXT_MAP_TOKENS={map_budget:,}, CONTEXT_FILE_BYTES={file_budget:,}):")
        ratios = []
        for task in TASKS:
            seconds, context = timed(
                lambda t=task: repomap.task_context(
                    index, gateway, f"Task: {t}", map_tokens=map_budget, file_bytes=file_budget
                )
            )
            fixed = f"{analyst.INSTRUCTIONS}\n{overview}{steps.task_block(Task(title=task))}\n\n"
            prompt = fixed + context.as_prompt()
            wrappers = sum(
                repomap.FILE_BLOCK_OVERHEAD + len(repomap.quoted(p).encode()) for p in context.shown
            ) + len(
                "Repository map (files ranked for this task, with their definitions):\n\nContent of the most relevant files:\n\n"
            )
            budget = len(fixed.encode()) + map_budget * repomap.BYTES_PER_TOKEN + file_budget + wrappers
            ratio = len(prompt.encode()) / budget
            ratios.append(ratio)
            shown = sum(len(t.encode()) for t in context.shown.values())
            print(f"  {seconds * 1000:6.0f} ms  map {repomap.estimate_tokens(context.repo_map):5,} tokens  "
                  f"files {len(context.shown)} / {shown:6,} B  prompt {len(prompt.encode()):7,} B = "
                  f"{ratio:6.1%} of budget  first: {next(iter(context.shown), '-')}  ({task[:40]})")  # fmt: skip
        print(f"analysis prompt vs budget: {min(ratios):.1%} to {max(ratios):.1%} (target 90-110 %)")
        print(f"coder's files cap in the reservation: {steps.codegen_files_bound():,} bytes")
        ok = cold < TARGET_COLD_S and warm < TARGET_WARM_S and all(0.9 <= r <= 1.1 for r in ratios)
        print("targets met" if ok else "targets NOT met")
        return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

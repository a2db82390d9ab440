"""Context mode of ``backtest`` on a repository the size of Django (a script, not a test).

    python benchmarks/backtest.py [--source PATH] [--cases 30]

Copies the source tree (default: the installed ``django`` package, about 3,600 files) into a
temporary git repository and gives it a synthetic history (not timed): ``--cases`` merge commits,
each a branch changing one line inside one function of a different file, its message a task
naming that function's words (as a pull request's title would). Then it times, on a fresh SQLite
database and an empty index cache, what ``manage.py backtest --repository PATH --last N`` does:
the cases read from the history, each base's index, each analysis prompt built and measured.

It prints the total (target: under 3 minutes on two cores), the time per case, and the same run
with the index's memory of parsed files emptied before each case (what every base would cost if
nothing were reused), over the first few cases.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_S = 180.0
ENV = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b",
       "GIT_COMMITTER_EMAIL": "b@b"}  # fmt: skip


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, env=ENV, capture_output=True, text=True
    ).stdout


def setup_django(scratch: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{scratch / 'db.sqlite3'}"
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestration_site.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.CONTEXT_CACHE_DIR = str(scratch / "cache")
    call_command("migrate", verbosity=0)


def make_history(source: Path, into: Path, cases: int) -> Path:
    """The source tree as one commit, then ``cases`` merges each changing one function."""
    from executions.context import repoindex

    repo = into / "repo"
    shutil.copytree(source, repo / source.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "source")
    files = sorted(str(p.relative_to(repo)) for p in repo.rglob("*.py") if "/tests/" not in str(p))
    made, step = 0, max(len(files) // (cases * 2), 1)
    for path in files[::step]:
        if made == cases:
            break
        text = (repo / path).read_text()
        functions = [d for d in repoindex.spans(path, text.encode()) if d.end - d.line >= 3]
        if not functions:
            continue
        target = functions[len(functions) // 2]
        lines = text.split("\n")
        lines[target.end - 1] += f"  # backtest {made}"
        git(repo, "checkout", "-q", "-b", f"case-{made}")
        (repo / path).write_text("\n".join(lines))
        git(repo, "commit", "-q", "-am", "work")
        git(repo, "checkout", "-q", "main")
        words = " ".join(re.findall(r"[A-Za-z][a-z]+", target.qualname.replace("_", " "))).lower()
        title = f"{target.name} should handle an empty {words.split()[-1]}"
        message = f"Merge pull request #{1000 + made} from bench/case-{made}\n\n{title}\n\nSeen in {words}."
        git(repo, "merge", "-q", "--no-ff", "-m", message, f"case-{made}")
        made += 1
    return repo


def main() -> int:
    import django as django_package

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=Path(django_package.__file__).parent)
    parser.add_argument("--cases", type=int, default=30)
    parser.add_argument("--unshared", type=int, default=3, help="cases timed without reuse")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as scratch:
        scratch = Path(scratch)
        setup_django(scratch)
        from django.conf import settings

        from executions.backtest import runs
        from executions.context import repoindex
        from executions.models import Repository

        repo = make_history(options.source, scratch, options.cases)
        repository = Repository.objects.create(kind=Repository.Kind.LOCAL, name=str(repo))
        listed = len(git(repo, "ls-files").splitlines())
        times: list[float] = []

        def progress(done: int, total: int) -> None:
            times.append(time.perf_counter())

        started = time.perf_counter()
        run = runs.run_context(repository, last=options.cases, progress=progress)
        total = time.perf_counter() - started
        per_case = [b - a for a, b in zip(times, times[1:], strict=False)]
        n = run.cases.count()
        print(f"source: {options.source} ({listed:,} files), {n} cases, {os.cpu_count()} cores")
        print(f"context mode, cold cache: {total:.1f} s in all (target < {TARGET_S:g} s); reading the "
              f"history {times[0] - started:.1f} s; first case {per_case[0]:.2f} s, the others median "
              f"{sorted(per_case[1:])[len(per_case[1:]) // 2]:.2f} s, max {max(per_case[1:]):.2f} s")  # fmt: skip
        print(f"figures: files {run.files_shown}/{run.files}, signatures {run.signatures_shown}/{run.definitions}, "
              f"bodies {run.bodies_shown}/{run.definitions}, prompt {run.prompt_bytes // max(n, 1):,} B avg")  # fmt: skip

        # The same cases with nothing reused between bases: every base parsed from scratch.
        shutil.rmtree(settings.CONTEXT_CACHE_DIR, ignore_errors=True)
        repoindex.clear_memory_cache()
        unshared = []
        for _ in range(options.unshared):
            repoindex.clear_memory_cache()
            times.clear()
            runs.run_context(repository, last=1, progress=progress)
            unshared.append(times[-1] - times[0])
            shutil.rmtree(settings.CONTEXT_CACHE_DIR, ignore_errors=True)
        print(f"one case with nothing reused (a new base, nothing parsed before): median "
              f"{sorted(unshared)[len(unshared) // 2]:.2f} s of {options.unshared}")  # fmt: skip
        ok = total < TARGET_S
        print("target met" if ok else "target NOT met")
        return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

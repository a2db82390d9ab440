"""Peak memory while the coder's request is built for a plan naming two 50 MB files (a script, not
a test).

    python benchmarks/large_files.py [--megabytes 50]

Makes a git repository (not measured) holding two files of that size and a small one, then, in a
fresh process each time, indexes it with the real local-git gateway and builds the coder's request
for a plan naming all three, as the pipeline does (``runner.codegen_request_for``). It prints the
process's peak resident memory before and after the request is built, and the request's size.
Target: building the request adds no more than a few MB (a file that cannot be shown is not read).
No database is needed: the steps are built in memory.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SMALL = "def health(request):\n    return {'ok': True}\n"
TARGET_ADDED_MB = 10


def make_repository(into: Path, megabytes: int) -> Path:
    repo = into / "repo"
    (repo / "data").mkdir(parents=True)
    line = b"0123456789abcdef" * 4 + b"\n"  # 65 bytes
    for name in ("big_a.py", "big_b.py"):
        with open(repo / "data" / name, "wb") as handle:
            for _ in range(megabytes * 1024 * 1024 // len(line)):
                handle.write(line)
    (repo / "app").mkdir()
    (repo / "app" / "health.py").write_text(SMALL)
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@b"}  # fmt: skip
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "large files"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, env=env)
    return repo


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(repo: Path, cache_dir: str) -> None:
    """In this (fresh) process: index the repository, then build the coder's request."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestration_site.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    from django.conf import settings

    from budget.catalog import ResolvedModel
    from budget.models import LanguageModel, Price
    from executions.models import Execution, Task
    from executions.pipeline import runner, steps
    from executions.repositories.local_git import LocalGitGateway

    settings.CONTEXT_CACHE_DIR = cache_dir
    gateway = LocalGitGateway(repo)
    base = runner.base_of(gateway)

    def step(name: str, model: str, vendor: str) -> steps.Step:
        language_model = LanguageModel(name=model, provider=vendor)
        price = Price(model=language_model, input_nanos=100, output_nanos=500)
        return steps.Step(name=name, resolved=ResolvedModel(model, language_model, price), max_tokens=4096)

    analysis = step(steps.ANALYSIS, "claude-sonnet-5-5", "anthropic")
    codegen = step(steps.CODEGEN, "gpt-6-luna", "openai")
    execution = Execution(
        task=Task(title="Make the health check say hello", description="app/health.py returns ok."),
        plan="1. Change app/health.py.\n",
        plan_files=["data/big_a.py", "app/health.py", "data/big_b.py"],
        base_sha=base.commit_sha,
    )
    before = peak_mb()
    request = runner.codegen_request_for(execution, analysis, codegen, base, gateway)
    after = peak_mb()
    shown = "app/health.py" in request.user and SMALL in request.user
    print(f"{before:.1f} {after:.1f} {len(request.user.encode()):d} {int(shown)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=int, default=50)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.measure:
        measure(options.measure, options.cache)
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-large-files-") as scratch:
        repo = make_repository(Path(scratch), options.megabytes)
        print(f"repository: two files of {options.megabytes} MB and a small one, all named by the plan")
        runs = []
        for _ in range(3):
            child = subprocess.run(
                [sys.executable, __file__, "--measure", str(repo), "--cache", f"{scratch}/cache"],
                check=True,
                capture_output=True,
                text=True,
            )
            before, after, size, shown = child.stdout.split()[-4:]
            runs.append((float(before), float(after), int(size), shown == "1"))
        for before, after, size, shown in runs:
            print(
                f"peak RSS {before:6.1f} MB after indexing, {after:6.1f} MB after the coder's request "
                f"(+{after - before:.1f} MB); request {size:,} bytes; small file shown: {shown}"
            )
        added = max(after - before for before, after, _, _ in runs)
        ok = added <= TARGET_ADDED_MB and all(shown for *_, shown in runs)
        print(f"the request adds at most {added:.1f} MB (target <= {TARGET_ADDED_MB} MB): "
              f"{'target met' if ok else 'target NOT met'}")  # fmt: skip
        return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

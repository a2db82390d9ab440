"""Retrieval on real history (a script, not a test): did the analyst's prompt hold the code each
merged pull request changed?

    python benchmarks/history.py REPO_GIT_DIR [REPO_GIT_DIR ...] [--fixes 30] [--json OUT]

For each repository (a git directory with its history, bare or not), the last ``--fixes`` pull
requests merged into its first-parent history that changed an existing source file (squash merges
"... (#123)" and "Merge pull request #123" merges; dependency bumps left out) become tasks: the PR's
title and the first paragraph of its description. At each one's base (the first parent) the
analysis context is built as an execution builds it (``repoindex.index_for`` with the local-git
gateway, ``repomap.task_context``, ``repomap.overview``), then compared with what the PR changed:

- file: a changed source file (not a test) is in the ranked map or shown;
- body: a definition whose lines the PR changed is shown whole (its file whole, or its lines in an
  excerpt);
- prompt: the analysis prompt's bytes (instructions, overview, task, map and files).

Until ``manage.py backtest`` (issue 35) runs in context mode, this is the development benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_PR = re.compile(r"\(#\d+\)\s*$")
_MERGE = re.compile(r"^Merge pull request #\d+")
_SKIP = re.compile(r"\b(bump|release|version|changelog|pre-commit|deps|dependabot)\b", re.I)
_TESTISH = re.compile(
    r"(^|/)(tests?|testing|docs?|examples?|benchmarks?)/|(^|/)test_[^/]*$|_test\.go$|\.test\.js$"
)


def git(repo: str, *args: str) -> str:
    return subprocess.run(["git", "-C", repo, *args], capture_output=True, check=True).stdout.decode(
        "utf-8", "replace"
    )


def merged_prs(repo: str, limit: int, language_of) -> list[dict]:
    """The last ``limit`` merged pull requests that changed an existing source file."""
    log = git(repo, "log", "--first-parent", "-n", "1500", "--format=%H%x00%P%x00%s%x00%b%x01", "HEAD")
    found = []
    for entry in filter(str.strip, log.split("\x01")):
        sha, parents, subject, body = (entry.strip("\n").split("\x00") + [""])[:4]
        parents = parents.split()
        if _MERGE.match(subject) and len(parents) == 2:
            lines = [line for line in body.strip().splitlines()]
            title, rest = (lines[0], "\n".join(lines[1:])) if lines else (subject, "")
        elif _PR.search(subject) and len(parents) == 1:
            title, rest = _PR.sub("", subject).strip(), body
        else:
            continue
        if _SKIP.search(title):
            continue
        base = parents[0]
        present = subprocess.run(
            ["git", "-C", repo, "cat-file", "-e", f"{base}^{{commit}}"], capture_output=True
        )
        if present.returncode != 0:
            continue  # a snapshot without that commit (a partial mirror)
        changed = changed_lines(repo, base, sha)
        sources = {p: ls for p, ls in changed.items() if language_of(p) and not _TESTISH.search(p)}
        if not sources:
            continue
        paragraph = rest.strip().split("\n\n")[0].strip()
        found.append({"sha": sha, "base": base, "title": title, "body": paragraph, "changed": sources})
        if len(found) >= limit:
            break
    return found


def changed_lines(repo: str, base: str, head: str) -> dict[str, set[int]]:
    """Existing files the change touched -> the base's lines it changed (an insertion: the line
    before it)."""
    diff = git(repo, "diff", "-U0", "--no-renames", "--diff-filter=MD", base, head)
    out: dict[str, set[int]] = {}
    path = None
    for line in diff.splitlines():
        if line.startswith("--- "):
            path = line[6:] if line.startswith("--- a/") else None
        elif line.startswith("@@") and path:
            start, _, count = re.match(r"@@ -(\d+)(,(\d+))?", line).groups()
            start, count = int(start), int(count) if count is not None else 1
            out.setdefault(path, set()).update(range(start, start + count) if count else {max(start, 1)})
    return out


def shown_lines(text: str, whole: bool, total: int) -> set[int]:
    from executions.context.excerpts import LINE_NUMBER, is_excerpt

    if whole and not is_excerpt(text):
        return set(range(1, total + 1))
    return {int(m.group(1)) for line in text.split("\n") if (m := LINE_NUMBER.match(line))}


def measure(repo: str, fixes: int, name: str) -> dict:
    from django.conf import settings

    from executions import analyst, steps
    from executions.context import repoindex, repomap
    from executions.gateways.base import Snapshot
    from executions.gateways.local_git import LocalGitGateway
    from executions.models import Task

    gateway = LocalGitGateway(repo)
    prs = merged_prs(repo, fixes, repoindex._language_of)
    rows = []
    for pr in prs:
        snapshot = Snapshot(name=name, default_branch="main", commit_sha=pr["base"])
        started = time.perf_counter()
        index = repoindex.index_for(snapshot, gateway)
        built = time.perf_counter() - started
        task = Task(title=pr["title"], description=pr["body"])
        context = repomap.task_context(
            index, gateway, steps.task_text(task),
            map_tokens=settings.CONTEXT_MAP_TOKENS, file_bytes=settings.CONTEXT_FILE_BYTES,
        )  # fmt: skip
        overview = repomap.overview(snapshot, index)
        prompt = f"{analyst.INSTRUCTIONS}\n{overview}{steps.task_block(task)}\n\n{context.as_prompt()}"
        in_map = {line for line in context.repo_map.split("\n") if line.startswith('"')}
        file_hit = any(json.dumps(p) in in_map or p in context.shown for p in pr["changed"])
        body_hit, definitions_changed = False, 0
        contents = gateway.read_files(pr["base"], list(pr["changed"]))
        for path, lines in pr["changed"].items():
            raw = contents.get(path)
            if raw is None:
                continue
            touched = [d for d in repoindex.spans(path, raw) if lines & set(range(d.start, d.end + 1))]
            inner = [
                d
                for d in touched
                if not any(o is not d and d.start <= o.start and o.end <= d.end for o in touched)
            ]
            definitions_changed += len(inner)
            if path in context.shown:
                seen = shown_lines(context.shown[path], True, raw.count(b"\n") + 1)
                if any(set(range(d.start, d.end + 1)) <= seen for d in inner):
                    body_hit = True
        rows.append({
            "title": pr["title"][:70], "file": file_hit, "body": body_hit, "has_definition": definitions_changed > 0,
            "prompt": len(prompt.encode()), "index_s": round(built, 3), "changed": sorted(pr["changed"]),
            "shown": list(context.shown),
        })  # fmt: skip
    with_def = [r for r in rows if r["has_definition"]]
    return {
        "repository": name,
        "fixes": len(rows),
        "file": sum(r["file"] for r in rows),
        "body": sum(r["body"] for r in with_def),
        "with_definition": len(with_def),
        "median_prompt": int(statistics.median(r["prompt"] for r in rows)) if rows else 0,
        "rows": rows,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repos", nargs="+")
    parser.add_argument("--fixes", type=int, default=30)
    parser.add_argument("--json")
    options = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestration_site.settings")
    import django

    django.setup()
    from django.conf import settings

    results = []
    with tempfile.TemporaryDirectory(prefix="bench-history-") as cache:
        settings.CONTEXT_CACHE_DIR = cache
        for repo in options.repos:
            name = Path(repo).resolve().parent.name if Path(repo).name == "repo" else Path(repo).name
            result = measure(repo, options.fixes, name)
            results.append(result)
            n, d = result["fixes"], result["with_definition"] or 1
            print(f"{name:28} fixes {n:3}  file {result['file']:3} ({result['file'] / max(n, 1):4.0%})  "
                  f"body {result['body']:3}/{result['with_definition']:3} ({result['body'] / d:4.0%})  "
                  f"median prompt {result['median_prompt']:7,} B", flush=True)  # fmt: skip
    if options.json:
        Path(options.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

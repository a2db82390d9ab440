"""A local git repository with a known history of merges, built for the backtest tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

CORE = '''\
"""Core helpers."""


def add(a, b):
    total = a + b
    return total


def greet(name):
    message = "Hello, " + name
    return message


class Store:
    def __init__(self):
        self.items = {}

    def get(self, key):
        found = self.items.get(key)
        return found
'''

# Over CONTEXT_FILE_BYTES (40,000): the analyst sees it as an excerpt.
BIG = "".join(
    f"def filler_{n:03d}(value):\n    return value * {n} + {n}  # {'x' * 120}\n\n\n" for n in range(300)
)
BIG += "def parse_header(line):\n    key, _, value = line.partition(':')\n    return key.strip(), value.strip()\n"

ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Dev",
    "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "Dev",
    "GIT_COMMITTER_EMAIL": "dev@example.com",
}


class History:
    def __init__(self, path: Path):
        self.path = path
        path.mkdir(parents=True)
        self.git("init", "--quiet", "--initial-branch", "main")

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(self.path), "-c", "commit.gpgsign=false", *args],
            capture_output=True,
            text=True,
            check=True,
            env=ENV,
        ).stdout.strip()

    def write(self, files: dict[str, str]) -> None:
        for name, text in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        self.git("add", "-A")

    def commit(self, message: str, files: dict[str, str], *, author: str = "") -> str:
        self.write(files)
        extra = ["--author", author] if author else []
        self.git("commit", "--quiet", "-m", message, *extra)
        return self.git("rev-parse", "HEAD")

    def merge(self, branch: str, message: str, files: dict[str, str], *, author: str = "") -> str:
        """A branch with one commit, merged with a merge commit (as GitHub's merge button does)."""
        self.git("checkout", "--quiet", "-b", branch)
        self.commit(f"work on {branch}", files, author=author)
        self.git("checkout", "--quiet", "main")
        self.git("merge", "--quiet", "--no-ff", "-m", message, branch)
        return self.git("rev-parse", "HEAD")

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")


def known_history(path: Path) -> dict[str, str]:
    """The history the tests read; returns each step's commit by name."""
    repo = History(path)
    shas = {}
    shas["initial"] = repo.commit(
        "Initial commit",
        {
            "README.md": "# Demo\n",
            "app/core.py": CORE,
            "app/big.py": BIG,
            "docs/guide.md": "# Guide\n",
            "tests/test_core.py": "from app.core import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n",
        },
    )
    shas["fix_add"] = repo.merge(
        "fix-add",
        "Merge pull request #11 from dev/fix-add\n\nLet add() accept None\n\nCloses #5. add(None, 1) crashed.",
        {
            "app/core.py": CORE.replace("    total = a + b\n", "    total = (a or 0) + (b or 0)\n"),
            "tests/test_core.py": "from app.core import add\n\n\ndef test_add():\n    assert add(None, 2) == 2\n",
        },
    )
    shas["docs"] = repo.merge(
        "docs",
        "Merge pull request #12 from dev/docs\n\nDocument the store",
        {"docs/guide.md": "# Guide\n\nStore.\n"},
    )
    current = (path / "app/core.py").read_text()
    shas["store"] = repo.merge(
        "store-default",
        "Merge pull request #13 from dev/store-default\n\nStore.get takes a default\n\n"
        "`Store.get` should return a default for missing keys; greet too.",
        {
            "app/core.py": current.replace(
                "    def get(self, key):\n", "    def get(self, key, default=None):\n"
            )
            .replace("found = self.items.get(key)", "found = self.items.get(key, default)")
            .replace('message = "Hello, " + name', 'message = f"Hello, {name}"'),
        },
    )
    repo.git("revert", "--no-edit", "-m", "1", shas["fix_add"])
    shas["revert"] = repo.head()
    shas["bot"] = repo.merge(
        "bump",
        "Merge pull request #14 from dev/bump\n\nBump the parser",
        {"app/big.py": BIG.replace("value.strip()\n", "value.strip() \n")},
        author="dependabot[bot] <bot@example.com>",
    )
    shas["big"] = repo.merge(
        "header",
        "Merge pull request #15 from dev/header\n\nparse_header keeps colons in values\n\n"
        "`parse_header('a: b:c')` loses nothing after the first colon; lowercase the key.",
        {
            "app/big.py": BIG.replace(
                "return key.strip(), value.strip()", "return key.strip().lower(), value.strip()"
            )
        },
    )
    # A task whose words name nothing in the code: the large file's excerpt misses the definition.
    shas["vague"] = repo.merge(
        "warmup",
        "Merge pull request #16 from dev/warmup\n\nTune the warmup\n\nIt is slow on cold starts.",
        {"app/big.py": (path / "app/big.py").read_text().replace("value * 150 + 150", "value * 150 + 151")},
    )
    # A maintenance branch merged back: no pull request, no task text.
    shas["stable"] = repo.merge(
        "stable",
        "Merge branch 'stable'",
        {"app/core.py": (path / "app/core.py").read_text() + "\n# stable\n"},
    )
    return shas

"""Random edits with the slips code models make, on Django's own source: how many land exactly,
how many are refused, how many land wrongly (a script, not a test).

    python benchmarks/edit_slips.py [--edits 1500] [--seed 1] [--tabs] [--miscount] [--edits-from REV]

Each edit takes a random run of 1-8 lines of a random Django module (jQuery, tab-indented, with
``--tabs``), changes one of its lines (a quarter also add a line one level deeper after the
run), and writes search and replace as a model might: shifted
(shallower or deeper), with blank lines dropped, trailing spaces, copied line numbers, ``\\r\\n``
line endings, trailing blank lines, the middle elided with a marker line (``...``, ``# ...``),
spaces for tabs. With ``--miscount``, a fifth of the searches of three lines or more also have one
line indented one or two columns off, in search and replace alike (a model that miscounted that
line's spaces; drawn apart from the rest, so every other slip stays the edit it was). The expected
file is the module with that one line changed (and the new line in the file's own indentation).

- ``landed``: the result is exactly the expected file;
- ``refused, ambiguous``: refused, and the run's lines (stripped) occur more than once;
- ``refused, one place``: refused though the run occurs once (a slip not recovered);
- ``wrong``: a result other than the expected file (the target: 0).

``--edits-from REV`` runs the same edits through ``apply_edit`` as the code was at a git
revision (``executions/changes/``, or ``executions/edits.py`` before it), to compare with an
earlier matching.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import random
import subprocess
import sys
import tempfile
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def slipped_edits(count: int, seed: int, tabs: bool, miscount: bool = False):
    """``(path, text, search, replace, expected, unique)`` for ``count`` random edits."""
    import django

    from executions.context.excerpts import numbered

    root = Path(django.__file__).parent
    if tabs:
        files = [root / "contrib/admin/static/admin/js/vendor/jquery/jquery.js"]
    else:
        files = sorted(p for p in root.rglob("*.py") if "locale" not in p.parts and p.stat().st_size > 2000)
    rng = random.Random(seed)
    read = functools.cache(lambda path: path.read_text(encoding="utf-8"))
    made = 0
    while made < count:
        path = rng.choice(files)
        text = read(path)
        lines = text.split("\n")[:-1]
        i = rng.randrange(0, max(1, len(lines) - 8))
        window = lines[i : i + rng.randint(1, 8)]
        while window and not window[0].strip():
            i, window = i + 1, window[1:]
        while window and not window[-1].strip():
            window = window[:-1]
        if not window:
            continue
        k = rng.choice([n for n, line in enumerate(window) if line.strip()])
        note = "  // changed" if tabs else "  # changed"
        new_window = [line + note if n == k else line for n, line in enumerate(window)]
        # A quarter also add a line one level deeper than the last (a statement put inside a
        # block): drawn apart from the rest, so every other slip stays the edit it was.
        level = "\t" if tabs else "    "
        indent = window[-1][: len(window[-1]) - len(window[-1].lstrip())]
        if random.Random(f"{seed}:{made}").random() < 0.25 and not indent.strip(
            level[0]
        ):  # not " * " in a tab file
            new_window.append(indent + level + "added()")
        expected = "\n".join(lines[:i] + new_window + lines[i + len(window) :]) + "\n"
        search, replace = list(window), new_window
        if tabs:
            unit = rng.choice([2, 4, 8])
            search, replace = ([" " * unit * (len(s) - len(s.lstrip("\t"))) + s.lstrip("\t") for s in side]
                               for side in (search, replace))  # fmt: skip
        lead = min(len(s) - len(s.lstrip()) for s in search if s.strip())
        if rng.random() < 0.5:
            shift = rng.choice([-lead, -min(4, lead), 4, 8] if not tabs else [-lead, 0])
            search, replace = ([(" " * shift + s if shift >= 0 else s[-shift:]) if s.strip() else s for s in side]
                               for side in (search, replace))  # fmt: skip
        odd = random.Random(f"{seed}:{made}:miscount")
        if miscount and sum(1 for s in search if s.strip()) >= 3 and odd.random() < 0.2:
            n = odd.choice([n for n, s in enumerate(search) if s.strip()])
            delta = odd.choice([-2, -1, 1, 2])
            if delta > 0 or search[n][:-delta].strip() == "" and search[n].startswith(" " * -delta):
                search, replace = ([(" " * delta + s if delta > 0 else s[-delta:]) if m == n else s
                                    for m, s in enumerate(side)] for side in (search, replace))  # fmt: skip
        numbers = blanks_dropped = False
        if rng.random() < 0.3:
            blanks_dropped = True
            kept = [n for n, s in enumerate(search) if s.strip()]
            search, replace = [search[n] for n in kept], [replace[n] for n in kept] + replace[len(search) :]
        if rng.random() < 0.2:
            search = [s + "  " if s.strip() else s for s in search]
        if rng.random() < 0.2 and not blanks_dropped:
            numbers = True
            search = numbered(search, i + 1).split("\n")
        unique = _once(window, lines)
        if len(search) >= 5 and len(search) == len(replace) and not numbers and rng.random() < 0.4:
            same = [n for n in range(1, len(search) - 1) if search[n].strip() == replace[n].strip()]
            if same:
                lo = hi = same[0]
                while hi < len(search) - 1 and search[hi].strip() == replace[hi].strip():
                    hi += 1
                if hi - lo >= 2:
                    marker = rng.choice(["...", "    # ...", "# ... existing code ..."])
                    search = search[:lo] + [marker] + search[hi:]
                    replace = replace[:lo] + [marker] + replace[hi:]
                    unique = _once(search[:lo], lines) and _once(search[lo + 1 :], lines)
        eol = "\r\n" if rng.random() < 0.2 else "\n"
        tail = "\n\n" if rng.random() < 0.3 else ""
        made += 1
        yield path, text, eol.join(search) + tail, eol.join(replace) + tail, expected, unique


def _once(run: list[str], lines: list[str]) -> bool:
    """Whether ``run`` (stripped, blank lines aside) occurs once in ``lines``."""
    wanted = [s.strip() for s in run if s.strip()]
    stripped = [s.strip() for s in lines if s.strip()]
    return sum(stripped[n : n + len(wanted)] == wanted for n in range(len(stripped))) == 1


def edits_module(rev: str | None):
    """``executions/changes/edits.py`` as it is, or as it was at git revision ``rev`` (with the
    code it imports, ``matching.py`` among it, as it was then)."""
    if rev is not None:
        tree = tempfile.mkdtemp(prefix="edits-at-")
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", rev, "executions"], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", tree], input=archive.stdout, check=True)
        warnings.filterwarnings(
            "ignore", "Model .* was already registered", RuntimeWarning
        )  # that tree's models
        for name in [m for m in sys.modules if m.split(".")[0] == "executions"]:
            del sys.modules[name]  # imported again from that revision's tree
        sys.path.insert(0, tree)
    try:
        return importlib.import_module("executions.changes.edits")
    except ModuleNotFoundError:
        return importlib.import_module("executions.edits")  # before executions/ had packages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tabs", action="store_true", help="jQuery (tab-indented) instead of Python modules")
    parser.add_argument("--miscount", action="store_true", help="one line of some searches 1-2 columns off")
    parser.add_argument("--edits-from", metavar="REV", help="the edits code at a git revision")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestration_site.settings")
    os.environ.setdefault("SECRET_KEY", "benchmark-only-key")  # nothing here is secret
    import django

    django.setup()
    made = list(
        slipped_edits(args.edits, args.seed, args.tabs, args.miscount)
    )  # with this tree's code, whatever is measured
    edits = edits_module(args.edits_from)
    from executions.errors import ChangeRejected  # the measured code's own

    outcomes: Counter = Counter()
    for _path, text, search, replace, expected, unique in made:
        try:
            result = edits.apply_edit(text, search, replace)
        except ChangeRejected:
            outcomes["refused, one place" if unique else "refused, ambiguous"] += 1
            continue
        outcomes["landed" if result == expected else "wrong"] += 1
    for outcome in ("landed", "refused, ambiguous", "refused, one place", "wrong"):
        print(f"{outcome:<20} {outcomes[outcome]:>6} ({outcomes[outcome] / args.edits:.1%})")
    return 1 if outcomes["wrong"] else 0


if __name__ == "__main__":
    sys.exit(main())

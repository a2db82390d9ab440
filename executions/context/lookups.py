"""The analyst's one more look: what its ``show`` call asked for, answered from the base commit.

``answer(index, gateway, items, cap=...)`` takes up to ``MAX_ITEMS`` names — a path
(``src/flask/cli.py``), a definition in a file (``cli.py::FlaskGroup.get_command``) or a
definition alone (``FlaskGroup.get_command``, looked up in the index) — and returns what the
analyst is shown: each file whole when it fits, else its excerpt (outline and the named
definitions), all within ``cap`` UTF-8 bytes; a name the commit does not hold is said so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from executions.context import excerpts
from executions.context.quoting import quoted
from executions.context.repomap import decoded, file_block, qualnames

if TYPE_CHECKING:
    from executions.context.repoindex import RepoIndex
    from executions.repositories.base import RepositoryGateway

MAX_ITEMS = 4  # names one look-up may ask for
MAX_ITEM_CHARS = 300  # "file::Qualified.name"
MAX_ANSWER_BYTES = 16_000  # what one look-up shows, at most
MIN_PART_BYTES = 600  # room left below which a further file is not shown
NONE_LEFT = "No further look-up is allowed: call submit_plan now."
ANOTHER = "You may look up once more before you call submit_plan."


@dataclass(frozen=True)
class Answer:
    text: str  # what the analyst is sent
    shown: list[str]  # "path" (whole), "path (excerpt)", or the name not found, as shown


def answer(
    index: RepoIndex, gateway: RepositoryGateway, items: list[str], *, cap: int = MAX_ANSWER_BYTES, last: bool
) -> Answer:
    """What the analyst is shown for ``items`` (at most ``cap`` bytes, the closing line included)."""
    closing = NONE_LEFT if last else ANOTHER
    room = cap - len(closing.encode("utf-8")) - 2
    wanted: dict[str, list[str]] = {}  # path -> definitions named in it
    notes: list[str] = []
    missing: list[str] = []
    for item in items[:MAX_ITEMS]:
        item = item.strip()[:MAX_ITEM_CHARS]
        path, name = _resolve(index, item)
        if path is None:
            missing.append(f"{item} (not found)")
            notes.append(f"{quoted(item)}: not in the base commit (no such file or definition).")
        else:
            wanted.setdefault(path, [])
            if name:
                wanted[path].append(name)
    if len(items) > MAX_ITEMS:
        notes.append(f"Only the first {MAX_ITEMS} names were looked up.")
    parts, shown = [], []
    text_notes = "".join(f"{n}\n" for n in notes)
    room -= len(text_notes.encode("utf-8"))
    contents = gateway.read_files(index.commit_sha, list(wanted)) if wanted else {}
    for n, (path, names) in enumerate(wanted.items()):
        text = decoded(contents[path]) if path in contents else None
        share = room // (len(wanted) - n)  # what is left, shared with the files still to come
        part, label = _shown(path, text, names, share)
        parts.append(part)
        room -= len(part.encode("utf-8"))
        if label:
            shown.append(label)
    return Answer(text=text_notes + "".join(parts) + closing, shown=shown + missing)


def _shown(path: str, text: str | None, names: list[str], share: int) -> tuple[str, str]:
    """One file's part of the answer, at most ``share`` bytes, and how it is recorded."""
    if text is None:
        return f"{quoted(path)}: not a text file.\n", ""
    whole = file_block(path, text)
    if not names and len(whole.encode("utf-8")) <= share:
        return whole, path
    wrapper = len(file_block(path, "").encode("utf-8"))
    part = (
        excerpts.excerpt(path, text, budget=share - wrapper, names=names)
        if share - wrapper >= MIN_PART_BYTES
        else ""
    )
    if not part:
        note = f"{quoted(path)}: no room left in this look-up.\n"
        return (note if len(note.encode("utf-8")) <= share else ""), ""
    return file_block(path, part), f"{path} (excerpt{': ' + ', '.join(names) if names else ''})"


def _resolve(index: RepoIndex, item: str) -> tuple[str | None, str]:
    """The file ``item`` names and the definition in it ("" for the whole file)."""
    file, sep, name = item.partition("::")
    file = file.strip().removeprefix("./")
    if sep:
        path = next((p for p in index.files if excerpts.is_named(p, file)), None) if file else None
        return path, name.strip()
    if item in index.files:
        return item, ""
    if (
        "/" in item
        or "." in item.rsplit("/", 1)[-1]
        and item.rsplit(".", 1)[-1] in {"py", "js", "go", "ts", "md"}
    ):
        path = next((p for p in index.files if excerpts.is_named(p, item)), None)
        return path, ""
    for path, symbols in index.symbols.items():  # a definition alone: the first file defining it
        for qualname in qualnames(symbols):
            if qualname == item or qualname.endswith("." + item):
                return path, qualname
    return None, ""

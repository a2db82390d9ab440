"""The migration chains the squashes replaced, for tests that go back in an install's history.

A database made from a squash cannot be migrated back to a migration inside it while a later
migration depends on it: Django unapplies the squash whole and leaves the later ones recorded as
applied over a schema that no longer has their columns. An install that ran the replaced
migrations one by one goes back and forth cleanly, so a test that starts from an old state loads
that chain (``without_squashes``). The test database records the replaced migrations' names (a
squash applied from nothing records them), so both loaders read the same history.
"""

import shutil
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SQUASHED_APPS = ("budget", "executions")


def copy_without_squashes(destination: Path) -> Path:
    """``destination`` made a package holding each squashed app's migrations but its squash."""
    for app in SQUASHED_APPS:
        shutil.copytree(
            ROOT / app / "migrations",
            destination / app,
            ignore=shutil.ignore_patterns("*squashed*", "__pycache__"),
        )
    (destination / "__init__.py").write_text("")
    return destination


def without_squashes(tmp_path: Path, settings, monkeypatch) -> None:
    """Load the replaced chains in this process (``MIGRATION_MODULES``) for the rest of the test.
    The package's name is new each time: Django reloads a migration module it has seen, and the
    copy a previous test imported may be gone."""
    package = f"replaced_chain_{uuid.uuid4().hex[:8]}"
    copy_without_squashes(tmp_path / package)
    monkeypatch.syspath_prepend(str(tmp_path))
    settings.MIGRATION_MODULES = {app: f"{package}.{app}" for app in SQUASHED_APPS}

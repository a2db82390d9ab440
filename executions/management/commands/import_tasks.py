"""``import_tasks FILE`` or ``import_tasks --from-repo PATH``: a markdown checklist becomes tasks.

``- [ ] Title`` lines, with the indented lines below as the description; checked items are
skipped; importing again creates nothing new. At most IMPORT_MAX_BYTES (1 MB) and IMPORT_MAX_ITEMS
(1,000 items) per import, or nothing is imported. ``--from-repo`` reads the checklist from the target
repository (GitHub or the local git repository). Exit codes: 0 done, 2 bad usage or input.
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from executions.backlog.checklist import read_checklist
from executions.backlog.services import import_checklist
from executions.errors import InvalidTask
from executions.models import Task
from executions.repositories.base import PublishError
from executions.repositories.gateways import get_gateway


class Command(BaseCommand):
    help = "Import a markdown checklist (- [ ] Title, indented description) as pending tasks."

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", help="A markdown file on this machine.")
        parser.add_argument(
            "--from-repo", metavar="PATH", help="Read the checklist from the target repository."
        )

    def handle(self, *args, file, from_repo, **options):
        if bool(file) == bool(from_repo):
            raise CommandError("Give a FILE or --from-repo PATH (one of them).", returncode=2)
        try:
            if file:
                text, source, prefix = self.read_local(file), Task.Source.FILE, f"file:{Path(file).name}"
            else:
                text, source, prefix = (
                    self.read_remote(from_repo),
                    Task.Source.REPOSITORY,
                    f"repository:{from_repo}",
                )
            result = import_checklist(text, source=source, source_prefix=prefix)
        except (InvalidTask, PublishError) as exc:
            raise CommandError(f"{file or from_repo}: {exc}", returncode=2) from None
        self.stdout.write(
            f"Imported {result.created} task{'s' if result.created != 1 else ''} from {file or from_repo}"
            f" ({result.skipped} skipped: checked, or imported before)."
        )

    def read_local(self, file: str) -> str:
        try:
            with open(file, "rb") as stream:  # streamed, up to IMPORT_MAX_BYTES: /dev/zero ends
                return read_checklist(stream, max_bytes=settings.IMPORT_MAX_BYTES)
        except FileNotFoundError:
            raise CommandError(f"{file}: no such file.", returncode=2) from None
        except IsADirectoryError:
            raise CommandError(f"{file}: is a directory; give the checklist file.", returncode=2) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(
                f"{file}: cannot be read as UTF-8 text ({type(exc).__name__}).", returncode=2
            ) from None

    def read_remote(self, path: str) -> str:
        text = get_gateway().read_file(path)
        if text is None:
            raise CommandError(f"{path}: not found in the target repository's default branch.", returncode=2)
        return text

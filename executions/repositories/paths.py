"""Which repository paths a change may write: relative, normalised, inside the repository, not
``.git`` or ``.gitmodules`` in any spelling, and not (unless allowed) what runs in CI (GitHub's
workflows, actions and Dependabot file, and the other CI systems' files).

Paths are compared after NFKC normalisation and case folding (``．git`` and ``.GIT`` are ``.git``),
and a path holding an invisible format or control character (U+200B, U+202E) or a segment ending
in a space or a dot (which Windows and some file systems drop) is refused outright: each of these
can make a path that looks harmless name something that is not.

The coder's answer is checked with these rules (``executions.changes.validation``) and every
gateway checks them again before it writes, so they live with the gateways.
"""

from __future__ import annotations

import re
import unicodedata

MAX_PATH_BYTES = 1024
# A segment git itself guards against (core.protectNTFS): the 8.3 short name of ".git".
_GIT_SHORT_NAME = re.compile(r"git~\d+")
# Under .github/, what CI runs: workflows, and actions (composite actions run from workflows).
_CI_FOLDERS = ("workflows", "actions")
_ACTION_FILES = ("action.yml", "action.yaml")
# Other CI systems' configuration: folders at the root, and files wherever they are (each system
# can be pointed at one in a subfolder). Dependabot's file makes GitHub open pull requests.
_OTHER_CI_FOLDERS = (".circleci", ".buildkite")
_OTHER_CI_FILES = frozenset(
    name + ext
    for name in (".gitlab-ci", ".travis", "azure-pipelines", "bitbucket-pipelines")
    for ext in (".yml", ".yaml")
) | {"jenkinsfile"}
_GITHUB_CI_FILES = ("dependabot.yml", "dependabot.yaml")
_DRIVE = re.compile(r"^[A-Za-z]:")


def unsafe_path_reason(path: str, *, allow_workflows: bool = False) -> str:
    """Why ``path`` may not be written, or "" when it is a safe repository path."""
    if not path:
        return "it is empty"
    for char in path:
        if unicodedata.category(char) in ("Cc", "Cf"):
            return f"it holds a control character or an invisible format character (U+{ord(char):04X})"
    try:
        encoded = path.encode("utf-8")
    except UnicodeEncodeError:
        return "it is not valid Unicode text"
    if len(encoded) > MAX_PATH_BYTES:
        return f"it is longer than {MAX_PATH_BYTES} bytes"
    if "\\" in path:
        return "it holds a backslash (use forward slashes)"
    if path.startswith("/") or _DRIVE.match(path):
        return "it is absolute (paths are relative to the repository root)"
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "it is not normalised or leaves the repository (no empty, '.' or '..' parts)"
    # Compared as a file system or a reviewer may read them: compatibility forms folded, any case.
    folded = unicodedata.normalize("NFKC", path).casefold().split("/")
    if any(part != part.rstrip(" .") for part in parts + folded):
        return "a path segment has a trailing space or dot"
    if any(part == ".git" or _GIT_SHORT_NAME.fullmatch(part) for part in folded):
        return "it is inside .git/"
    if ".gitmodules" in folded:
        return "it is .gitmodules (submodules may not be changed)"
    if _runs_in_ci(folded) and not allow_workflows:
        return "CI workflows, actions and pipeline files may not be changed (ALLOW_WORKFLOW_CHANGES is off)"
    return ""


def _runs_in_ci(folded: list[str]) -> bool:
    """What a CI system runs or reads: GitHub's workflows, actions and Dependabot's file, and the
    other CI systems' files (CircleCI, Buildkite, GitLab, Travis, Azure, Bitbucket, Jenkins)."""
    if folded[0] == ".github" and (
        (len(folded) > 1 and folded[1] in _CI_FOLDERS)
        or folded[-1] in _ACTION_FILES
        or (len(folded) == 2 and folded[1] in _GITHUB_CI_FILES)
    ):
        return True
    return (len(folded) > 1 and folded[0] in _OTHER_CI_FOLDERS) or folded[-1] in _OTHER_CI_FILES

"""Type-check every package under the names it is imported by.

The folders (kdaug_core/, pipelines/, trainers/, schemas/) are installed as kdaug.core, kdaug.pipelines,
kdaug.trainers and kdaug.schemas through package-dir mapping, which an editable install serves with an
import hook that mypy cannot follow. So this builds the installed layout as a tree of symlinks under
build/typecheck/ (rebuilt each run, so new files are seen), runs mypy over it, and prints each error at
the file's real path in the repository. Every package is checked and kdaug's own imports are followed,
so a wrong call from one package into another is an error, not Any.

    python scripts/typecheck.py [extra mypy arguments]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TREE = REPO / "build" / "typecheck"

# Import name -> folder, as in pyproject's [tool.setuptools.package-dir].
SUBPACKAGES = {"core": "kdaug_core", "pipelines": "pipelines", "trainers": "trainers", "schemas": "schemas"}


def build_tree() -> Path:
    """build/typecheck/kdaug: the app layer's files, with each subpackage linked in under its import name."""
    if TREE.exists():
        shutil.rmtree(TREE)
    package = TREE / "kdaug"
    package.mkdir(parents=True)
    for source in sorted((REPO / "kdaug").iterdir()):
        if source.suffix == ".py":
            (package / source.name).symlink_to(source)
    for name, folder in SUBPACKAGES.items():
        (package / name).symlink_to(REPO / folder, target_is_directory=True)
    return package


def real_path(line: str) -> str:
    """Map an error's path in the tree back to the file in the repository."""
    prefix = "build/typecheck/kdaug/"
    if not line.startswith(prefix):
        return line
    rest = line[len(prefix) :]
    head, _, tail = rest.partition("/")
    if head in SUBPACKAGES and tail:
        return f"{SUBPACKAGES[head]}/{tail}"
    return f"kdaug/{rest}"


def main(argv: list[str]) -> int:
    build_tree()
    command = [sys.executable, "-m", "mypy", "build/typecheck/kdaug", *argv]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env={**os.environ})
    for line in (result.stdout + result.stderr).splitlines():
        print(real_path(line))
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

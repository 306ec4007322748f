"""What `pip install .` puts on a machine: one import name, kdaug, with every module and data file of the
repository's folders under it, and nothing else at the top of site-packages."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {
    "kdaug": "kdaug",
    "kdaug_core": "kdaug/core",
    "pipelines": "kdaug/pipelines",
    "trainers": "kdaug/trainers",
    "schemas": "kdaug/schemas",
}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    source = out / "source"  # a copy: building writes build/ and *.egg-info beside the sources
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            "build",
            "*.egg-info",
            "demo_output",
            "__pycache__",
            ".pytest_cache",
            ".ruff_cache",
            ".mypy_cache",
        ),
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
        text=True,
    )
    (built,) = out.glob("kdaug-*.whl")
    return built


def test_the_wheel_holds_one_top_level_package_with_every_file(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/", 1)[0] for n in names} == {"kdaug", wheel.name.split("-py")[0] + ".dist-info"}
    for folder, installed in FOLDERS.items():
        files = [
            p
            for p in (ROOT / folder).rglob("*")
            if p.is_file() and p.suffix in (".py", ".json", ".txt", ".tsv") and "__pycache__" not in p.parts
        ]
        assert files
        for path in files:
            assert f"{installed}/{path.relative_to(ROOT / folder).as_posix()}" in names, path
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "kdaug = kdaug.cli:main" in entry_points


def test_installed_into_a_fresh_venv_it_imports_as_kdaug_only(wheel, tmp_path, tiny_teacher, mr_corpus):
    """A new venv with only the wheel installed (its dependencies seen through a path entry to this
    environment's site-packages, without that environment's own install of kdaug)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
        text=True,
    )
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = sorted(p.name for p in site.iterdir() if not p.name.endswith((".pth", ".dist-info", "__pycache__")))
    assert installed == ["kdaug"]
    script = f"""
import importlib.util, json, sys
import kdaug
assert kdaug.__file__.startswith({str(site)!r}), kdaug.__file__
for name in ("pipelines", "trainers", "schemas", "kdaug_core"):
    assert importlib.util.find_spec(name) is None, name
import kdaug.core.recipe, kdaug.pipelines.materialize, kdaug.trainers.train, kdaug.schemas
recipe = kdaug.Recipe(input={str(mr_corpus)!r}, output="out", teacher={str(tiny_teacher)!r},
                      augment=["synonym:ratio=0.3,copies=1"])
print(json.dumps([kdaug.__version__, recipe.augment[0].method, kdaug.schemas.CURRENT_VERSION]))
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([str(python), "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    from importlib.metadata import version

    assert json.loads(out.stdout) == [version("kdaug"), "synonym", 3]
    assert (venv / "bin" / "kdaug").is_file()

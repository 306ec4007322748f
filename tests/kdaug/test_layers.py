"""The import rules that keep kdaug layered: data flows corpus -> kdaug.core -> kdaug.pipelines -> Parquet
(kdaug.schemas) -> kdaug.trainers, and only the app layer (the kdaug package's own modules: API, CLI,
demo, sweep) knows both sides."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = (
    "kdaug.api",
    "kdaug.cli",
    "kdaug.compare",
    "kdaug.compare_grid",
    "kdaug.dataset_commands",
    "kdaug.demo",
    "kdaug.experiments",
    "kdaug.model_commands",
    "kdaug.sweep",
    "kdaug.search",
    "kdaug.search_report",
    "kdaug.search_space",
    "kdaug.runs",
    "kdaug.stats",
    "kdaug.__main__",
)
# folder -> (its package, the kdaug packages it may import, other top-level modules it must not import)
LAYERS = {
    "schemas": ("kdaug.schemas", ("kdaug.schemas",), ("apache_beam", "torch")),
    "kdaug_core": ("kdaug.core", ("kdaug.core", "kdaug.schemas"), ("apache_beam",)),
    "pipelines": ("kdaug.pipelines", ("kdaug.core", "kdaug.schemas", "kdaug.pipelines"), ()),
    "trainers": ("kdaug.trainers", ("kdaug.core", "kdaug.schemas", "kdaug.trainers"), ("apache_beam",)),
}
OLD_TOP_LEVEL = ("kdaug_core", "pipelines", "trainers", "schemas")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in a file, `from kdaug import schemas` as kdaug.schemas."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
            if node.module == "kdaug":
                out += [(node.lineno, f"kdaug.{a.name}") for a in node.names]
    return out


def within(module: str, packages) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


@pytest.mark.parametrize("folder", sorted(LAYERS))
def test_each_layer_imports_only_what_it_may(folder):
    _, allowed, forbidden = LAYERS[folder]
    problems = []
    files = sorted((ROOT / folder).rglob("*.py"))
    assert files
    for path in files:
        for line, module in imported_modules(path):
            where = f"{path.relative_to(ROOT)}:{line} imports {module}"
            if within(module, OLD_TOP_LEVEL):
                problems.append(f"{where} (installed under kdaug: kdaug.core, kdaug.pipelines, ...)")
            else:
                other_layer = module.startswith("kdaug.") and not within(module, allowed)
                if other_layer or within(module, forbidden):
                    problems.append(where)
    assert problems == []


def test_the_app_layer_is_the_kdaug_package_itself():
    """Its modules are the only ones that drive both sides."""
    app = {f"kdaug.{p.stem}" for p in (ROOT / "kdaug").glob("*.py") if p.stem != "__init__"}
    assert app == set(APP)
    for name in ("api", "cli", "compare", "demo", "sweep", "search"):
        modules = [m for _, m in imported_modules(ROOT / "kdaug" / f"{name}.py")]
        sides = {side for side in ("kdaug.pipelines", "kdaug.trainers") if any(within(m, [side]) for m in modules)}
        assert sides == {"kdaug.pipelines", "kdaug.trainers"}, name


def test_the_trainer_side_runs_without_loading_beam():
    """Imported for real (what a training job loads): no Beam, no pipelines."""
    modules = [f"kdaug.trainers.{p.stem}" for p in (ROOT / "trainers").glob("*.py") if p.stem != "__init__"]
    modules += [f"kdaug.core.{p.stem}" for p in (ROOT / "kdaug_core").glob("*.py") if p.stem != "__init__"]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(sorted(m for m in sys.modules if m.startswith(('apache_beam', 'kdaug.pipelines', 'kdaug.api'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

"""The folders depend on each other in one direction (README, "Where things are"): the contracts
in pyproject.toml ([tool.importlinter]) hold, they catch a folder importing one it may not, and
no import cycle runs through modules of two folders."""

import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(where: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(where / "pyproject.toml"), "--no-cache"],
        cwd=where,
        env={"PYTHONPATH": str(where), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_project_keeps_every_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture
def skeleton(tmp_path: Path) -> Path:
    """The project's folders as empty packages, under the project's own contracts."""
    modules = {*CONFIG["root_packages"], *CONFIG["contracts"][0]["layers"]}
    for module in modules:
        path = tmp_path.joinpath(*module.split("."))
        path.mkdir(parents=True, exist_ok=True)
        (path / "__init__.py").touch()
    # Tests put the parts together: held to no contract.
    (tmp_path / "demo" / "tests").mkdir()
    (tmp_path / "demo" / "tests" / "__init__.py").touch()
    (tmp_path / "demo" / "tests" / "test_all.py").write_text("import billing.money\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def write(root: Path, module: str, source: str) -> None:
    root.joinpath(*module.split(".")).with_suffix(".py").write_text(source)


def test_a_skeleton_of_the_folders_keeps_the_contracts(skeleton):
    write(skeleton, "billing.contracts.push", "import billing.tax.decide\nimport customers\n")
    write(skeleton, "billing.tax.decide", "import customers\n")
    result = lint_imports(skeleton)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "source", "contract"),
    [
        # The Stripe app importing a domain app.
        ("stripe_sync.mirror", "import billing.invoices\n", "Folders import only"),
        ("stripe_sync.mirror", "from billing import models\n", "The Stripe app"),
        ("stripe_sync.writes", "import customers\n", "The Stripe app"),
        # The import engine importing the accounts it imports.
        ("file_imports.engine", "import customers\n", "The Stripe app and the import engine"),
        # A lower domain importing a higher one: customers knowing contracts, tax knowing them.
        ("customers.admin", "import billing.contracts\n", "Folders import only"),
        ("billing.tax.readiness", "import billing.contracts\n", "Folders import only"),
        # The product importing the development-only Stripe stand-in.
        ("billing.contracts.push", "import stripe_standin\n", "Nothing of the product"),
        # backoffice (settings, the admin site, roles) importing a domain.
        ("backoffice.urls", "import stripe_sync\n", "Folders import only"),
    ],
)
def test_a_folder_importing_one_it_may_not_breaks_a_contract(skeleton, module, source, contract):
    write(skeleton, module, source)
    result = lint_imports(skeleton)
    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if " BROKEN" in line]
    assert any(line.startswith(contract) for line in broken), result.stdout


def folder_of(module: str) -> str:
    """The folder a module belongs to: the longest of the contracts' folders it is in."""
    folders = {*CONFIG["root_packages"], *CONFIG["contracts"][0]["layers"]}
    return max((f for f in folders if module == f or module.startswith(f + ".")), key=len)


def strongly_connected(graph: grimp.ImportGraph, modules: set[str]) -> Iterator[set[str]]:
    """Tarjan's algorithm over the imports between `modules`."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(module: str) -> Iterator[set[str]]:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module) & modules:
            if imported not in index:
                yield from visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == module:
                    break
            yield component

    for module in sorted(modules):
        if module not in index:
            yield from visit(module)


def test_no_import_cycle_runs_through_two_folders():
    graph = grimp.build_graph(*CONFIG["root_packages"], include_external_packages=False)
    product = {m for m in graph.modules if ".tests" not in m and ".migrations" not in m}
    cycles = [c for c in strongly_connected(graph, product) if len(c) > 1]
    across = [sorted(c) for c in cycles if len({folder_of(m) for m in c}) > 1]
    assert across == []
    # The check sees cycles at all: a service and its own task import each other.
    assert any({"billing.contracts.services", "billing.contracts.tasks"} <= c for c in cycles)

"""Every workspace member declares the third-party packages it imports, not relying on another's."""

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MEMBERS = [ROOT / "contracts", ROOT / "ops", *sorted((ROOT / "services").iterdir())]


def imported_top_levels(source_dir: Path) -> set[str]:
    names: set[str] = set()
    for file in source_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return names


def normalise(name: str) -> str:
    return name.lower().replace("_", "-")


@pytest.mark.parametrize("member", MEMBERS, ids=lambda m: m.name)
def test_a_member_declares_every_package_it_imports(member: Path) -> None:
    project = tomllib.loads((member / "pyproject.toml").read_text())["project"]
    declared = {normalise(d.split(">")[0].split("=")[0].split("[")[0].strip()) for d in project["dependencies"]}
    distributions = packages_distributions()
    own = normalise(project["name"])
    missing = set()
    for module in imported_top_levels(member / "src"):
        if module in sys.stdlib_module_names:
            continue
        candidates = {normalise(d) for d in distributions.get(module, [module])}
        if own not in candidates and not candidates & declared:
            missing.add(f"{module} ({', '.join(sorted(candidates))})")
    assert not missing, f"{member.name} imports undeclared packages: {sorted(missing)}"

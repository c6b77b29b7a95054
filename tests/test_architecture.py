"""The dependency direction of CONVENTIONS.md: training imports nothing from moderation or worker; moderation
never imports worker."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def imported_top_level_modules(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (REPO / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(REPO)))
    return found


@pytest.mark.parametrize(
    "package,forbidden", [("training", {"moderation", "worker"}), ("moderation", {"worker"})]
)
def test_dependency_direction(package, forbidden):
    imports = imported_top_level_modules(package)
    offenders = {name: sorted(imports[name]) for name in forbidden if name in imports}
    assert not offenders, f"{package} must not import {offenders}"

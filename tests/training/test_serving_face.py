"""The serving face of `training` (everything outside `training/offline/`) never imports the offline side, and
neither do `moderation` or `worker`: the runtime ships without the training code."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def offline_imports(paths) -> list[str]:
    found = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            found += [f"{path.relative_to(REPO)}: {n}" for n in names if n.startswith("training.offline")]
    return found


def test_the_serving_face_does_not_import_offline_code():
    # __main__.py is `python -m training`, the offline CLI's entry point: run, never imported.
    serving = [p for p in (REPO / "training").glob("*.py") if p.name != "__main__.py"]
    assert serving and not offline_imports(serving)


@pytest.mark.parametrize("package", ["moderation", "worker"])
def test_run_time_packages_do_not_import_offline_code(package):
    assert not offline_imports((REPO / package).rglob("*.py"))

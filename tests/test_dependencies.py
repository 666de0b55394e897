"""pyproject.toml declares every distribution that app/ imports directly: one that arrives only
as another package's dependency can vanish when that package changes its own."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib

from tests.conftest import ROOT


def _top_level_imports() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "app").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"app", "__future__"}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_directly_imported_distribution_is_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {_normalized(re.split(r"[\s\[<>=!~;]", spec, maxsplit=1)[0])
                for spec in project["dependencies"]}
    providers = importlib.metadata.packages_distributions()
    missing = {}
    for module in sorted(_top_level_imports()):
        distributions = {_normalized(d) for d in providers.get(module, [])}
        assert distributions, f"{module} is imported by app/ but not installed"
        if not distributions & declared:
            missing[module] = sorted(distributions)
    assert not missing, f"imported by app/ but not in [project] dependencies: {missing}"

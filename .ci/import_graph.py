"""Check that import-linter will see the whole package, then print what it sees.

grimp, import-linter's graph builder, finds a package through its folder on sys.path.
The editable install maps the stage folders (data_prep/, training/, ...) with a
meta-path finder that grimp does not follow: it would see 2 modules and every contract
would pass without checking anything. `.ci/lint` therefore points PYTHONPATH at a
regular install of this checkout; this script fails unless every module file of the
source tree (as pyproject.toml maps it) is in the graph.
"""

import sys
from pathlib import Path

import grimp
import tomllib

ROOT = Path(__file__).resolve().parents[1]


def source_modules() -> set[str]:
    """Module names of every .py file under the folders pyproject.toml maps into mace4ir."""
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    names = set()
    for package, folder in setup["package-dir"].items():
        for file in (ROOT / folder).rglob("*.py"):
            parts = file.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if all(p.isidentifier() for p in parts):
                names.add(".".join((package, *parts)))
    return names


def main() -> int:
    graph = grimp.build_graph("mace4ir")
    missing = source_modules() - graph.modules
    print(f"import graph: {len(graph.modules)} modules, {graph.count_imports()} imports")
    if missing:
        print(
            f"not in the graph (not installed? add the package to pyproject.toml): "
            f"{sorted(missing)}"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

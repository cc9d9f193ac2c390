"""YAML configuration loading shared by all stages.

Built-in configs live in the top-level ``configs/`` folder, installed as the package
``mace4ir.configs``; ``load_config("model/ef_small")`` finds
``configs/model/ef_small.yaml``. A path to an existing file is loaded as is.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from mace4ir.errors import ConfigError


def builtin_config_names(group: str) -> list[str]:
    """Names of the built-in configs in ``configs/<group>/`` (without .yaml)."""
    folder = resources.files("mace4ir.configs").joinpath(group)
    if not folder.is_dir():
        return []
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def config_path(name_or_path: str | Path, group: str | None = None) -> Path:
    """Resolve a built-in config name (within ``group``) or a file path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    rel = f"{group}/{name_or_path}.yaml" if group else f"{name_or_path}.yaml"
    builtin = resources.files("mace4ir.configs").joinpath(rel)
    if builtin.is_file():
        return Path(str(builtin))
    known = ", ".join(builtin_config_names(group)) if group else ""
    raise ConfigError(
        f"config {str(name_or_path)!r} not found as a file or built-in"
        + (f" {group} config (built-in: {known})" if group else "")
    )


def load_config(name_or_path: str | Path, group: str | None = None) -> dict[str, Any]:
    """Load a YAML config into a dict, with a clear error for broken YAML."""
    path = config_path(name_or_path, group)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at top level, got {type(data).__name__}")
    return data


def merge(base: dict, override: dict) -> dict:
    """Recursive dict merge; ``override`` wins. Returns a new dict."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out

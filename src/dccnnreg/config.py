"""Workflow config files read outside Snakemake, merged the way Snakemake merges them."""

from __future__ import annotations

from pathlib import Path

import yaml


def merge(base: dict, override: dict) -> dict:
    """``override`` on top of ``base``: nested mappings merge key by key, anything else is replaced."""
    out = dict(base)
    for k, v in override.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(*paths) -> dict:
    """The merged settings of YAML config files, later files winning (as ``--configfile`` does)."""
    cfg: dict = {}
    for p in paths:
        cfg = merge(cfg, yaml.safe_load(Path(p).read_text()) or {})
    return cfg

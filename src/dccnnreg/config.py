"""Workflow config files read outside Snakemake, merged the way Snakemake merges them, and the settings of
the learned methods in them. Imports no torch: the workflow's planner uses it."""

from __future__ import annotations

import math
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


LEARNED_METHODS = ("dccnn_lstm", "voxelmorph")  # trained by the workflow's `train` rule (dccnnreg.networks)


def method_settings(name: str, config: dict) -> tuple[dict, dict]:
    """Constructor settings and training settings (the shared ``train`` schedule with the method's ``loss``) of
    the learned method ``name`` from a workflow config, where each method has a section ``{net, loss}``
    beside the schedule ``train``; missing sections or keys take the defaults, unknown ones are errors."""
    section = config.get(name, {})
    unknown = set(section) - {"net", "loss"}
    if unknown:
        raise ValueError(f"config section {name!r}: unknown keys {sorted(unknown)} (it holds 'net' and 'loss')")
    return section.get("net", {}), {**config.get("train", {}), "loss": section.get("loss", {})}


FIELD_SPACING_MM = 1.0  # field_subdivision "auto": DCCNN-LSTM-Reg's fields written at this spacing or finer


def field_subdivision(setting: int | str, spacing_mm: float) -> int:
    """The subdivision of ``register.field_subdivision`` for a network grid of ``spacing_mm``: an integer as it is;
    ``"auto"`` the smallest that writes the fields at :data:`FIELD_SPACING_MM` or finer (3 on a 3 mm grid, 1 at
    1 mm), the resolution of the images they warp."""
    if setting == "auto":
        return max(1, math.ceil(spacing_mm / FIELD_SPACING_MM - 1e-6))
    if isinstance(setting, bool) or not isinstance(setting, int) or setting < 1:
        raise ValueError(f"field_subdivision must be a positive integer or 'auto', not {setting!r}")
    return setting

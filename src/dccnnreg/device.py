"""Choosing the compute device once: CUDA when present, else CPU."""

from __future__ import annotations

import platform

import torch


def pick_device(preference: str = "auto") -> torch.device:
    """``auto`` -> ``cuda`` if available else ``cpu``; ``cpu``/``cuda[:N]`` are honoured (error if absent)."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(preference)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {preference!r} requested but CUDA is not available")
    return dev


def describe(device: torch.device) -> str:
    """What a benchmark ran on, for its results: the GPU's name, or ``cpu (<machine>), <torch threads> threads``."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.machine()}), {torch.get_num_threads()} threads"


def autocast(device: torch.device, precision: str):
    """Autocast context for ``precision`` in ``{'fp32', 'bf16'}``."""
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be fp32 or bf16, got {precision!r}")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")

"""Checkpoints: the method, the model constructor config, weights, optimiser, step and every RNG state."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import networks
from .losses import LossWeights
from .nifti import atomic_path

PATTERN = "ckpt_*.pt"


def rng_state(rng: np.random.Generator) -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": rng.bit_generator.state, "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict, rng: np.random.Generator) -> None:
    torch.set_rng_state(state["torch"])
    rng.bit_generator.state = state["numpy"]
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(path, model: nn.Module, step: int, optimizer=None, rng=None, extra: dict | None = None) -> None:
    """Write a checkpoint atomically (an interrupted save never leaves a truncated file)."""
    payload = {
        "method": model.method,
        "model_config": model.config.to_dict(),
        "state_dict": model.state_dict(),
        "step": step,
        **(extra or {}),
    }
    if optimizer is not None:
        payload["optimizer"] = optimizer.state_dict()
    if rng is not None:
        payload["rng"] = rng_state(rng)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load(path, device="cpu") -> dict:
    """Read a checkpoint; a clear error names a corrupt file."""
    try:
        return torch.load(path, map_location=device, weights_only=False)
    except Exception as e:  # torch raises several types for corrupt/truncated files
        raise RuntimeError(f"{path}: cannot read checkpoint ({type(e).__name__}: {e})") from e


def method_of(ckpt: dict) -> str:
    """The learned method a loaded checkpoint belongs to (checkpoints older than the field: ``dccnn_lstm``)."""
    return ckpt.get("method", "dccnn_lstm")


def load_model(path, device="cpu") -> nn.Module:
    """Rebuild the network from a checkpoint's method, config and weights, in eval mode on ``device``."""
    ckpt = load(path, device)
    model = networks.build(networks.model_config(method_of(ckpt), ckpt["model_config"]))
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device).eval()


def training_loss(path) -> LossWeights:
    """The loss weights a model was trained with (its ``train_config``): the objective of refinement."""
    ckpt = load(path)
    if "train_config" not in ckpt:
        raise ValueError(f"{path}: this checkpoint does not record its training settings")
    return LossWeights(**ckpt["train_config"]["loss"])


def newest(directory) -> Path | None:
    """The checkpoint with the highest step in ``directory``, or None."""
    found = sorted(Path(directory).glob(PATTERN))
    return found[-1] if found else None


def step_path(directory, step: int) -> Path:
    return Path(directory) / f"ckpt_{step:08d}.pt"


def prune(directory, keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints."""
    for p in sorted(Path(directory).glob(PATTERN))[:-keep]:
        p.unlink()

"""The learned methods by name, each a network paired with its training objective: ``dccnn_lstm``
(:mod:`dccnnreg.model` with :func:`~dccnnreg.losses.registration_loss`) and ``voxelmorph``
(:mod:`dccnnreg.voxelmorph_net` with :func:`~dccnnreg.losses.pairwise_loss`). A network has ``method`` and
``config``; an objective is ``(out, moving, fixed, weights, moving_onehot, fixed_onehot) -> (loss, parts)``.
Their settings come from the config by :func:`dccnnreg.config.method_settings`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from .losses import pairwise_loss, registration_loss
from .model import DCCNNLSTMReg, ModelConfig
from .voxelmorph_net import VoxelMorphNet, VxmConfig


@dataclass(frozen=True)
class Method:
    """A learned method: its network class, constructor config class, objective and the objective's terms."""

    network: type
    config: type
    objective: Callable
    loss_terms: tuple[str, ...]


METHODS = {  # the names are dccnnreg.config.LEARNED_METHODS (tests/test_config.py)
    "dccnn_lstm": Method(DCCNNLSTMReg, ModelConfig, registration_loss, ("sim", "middle", "smooth", "inverse", "jacobian", "dice")),
    "voxelmorph": Method(VoxelMorphNet, VxmConfig, pairwise_loss, ("sim", "smooth", "dice")),
}


def method(name: str) -> Method:
    """The learned method called ``name``."""
    if name not in METHODS:
        raise ValueError(f"unknown learned method {name!r}; one of {sorted(METHODS)}")
    return METHODS[name]


def model_config(name: str, settings: dict):
    """The constructor config of method ``name`` from a plain dict (e.g. the config file's ``net`` section)."""
    return method(name).config(**settings)


def build(config) -> nn.Module:
    """The network for a constructor config (:class:`ModelConfig` or :class:`VxmConfig`)."""
    for m in METHODS.values():
        if isinstance(config, m.config):
            return m.network(config)
    raise TypeError(f"no network takes a {type(config).__name__}")

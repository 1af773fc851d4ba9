"""The learned methods by name: ``dccnn_lstm`` (:mod:`dccnnreg.model`) and ``voxelmorph``
(:mod:`dccnnreg.voxelmorph_net`). Each network has ``method``, ``config``, ``loss_terms`` and
``objective(out, moving, fixed, weights, moving_onehot, fixed_onehot)``."""

from __future__ import annotations

from torch import nn

from .model import DCCNNLSTMReg, ModelConfig
from .voxelmorph_net import VoxelMorphNet, VxmConfig

NETWORKS = {"dccnn_lstm": (DCCNNLSTMReg, ModelConfig), "voxelmorph": (VoxelMorphNet, VxmConfig)}


def model_config(method: str, settings: dict):
    """The constructor config of ``method`` from a plain dict (e.g. the config file's section)."""
    if method not in NETWORKS:
        raise ValueError(f"unknown learned method {method!r}; one of {sorted(NETWORKS)}")
    return NETWORKS[method][1](**settings)


def build(config) -> nn.Module:
    """The network for a constructor config (:class:`ModelConfig` or :class:`VxmConfig`)."""
    for net, cls in NETWORKS.values():
        if isinstance(config, cls):
            return net(config)
    raise TypeError(f"no network takes a {type(config).__name__}")


def settings_from_config(method: str, config: dict) -> tuple[dict, dict]:
    """Constructor and training settings of ``method`` from the workflow config: DCCNN-LSTM-Reg reads
    ``model`` and ``train``; VoxelMorph reads ``voxelmorph`` and ``train`` with its own ``loss``.
    Missing sections mean the defaults."""
    if method == "dccnn_lstm":
        return config.get("model", {}), config.get("train", {})
    vxm = config.get("voxelmorph", {})
    return {k: v for k, v in vxm.items() if k != "loss"}, {**config.get("train", {}), "loss": vxm.get("loss", {})}

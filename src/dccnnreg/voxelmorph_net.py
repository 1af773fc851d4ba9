"""VoxelMorph baseline: the ``voxelmorph`` package's diffeomorphic network (``VxmPairwise``) behind
the same interface as :class:`~dccnnreg.model.DCCNNLSTMReg`.

Balakrishnan et al., IEEE TMI 2019; Dalca et al., MedIA 2019 (the diffeomorphic variant): one U-Net
on the concatenated pair predicts a stationary velocity, integrated by scaling and squaring.
VoxelMorph's fields follow the convention of :mod:`dccnnreg.transforms` (voxel units, pull-back,
channel ``c`` along array axis ``c``), which ``tests/test_voxelmorph_net.py`` checks, so its
outputs need no conversion. The inverse is the exponential of the negated velocity.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from .layers import crop, pad_to_multiple

Tensor = torch.Tensor


@dataclass
class VxmConfig:
    """Constructor settings (config key ``voxelmorph.net``, defaults as in ``config/config.yaml``), saved with
    checkpoints."""

    features: list[int] = field(default_factory=lambda: [16, 32, 32, 32])
    int_steps: int = 7

    def __post_init__(self):
        if not self.features or any(f < 1 for f in self.features) or self.int_steps < 1:
            raise ValueError(f"voxelmorph needs positive features and int_steps >= 1: {self}")

    def to_dict(self) -> dict:
        return asdict(self)


class VoxelMorphNet(nn.Module):
    """``forward(moving, fixed)`` -> ``forward``, ``inverse`` and ``velocity`` fields ``(B, 3, D, H, W)``."""

    method = "voxelmorph"

    def __init__(self, config: VxmConfig):
        super().__init__()
        import voxelmorph  # imported here: the rest of the package does not need it

        self.config = config
        self.net = voxelmorph.nn.models.VxmPairwise(
            ndim=3, source_channels=1, target_channels=1, nb_features=list(config.features),
            integration_steps=config.int_steps,
        )

    def forward(self, moving: Tensor, fixed: Tensor) -> dict[str, Tensor]:
        if moving.shape != fixed.shape:
            raise ValueError(f"moving {tuple(moving.shape)} and fixed {tuple(fixed.shape)} must share a grid")
        m = 2 ** len(self.config.features)  # the U-Net halves the grid once per level
        (mov, shape), (fix, _) = pad_to_multiple(moving, m), pad_to_multiple(fixed, m)
        v = self.net(mov, fix, return_field_type="velocity").float()
        with torch.autocast(v.device.type, enabled=False):
            fwd = self.net.velocity_field_integrator(v)
            inv = self.net.velocity_field_integrator(-v)
        return {"forward": crop(fwd, shape), "inverse": crop(inv, shape), "velocity": crop(v, shape)}

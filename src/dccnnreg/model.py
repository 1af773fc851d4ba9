"""DCCNN-LSTM-Reg: the symmetric dynamic registration network.

After J. Deng, K. Chen, M. Li, D. Zhang, C. Chen, A. F. Frangi, J. Zhang, "A Symmetric Dynamic
Learning Framework for Diffeomorphic Medical Image Registration", IEEE TMI 2024
(arXiv:2411.02888). Registration is a dynamical system: the deformation evolves over time
steps, driven by velocity increments that a convolutional LSTM predicts.

Architecture (``forward(moving, fixed)``, both ``(B, 1, D, H, W)`` on one grid):

1. **Dual U-Net, shared weights** (:class:`~dccnnreg.layers.UNetPyramid`): each image becomes a
   feature pyramid of ``levels = len(channels)`` scales (level 0 full resolution).
2. **Symmetric paths**: two half-maps, ``psi_M`` (moving -> middle) and ``psi_F`` (fixed ->
   middle), each a pull-back field with its inverse, start at identity at the coarsest scale.
3. **Symmetric Registration (SR) module per scale, coarse to fine**: a ConvLSTM cell runs
   ``time_steps[l]`` steps. At each step the features of both images are warped by their current
   half-maps; the cell sees ``[warped own, warped other]`` and a 3x3x3 head turns its hidden state
   into a velocity increment ``v``. The same cell (shared weights) serves both paths with the
   inputs swapped, so exchanging moving and fixed exchanges the paths exactly.
4. **Diffeomorphic integration**: each increment is exponentiated by scaling and squaring
   (``int_steps`` squarings) and composed onto its path, ``psi <- psi o exp(v / T)``; the inverse
   is accumulated from ``exp(-v / T)`` in reverse order. Fields are upsampled between scales.
5. **Forward and inverse from one model**: ``phi_MF = psi_M o psi_F^-1`` (pulls the moving image
   onto the fixed grid) and ``phi_FM = psi_F o psi_M^-1`` (:func:`full_maps`). At registration the
   accumulated inverses are polished into the grid inverses of the half-maps (:func:`polish_inverses`).

Choices the paper leaves open, made here (all configurable through :class:`ModelConfig`):

* LSTM time steps per scale (default 0 at full resolution: the finest field is the upsampled
  half-resolution one, which keeps memory and CPU time practical at 160x192x224; the U-Net then does
  not decode that level either, its parameters are kept so checkpoints load whatever the steps); hidden
  channels; the LSTM state does not pass between scales (channels differ per scale).
* Each increment is a stationary-velocity exponential (scaling and squaring); the composition
  order is ``old o increment`` (the increment is predicted from already-warped features).
* Middle space: at every step the two paths take antisymmetric velocities,
  ``v_M = (g(M, F) - g(F, M)) / 2`` and ``v_F = -v_M`` (``g`` the cell + head), so the middle space
  lies halfway and both paths cannot drift together (a common drift leaves ``phi_MF`` unchanged and
  would only be held back by smoothness). Symmetric, middle-space and inverse-consistency terms
  tie them further (:mod:`dccnnreg.losses`).
* Homotopy continuation is approximated by the coarse-to-fine cascade and the step-by-step
  increments; no explicit continuation parameter.
* Inputs are zero-padded to a multiple of ``2**(levels-1)`` and outputs cropped back.
* The velocity head is initialised near zero so training starts from the identity map.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from .layers import ConvLSTMCell, UNetPyramid, crop, pad_to_multiple
from .transforms import (append_increment, compose, integrate_velocity, invert_field, paired, resize_field,
                         subdivided_shape, warp)

Tensor = torch.Tensor
HALF_MAPS = ("psi_m", "psi_f", "psi_m_inv", "psi_f_inv")
INVERSE_ITERATIONS = 10  # at registration: the half-maps' inverses to ~1e-3 voxel (bench/real_labelmaps.py)
FINE_ITERATIONS = 2  # undamped, on a subdivided grid, from the grid's answer (k = 3, real-anatomy pairs at 3 mm): IC at
                     # the voxels of the network alone 0.117 mm with 1, 0.094 with 2, 0.087 converged (refined: 0.069,
                     # 0.054, 0.050); about 1 s each there on 2 CPU cores. Eight left folds on a rough network's maps


@dataclass
class ModelConfig:
    """Constructor settings (config key ``dccnn_lstm.net``, defaults as in ``config/config.yaml``), saved with every
    checkpoint. Lists are indexed by level, finest first."""

    channels: list[int] = field(default_factory=lambda: [16, 32, 32, 32, 32])
    hidden: list[int] = field(default_factory=lambda: [16, 32, 32, 32, 32])
    time_steps: list[int] = field(default_factory=lambda: [0, 2, 3, 3, 3])
    int_steps: int = 7

    def __post_init__(self):
        n = len(self.channels)
        if len(self.hidden) != n or len(self.time_steps) != n:
            raise ValueError(f"channels, hidden and time_steps need one entry per level ({n}): {self}")
        if not any(self.time_steps):
            raise ValueError("time_steps must have at least one non-zero entry")
        if self.int_steps < 0 or any(t < 0 for t in self.time_steps):
            raise ValueError("time and integration steps must be non-negative")

    @property
    def levels(self) -> int:
        return len(self.channels)

    @property
    def finest_step_level(self) -> int:
        """The finest level with LSTM steps: finer levels need no decoded features (only upsampled fields)."""
        return min(l for l, t in enumerate(self.time_steps) if t)

    def to_dict(self) -> dict:
        return asdict(self)


class DCCNNLSTMReg(nn.Module):
    """The symmetric network; see the module docstring. Build it from a :class:`ModelConfig`."""

    method = "dccnn_lstm"

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.features = UNetPyramid(config.channels)
        self.cells = nn.ModuleDict()
        self.heads = nn.ModuleDict()
        for l, (c, h, t) in enumerate(zip(config.channels, config.hidden, config.time_steps)):
            if t:
                self.cells[str(l)] = ConvLSTMCell(2 * c, h)
                head = nn.Conv3d(h, 3, 3, padding=1)
                nn.init.normal_(head.weight, std=1e-5)
                nn.init.zeros_(head.bias)
                self.heads[str(l)] = head

    def _step(self, l: int, feats: Tensor, state, paths: dict[str, Tensor], T: int):
        """One SR step on level ``l``; ``feats`` is ``(2B, C, ...)``: moving path first, fixed second."""
        b = feats.shape[0] // 2
        u = torch.cat([paths["m"], paths["f"]])
        warped = warp(feats, u.to(feats.dtype), padding_mode="border")
        own, other = warped, torch.cat([warped[b:], warped[:b]])
        state = self.cells[str(l)](torch.cat([own, other], dim=1), state)
        g = self.heads[str(l)](state[0]).float() / T
        half = 0.5 * (g[:b] - g[b:])  # antisymmetric: no common drift of both paths
        v = torch.cat([half, -half])
        with torch.autocast(v.device.type, enabled=False):
            inc = integrate_velocity(v, self.config.int_steps)
            inc_inv = torch.cat([inc[b:], inc[:b]])  # exp(-v): -v is v with the paths swapped
            u, u_inv = append_increment(u, torch.cat([paths["m_inv"], paths["f_inv"]]), inc, inc_inv)
        return state, {"m": u[:b], "f": u[b:], "m_inv": u_inv[:b], "f_inv": u_inv[b:]}

    def forward(self, moving: Tensor, fixed: Tensor) -> dict[str, Tensor]:
        """Register ``moving`` to ``fixed`` (both ``(B, 1, D, H, W)``).

        Returns fields ``(B, 3, D, H, W)`` in voxel units (pull-backs, see :mod:`dccnnreg.transforms`):
        ``forward`` (``phi_MF``, warps moving onto fixed), ``inverse`` (``phi_FM``), and the half-maps
        ``psi_m``, ``psi_f``, ``psi_m_inv``, ``psi_f_inv`` to the middle space.
        """
        if moving.shape != fixed.shape:
            raise ValueError(f"moving {tuple(moving.shape)} and fixed {tuple(fixed.shape)} must share a grid")
        b = moving.shape[0]
        x, shape = pad_to_multiple(torch.cat([moving, fixed]), 2 ** (self.config.levels - 1))
        pyramid = self.features(x, finest=self.config.finest_step_level)
        coarsest = pyramid[-1].shape[2:]
        zero = x.new_zeros(b, 3, *coarsest, dtype=torch.float32)
        paths = {"m": zero, "f": zero, "m_inv": zero, "f_inv": zero}
        for l in range(self.config.levels - 1, -1, -1):
            grid = tuple(n // 2**l for n in x.shape[2:])
            paths = {k: resize_field(u, grid) for k, u in paths.items()}
            T = self.config.time_steps[l]
            state = None
            for _ in range(T):
                state, paths = self._step(l, pyramid[l], state, paths, T)
        return full_maps({f"psi_{k}": crop(u, shape) for k, u in paths.items()})


def full_maps(half: dict[str, Tensor]) -> dict[str, Tensor]:
    """The half-maps ``psi_m``, ``psi_f``, ``psi_m_inv``, ``psi_f_inv`` (``(B, 3, D, H, W)``) with the full maps
    they give, on the grid of the inverse paths: ``forward = psi_m o psi_f^-1`` and ``inverse = psi_f o psi_m^-1``."""
    forward, inverse = paired(compose, (half["psi_m"], half["psi_f_inv"]), (half["psi_f"], half["psi_m_inv"]))
    return {"forward": forward, "inverse": inverse, **{k: half[k] for k in HALF_MAPS}}


def polish_inverses(half: dict[str, Tensor], iterations: int = INVERSE_ITERATIONS, subdivision: int = 1
                    ) -> dict[str, Tensor]:
    """:func:`full_maps` after replacing each half-map's inverse path by the field that inverts it on the grid
    (:func:`~dccnnreg.transforms.invert_field`, started from the inverse path). Both paths are treated alike,
    so exchanging moving and fixed still exchanges the results exactly.

    With ``subdivision`` ``k > 1`` the polished inverse paths are resampled to the grid ``k`` times finer
    (:func:`~dccnnreg.transforms.subdivided_shape`) and polished there against the same (trilinear) half-maps,
    by :data:`FINE_ITERATIONS` undamped steps (they start within interpolation error of the answer); the full maps
    and the inverse paths are then on that grid, the half-maps ``psi_m``, ``psi_f`` on the image grid. The finer
    grid holds the compositions more faithfully: between voxels of a coarse grid, sharply bending maps compose
    into fields that its trilinear interpolation cannot follow (``bench/ic_resolution.py``)."""
    b = half["psi_m"].shape[0]
    paths = torch.cat([half["psi_m"], half["psi_f"]])
    inv = invert_field(paths, torch.cat([half["psi_m_inv"], half["psi_f_inv"]]), iterations)
    if subdivision > 1:
        inv = invert_field(paths, resize_field(inv, subdivided_shape(tuple(paths.shape[2:]), subdivision)),
                           FINE_ITERATIONS, damping=1.0)
    return full_maps({**half, "psi_m_inv": inv[:b], "psi_f_inv": inv[b:]})


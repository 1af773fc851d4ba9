"""Training losses. Images ``(B, 1, D, H, W)``, fields ``(B, 3, D, H, W)`` in voxel units."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from .transforms import box_mean, compose, gaussian_smooth, jacobian_determinant, paired, warp

Tensor = torch.Tensor


def local_ncc(a: Tensor, b: Tensor, window: int = 9, eps: float = 1e-8) -> Tensor:
    """``1 - mean(local squared normalised cross-correlation)`` over cubic windows of ``window`` voxels.

    0 for images that are locally affine functions of each other; at most 1.
    """
    a, b = a.float(), b.float()
    c = a.shape[1]
    ma, mb, mab, maa, mbb = box_mean(torch.cat([a, b, a * b, a * a, b * b], dim=1), window).split(c, dim=1)
    cross = mab - ma * mb
    va = (maa - ma * ma).clamp_min(0)
    vb = (mbb - mb * mb).clamp_min(0)
    cc = cross * cross / (va * vb + eps)
    return 1.0 - cc.mean()


def mse(a: Tensor, b: Tensor) -> Tensor:
    """Mean squared intensity difference."""
    return F.mse_loss(a.float(), b.float())


def diffusion(u: Tensor) -> Tensor:
    """Mean squared forward difference of the field (diffusion regulariser), voxel units."""
    return sum((torch.diff(u, dim=d) ** 2).mean() for d in (2, 3, 4)) / 3.0


def detail(u: Tensor, sigma: float) -> Tensor:
    """``u`` ``(B, C, D, H, W)`` less its Gaussian smoothing of ``sigma`` voxels (edge values repeated past the grid):
    what a smoothness penalty on it penalises is roughness finer than ``sigma``, not a smooth displacement's size.
    ``sigma`` 0 returns ``u``."""
    if sigma <= 0:
        return u
    return u - gaussian_smooth(u, sigma, border="replicate")


def inverse_consistency(u: Tensor, u_inv: Tensor) -> Tensor:
    """Mean squared residual of ``phi o phi^-1`` and ``phi^-1 o phi`` against identity (voxels^2)."""
    there, back = paired(compose, (u, u_inv), (u_inv, u))
    return 0.5 * ((there**2).sum(1).mean() + (back**2).sum(1).mean())


def negative_jacobian(u: Tensor) -> Tensor:
    """Mean of ``relu(-det J)``: penalises folding, zero for any orientation-preserving map."""
    return F.relu(-jacobian_determinant(u)).mean()


def soft_dice(a: Tensor, b: Tensor, eps: float = 1e-5) -> Tensor:
    """``1 - mean soft Dice`` over channels of one-hot / probability maps ``(B, K, D, H, W)``."""
    dims = (0, 2, 3, 4)
    inter = (a * b).sum(dims)
    return 1.0 - ((2 * inter + eps) / (a.sum(dims) + b.sum(dims) + eps)).mean()


@dataclass
class LossWeights:
    """The objective's settings (config key ``<method>.loss``; VoxelMorph's objective uses ``similarity``,
    ``ncc_window``, ``sim``, ``smooth`` and ``dice``); defaults as in ``config/config.yaml``."""

    similarity: str = "ncc"
    ncc_window: int = 9
    sim: float = 1.0
    middle: float = 0.5
    smooth: float = 1.0
    inverse: float = 0.1
    jacobian: float = 10.0
    dice: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _similarity(w: "LossWeights"):
    if w.similarity == "ncc":
        return lambda a, b: local_ncc(a, b, w.ncc_window)
    if w.similarity == "mse":
        return mse
    raise ValueError(f"unknown similarity {w.similarity!r} (ncc or mse)")


def _weighted(parts: dict[str, Tensor], w: LossWeights) -> tuple[Tensor, dict[str, float]]:
    """The weighted sum of the loss terms (weights by term name) and each term as a float."""
    total = sum(getattr(w, k) * v for k, v in parts.items())
    return total, {k: float(v.detach()) for k, v in parts.items()}


def registration_loss(
    out: dict[str, Tensor],
    moving: Tensor,
    fixed: Tensor,
    w: LossWeights,
    moving_onehot: Tensor | None = None,
    fixed_onehot: Tensor | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """Symmetric objective for one batch of network outputs (see :class:`~dccnnreg.model.DCCNNLSTMReg`).

    Similarity both ways (moving onto fixed and fixed onto moving) and in the middle space,
    diffusion smoothness of both half-maps, inverse consistency of the full maps, a folding
    penalty, and a soft Dice term when one-hot label maps ``(B, K, D, H, W)`` are given and
    ``w.dice > 0``. Returns the total and its parts as floats.
    """
    sim = _similarity(w)
    fwd, inv = out["forward"], out["inverse"]
    moved, fixed_back = paired(warp, (moving, fwd), (fixed, inv))
    parts = {
        "sim": 0.5 * (sim(moved, fixed) + sim(fixed_back, moving)),
        "middle": sim(*paired(warp, (moving, out["psi_m"]), (fixed, out["psi_f"]))),
        "smooth": 0.5 * (diffusion(out["psi_m"]) + diffusion(out["psi_f"])),
        "inverse": inverse_consistency(fwd, inv),
        "jacobian": 0.5 * (negative_jacobian(fwd) + negative_jacobian(inv)),
    }
    if w.dice > 0 and moving_onehot is not None and fixed_onehot is not None:
        moved_onehot, fixed_onehot_back = paired(warp, (moving_onehot, fwd), (fixed_onehot, inv))
        parts["dice"] = 0.5 * (soft_dice(moved_onehot, fixed_onehot) + soft_dice(fixed_onehot_back, moving_onehot))
    return _weighted(parts, w)


def middle_loss(half: dict[str, Tensor], moving: Tensor, fixed: Tensor, w: LossWeights,
                detail_sigma: float = 0.0) -> tuple[Tensor, dict[str, float]]:
    """The symmetric objective of refinement, on the half-maps alone (no inverse needed): similarity of both
    images in the middle space, diffusion of both half-maps and their folding penalty, weighted by ``w.sim``,
    ``w.smooth`` and ``w.jacobian``. Exchanging the images and the paths leaves it unchanged. With
    ``detail_sigma`` > 0 the diffusion is that of the half-maps' detail, their difference from their
    :func:`~dccnnreg.transforms.gaussian_smooth` of ``detail_sigma`` voxels (:func:`detail`)."""
    m, f = half["psi_m"], half["psi_f"]
    rough_m, rough_f = detail(torch.cat([m, f]), detail_sigma).split(m.shape[0]) if detail_sigma > 0 else (m, f)
    parts = {
        "sim": _similarity(w)(*paired(warp, (moving, m), (fixed, f))),
        "smooth": 0.5 * (diffusion(rough_m) + diffusion(rough_f)),
        "jacobian": 0.5 * (negative_jacobian(m) + negative_jacobian(f)),
    }
    return _weighted(parts, w)


def pairwise_loss(
    out: dict[str, Tensor],
    moving: Tensor,
    fixed: Tensor,
    w: LossWeights,
    moving_onehot: Tensor | None = None,
    fixed_onehot: Tensor | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """VoxelMorph's objective (:class:`~dccnnreg.voxelmorph_net.VoxelMorphNet`): similarity of the
    moved image to the fixed one, diffusion of the velocity ``out["velocity"]``, and soft Dice when
    one-hot maps are given and ``w.dice > 0``. Uses only ``similarity``, ``ncc_window``, ``sim``,
    ``smooth`` and ``dice`` of ``w``.
    """
    fwd = out["forward"]
    parts = {"sim": _similarity(w)(warp(moving, fwd), fixed), "smooth": diffusion(out["velocity"])}
    if w.dice > 0 and moving_onehot is not None and fixed_onehot is not None:
        parts["dice"] = soft_dice(warp(moving_onehot, fwd), fixed_onehot)
    return _weighted(parts, w)

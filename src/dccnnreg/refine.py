"""Instance optimisation: refine one pair's symmetric registration by gradient descent on the training objective.

Starting from the network's half-maps (``psi_m``, ``psi_f`` and their inverses, see
:class:`~dccnnreg.model.DCCNNLSTMReg`), one stationary velocity ``w`` ``(B, 3, d, h, w)`` (voxel units of a
grid ``scale`` times coarser than the images, smoothed by a Gaussian and integrated there, as SyN smooths
its updates; its exponentials are upsampled with :func:`~dccnnreg.transforms.resize_field`) moves both
paths in opposite directions through the middle space:

    psi_m <- psi_m o exp(w),   psi_f <- psi_f o exp(-w),
    psi_m^-1 <- exp(-w) o psi_m^-1,   psi_f^-1 <- exp(w) o psi_f^-1,

so ``phi_MF = psi_m o exp(2w) o psi_f^-1`` remains a composition of diffeomorphisms (scaling and squaring,
:func:`~dccnnreg.transforms.integrate_velocity`). Exchanging moving and fixed exchanges the half-maps and
negates ``w``; the objective (middle-space similarity, smoothness and folding penalty of the half-maps, on
the image grid, weighted as in training but for the smoothness, ``smooth_factor`` times heavier and, with
``detail_sigma`` > 0, taken of the half-maps' detail only (:func:`~dccnnreg.losses.detail`); with
``inverse`` > 0 also the inverse consistency of the full maps on the grid, see :class:`RefineConfig`) is
symmetric in the two paths and Adam is equivariant to the sign of the gradient, so the refined (B, A)
registration is the refined (A, B) one with its paths exchanged: the two results stay inverse maps of each other.
``w`` starts at zero (the network's answer).

The maps are exact diffeomorphisms only in the continuum: on the grid a large or sharp ``w`` can still fold a
few voxels. Refinement never adds a fold: while the refined forward or inverse map folds a voxel that the
network's maps do not, ``w`` shrinks by ``UNFOLD_SHRINK`` (at most ``UNFOLD_TRIES`` times, then the network's
answer is kept). The check is symmetric in the two paths, so exchanging moving and fixed still exchanges the
results.
"""

from __future__ import annotations

import importlib
import logging
import math
from dataclasses import dataclass, replace

import torch

from . import checkpoint
from .losses import LossWeights, inverse_consistency, middle_loss
from .model import HALF_MAPS, full_maps, polish_inverses
from .transforms import compose, gaussian_smooth, integrate_velocity, jacobian_determinant, paired, resize_field

Tensor = torch.Tensor
UNFOLD_SHRINK, UNFOLD_TRIES = 0.75, 10  # w's backtracking against folds: 10 shrinks by 3/4 (down to 1/18)
# exp(w)'s longest piece, voxels (:func:`squarings`). Against a count fixed from Adam's bound (|w| <= lr x steps,
# pieces within a quarter voxel, as ITK's exponential): 24 steps of the detail prior, 3 mm, 8 known-warp and 6
# inter-subject pairs: the same Dice (+-0.0004), EPE (+-0.002 mm) and inverse consistency; the loop in 0.71x the time.
PIECE_VOXELS = 0.5
log = logging.getLogger(__name__)


@dataclass
class RefineConfig:
    """Settings of the instance optimisation (config ``register.refine``); ``steps: 0`` turns it off.

    ``inverse`` weighs :func:`~dccnnreg.losses.inverse_consistency` of the full maps as they are exported
    (grid fields composed by trilinear interpolation) in the objective; the network's inverse paths are then
    polished first (:func:`~dccnnreg.model.polish_inverses`), so the term sees the maps' own disagreement.

    ``smooth_factor`` multiplies the model's training smoothness weight: fitted to one pair, the similarity term
    also fits noise and bends the maps sharply, which training over many pairs averages out
    (``bench/refine_smooth.py``, 3 mm: 4 against 1, +0.005 and +0.009 Dice on inter-subject real-anatomy pairs with
    two networks, Dice +0.009 and EPE 0.90 -> 0.74 mm on known warps, inverse-consistency error down 18-25 %).
    Penalising the whole half-maps' roughness also shrinks every displacement towards none (known warps: the
    refined field's least-squares slope against the true one 0.90, ``bench/known_warp_shrinkage.py``);
    ``detail_sigma`` > 0 penalises only their detail finer than a Gaussian of that many voxels, so a smooth
    displacement keeps its size (slope 0.99 with ``detail_sigma: 2``)."""

    steps: int = 0
    lr: float = 0.05
    scale: int = 1
    sigma: float = 1.0
    inverse: float = 0.0
    smooth_factor: float = 4.0
    detail_sigma: float = 0.0
    int_steps: int | None = None  # squarings of exp(w); None: :func:`squarings` picks them from w

    def __post_init__(self):
        if (self.steps < 0 or self.lr <= 0 or self.scale < 1 or self.sigma < 0 or self.inverse < 0
                or self.smooth_factor < 0 or self.detail_sigma < 0 or (self.int_steps or 0) < 0):
            raise ValueError("refine needs steps >= 0, lr > 0, scale >= 1, sigma >= 0, inverse >= 0, "
                             f"smooth_factor >= 0, detail_sigma >= 0, int_steps >= 0: {self}")


def refinement(model_path, config: RefineConfig) -> tuple[RefineConfig, LossWeights] | None:
    """What :func:`~dccnnreg.register.register_pair` needs to refine a model's registrations with ``config``:
    the settings and the weights the model was trained with; None when ``config.steps`` is 0.

    Also imports, once per process, what torch's first optimiser imports (``torch._dynamo``, 1-2 s on a CPU),
    so that it is not timed as the first pair's refinement."""
    if not config.steps:
        return None
    importlib.import_module("torch._dynamo")
    return config, checkpoint.training_loss(model_path)


def objective_weights(weights: LossWeights, config: RefineConfig) -> LossWeights:
    """The training weights ``weights`` with the smoothness weight times ``config.smooth_factor``."""
    return replace(weights, smooth=weights.smooth * config.smooth_factor)


def squarings(w: Tensor, int_steps: int | None = None) -> int:
    """Scaling-and-squaring steps for ``exp(w)`` (``w`` ``(B, 3, d, h, w)``, voxels): ``int_steps``, or as few as keep
    each of its ``2**n`` pieces within :data:`PIECE_VOXELS` where ``w`` is longest, so that the count follows ``w`` as
    it grows from zero (refinement's first steps integrate nothing). The same for ``w`` and ``-w``: exchanging moving
    and fixed keeps it."""
    if int_steps is not None:
        return int_steps
    longest = float(w.detach().square().sum(1).max().sqrt())  # 30x faster than norm(dim=1) on a CPU
    return math.ceil(math.log2(longest / PIECE_VOXELS)) if longest > PIECE_VOXELS else 0


def increments(w: Tensor, config: RefineConfig, shape) -> Tensor:
    """``exp(w)`` then ``exp(-w)`` (``(2B, 3, *shape)``) of ``w`` smoothed by a Gaussian of ``config.sigma``
    voxels: integrated on the grid of ``w`` (:func:`squarings`), resampled to ``shape``."""
    w = gaussian_smooth(w, config.sigma)
    return resize_field(integrate_velocity(torch.cat([w, -w]), squarings(w, config.int_steps)), shape)


def moved_paths(half: dict[str, Tensor], inc: Tensor, inverses: bool = True) -> dict[str, Tensor]:
    """The half-maps moved by the :func:`increments` ``inc``: ``psi_m``, ``psi_f`` and, with ``inverses``,
    ``psi_m_inv``, ``psi_f_inv``."""
    b = inc.shape[0] // 2
    moved = compose(torch.cat([half["psi_m"], half["psi_f"]]), inc)  # inc is already exp(w), exp(-w) stacked
    out = {"psi_m": moved[:b], "psi_f": moved[b:]}
    if inverses:
        out.update(zip(("psi_m_inv", "psi_f_inv"),
                       paired(compose, (inc[b:], half["psi_m_inv"]), (inc[:b], half["psi_f_inv"]))))
    return out


def objective(half: dict[str, Tensor], w: Tensor, moving: Tensor, fixed: Tensor, weights: LossWeights,
              config: RefineConfig) -> Tensor:
    """The refinement objective of velocity ``w`` for the half-maps ``half`` and images ``(B, 1, D, H, W)``:
    :func:`~dccnnreg.losses.middle_loss` with ``weights`` (as :func:`objective_weights` gives them), plus
    ``config.inverse`` times the full maps' :func:`~dccnnreg.losses.inverse_consistency`."""
    paths = moved_paths(half, increments(w, config, tuple(moving.shape[2:])), inverses=config.inverse > 0)
    loss = middle_loss(paths, moving, fixed, weights, config.detail_sigma)[0]
    if config.inverse:
        maps = full_maps(paths)
        loss = loss + config.inverse * inverse_consistency(maps["forward"], maps["inverse"])
    return loss


def folded(maps: dict[str, Tensor]) -> Tensor:
    """Where the forward and the inverse field of ``maps`` (each ``(B, 3, D, H, W)``) have a non-positive Jacobian
    determinant: bool ``(2, B, D, H, W)``."""
    return torch.stack([jacobian_determinant(maps[k]) <= 0 for k in ("forward", "inverse")])


def refine(half: dict[str, Tensor], moving: Tensor, fixed: Tensor, weights: LossWeights,
           config: RefineConfig) -> tuple[dict[str, Tensor], list[float]]:
    """Refine a pair (images ``(B, 1, D, H, W)``, network output ``half``) for ``config.steps`` Adam steps on
    :func:`objective` (the symmetric part of the training objective ``weights``, smoothness scaled by
    :func:`objective_weights`; without ``config.inverse`` the inverse paths follow by construction and are not
    needed on the way). Returns the refined half-maps with their full maps (:func:`~dccnnreg.model.full_maps`,
    float32, detached) and the objective before each step (not evaluated after the last: registration does not
    need it). ``w`` shrinks while it adds folds (see the module docstring)."""
    half, weights = {k: half[k].detach().float() for k in HALF_MAPS}, objective_weights(weights, config)
    if config.inverse:
        half = {k: v for k, v in polish_inverses(half).items() if k in HALF_MAPS}
    moving, fixed = moving.float(), fixed.float()
    shape = tuple(moving.shape[2:])
    coarse = tuple(max(2, -(-n // config.scale)) for n in shape)
    w = torch.zeros(moving.shape[0], 3, *coarse, device=moving.device, requires_grad=True)
    opt = torch.optim.Adam([w], lr=config.lr)
    losses = []
    with torch.enable_grad(), torch.autocast(moving.device.type, enabled=False):
        for _ in range(config.steps):
            loss = objective(half, w, moving, fixed, weights, config)
            losses.append(float(loss.detach()))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    with torch.no_grad():
        base, w = full_maps(half), w.detach()
        allowed = folded(base)  # the network's own folds, if any
        for shrinks in range(UNFOLD_TRIES + 1):
            out = full_maps(moved_paths(half, increments(w * UNFOLD_SHRINK**shrinks, config, shape)))
            if not (folded(out) & ~allowed).any():
                break
        else:
            log.warning("refinement kept the network's answer: it folded voxels even at %.3g of its length",
                        UNFOLD_SHRINK**UNFOLD_TRIES)
            return base, losses
    if shrinks:
        log.warning("refinement's velocity scaled by %.3g: at full length it folded voxels", UNFOLD_SHRINK**shrinks)
    return out, losses

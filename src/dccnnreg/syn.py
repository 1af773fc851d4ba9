"""ANTs SyN baseline through antspyx: a pair in, the same :class:`~dccnnreg.register.Registration`
out as the networks (fields on the fixed grid in the convention of :mod:`dccnnreg.transforms`).

The inputs are already affinely aligned on the network grid, so the presets are deformable-only
(``[so]``: SyN with no rigid or affine stage):

* ``quick``: ``antsRegistrationSyNQuick[so]`` (mutual information, 100x70x50x0 iterations);
* ``quick_cc``: ``antsRegistrationSyNQuickRepro[so]`` (cross-correlation radius 2, the same
  iterations, fixed random seed): better than ``quick`` for T1 to T1 at a similar cost;
* ``full``: ``antsRegistrationSyN[so]`` (cross-correlation radius 2, 100x70x50x20 iterations),
  the usual SyN baseline of registration papers and the slowest.

ANTs' forward and inverse transforms are each composed into one displacement field
(``ants.apply_transforms(..., compose=...)``); the moving image and labels are then warped by the
forward field exactly as for the networks, so every method is evaluated the same way.
"""

from __future__ import annotations

import tempfile
import time


from .data import Sample, check_common_grid
from .register import Registration
from .world import read_ants_field, to_ants

PRESETS = {
    "quick": "antsRegistrationSyNQuick[so]",
    "quick_cc": "antsRegistrationSyNQuickRepro[so]",
    "full": "antsRegistrationSyN[so]",
}


def register_syn(moving: Sample, fixed: Sample, preset: str = "full", seed: int = 0) -> Registration:
    """Register ``moving`` onto ``fixed`` (same grid) with ANTs SyN; ``seconds`` is antsRegistration's time."""
    import ants

    if preset not in PRESETS:
        raise ValueError(f"unknown SyN preset {preset!r}; one of {sorted(PRESETS)}")
    check_common_grid([fixed, moving])
    f, m = to_ants(fixed.image, fixed.affine), to_ants(moving.image, moving.affine)
    with tempfile.TemporaryDirectory(prefix="dccnnreg-syn-") as tmp:
        start = time.perf_counter()
        reg = ants.registration(fixed=f, moving=m, type_of_transform=PRESETS[preset], random_seed=seed,
                                outprefix=f"{tmp}/syn_")
        seconds = time.perf_counter() - start
        fwd = read_ants_field(ants.apply_transforms(f, m, reg["fwdtransforms"], compose=f"{tmp}/fwd_"))[0]
        inv = read_ants_field(ants.apply_transforms(m, f, reg["invtransforms"], compose=f"{tmp}/inv_"))[0]
    return Registration.from_fields(moving, fwd, inv, seconds)

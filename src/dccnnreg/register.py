"""Registration with a trained model: NIfTI in, warped images and ANTs-readable fields out."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import layout
from .data import Sample, SubjectFiles, check_common_grid, image_tensor, load_sample
from .device import autocast
from .metrics import jacobian_det
from .losses import LossWeights
from .model import HALF_MAPS, DCCNNLSTMReg, polish_inverses
from .native import AtlasSpace, write_subject_products
from .nifti import atomic_path, save_volume, subject_errors
from .refine import RefineConfig, refine
from .synth import apply_field
from .world import write_ants_field


@dataclass
class Registration:
    """Result for one pair on the fixed grid: voxel fields ``(3, X, Y, Z)`` and the warped volumes."""

    forward: np.ndarray
    inverse: np.ndarray
    warped: np.ndarray
    warped_labels: np.ndarray | None
    jacobian: np.ndarray
    seconds: float
    refine_seconds: float = 0.0


def _elapsed(start: float, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def register_pair(model: DCCNNLSTMReg, moving: Sample, fixed: Sample, device, precision: str = "fp32",
                  refinement: tuple[RefineConfig, LossWeights] | None = None) -> Registration:
    """Register ``moving`` onto ``fixed`` (same grid). Fields are float32 whatever the precision.

    ``refinement`` (settings and the objective's weights, for the symmetric network only) refines the
    network's answer for the pair (:func:`~dccnnreg.refine.refine`, fp32), timed as ``refine_seconds``. The
    symmetric network's inverse paths are polished after each (:func:`~dccnnreg.model.polish_inverses`, fp32)."""
    check_common_grid([fixed, moving])
    m, f = image_tensor(moving.image, device), image_tensor(fixed.image, device)
    start = time.perf_counter()
    with torch.no_grad():
        with autocast(device, precision):
            out = model(m, f)
        if "psi_m" in out:
            out = polish_inverses({k: out[k].float() for k in HALF_MAPS})
    seconds = _elapsed(start, device)
    refine_seconds = 0.0
    if refinement is not None and refinement[0].steps:
        if "psi_m" not in out:
            raise ValueError(f"refinement needs the symmetric network's half-maps; {model.method} has none")
        start = time.perf_counter()
        out, _ = refine(out, m, f, refinement[1], refinement[0])
        with torch.no_grad():
            out = polish_inverses(out)
        refine_seconds = _elapsed(start, device)
    fwd, inv = (out[k].float()[0].cpu().numpy() for k in ("forward", "inverse"))
    warped, warped_labels = apply_field(moving.image, moving.labels, fwd, label_mode="generic")
    return Registration(fwd, inv, warped, warped_labels, jacobian_det(fwd).astype(np.float32), seconds, refine_seconds)


def output_paths(prefix) -> dict[str, Path]:
    """Files written by :func:`write_registration` for ``prefix`` (e.g. ``out/sub-01``)."""
    return layout.files(prefix, layout.REGISTRATION)


def write_registration(reg: Registration, affine: np.ndarray, prefix) -> dict[str, Path]:
    """Write the warped image and labels, the forward / inverse ANTs fields, the Jacobian map and
    the times (``*_time.json``: ``seconds`` of the method, ``refine_seconds`` of the refinement).

    ``*_fwd_warp.nii.gz`` maps the moving image onto the fixed grid
    (``antsApplyTransforms -r fixed -i moving -t fwd``); ``*_inv_warp.nii.gz`` the reverse.
    """
    paths = output_paths(prefix)
    save_volume(reg.warped, affine, paths["warped"], np.float32)
    if reg.warped_labels is not None:
        save_volume(reg.warped_labels, affine, paths["warped_labels"], np.int32)
    write_ants_field(reg.forward, affine, paths["forward"])
    write_ants_field(reg.inverse, affine, paths["inverse"])
    save_volume(reg.jacobian, affine, paths["jacobian"], np.float32)
    with atomic_path(paths["timing"]) as tmp:
        Path(tmp).write_text(json.dumps({"seconds": reg.seconds, "refine_seconds": reg.refine_seconds}))
    return paths


def register_cohort(register, fixed_path, subjects: list[SubjectFiles], out_dir, dataset: str, what: str,
                    atlas: AtlasSpace | None = None) -> float:
    """Register each subject onto ``fixed_path`` with ``register(moving, fixed) -> Registration`` and write
    its files into ``out_dir`` (with the subject-space products of :mod:`dccnnreg.native` when ``atlas``
    is given and the subject has its native files). Logs progress; returns the wall time in seconds
    including I/O."""
    fixed = load_sample("atlas", fixed_path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for k, s in enumerate(subjects, 1):
        with subject_errors(dataset, s.name):
            moving = load_sample(s.name, s.brain, s.labels)
        reg = register(moving, fixed)
        write_registration(reg, fixed.affine, out_dir / s.name)
        if atlas is not None and s.native:
            with subject_errors(dataset, s.name):
                write_subject_products(reg, moving.image, atlas, fixed.affine, s.native, s.affine, out_dir / s.name)
        logging.info("[%d/%d] %s: %s %.2f s", k, len(subjects), s.name, what, reg.seconds)
    seconds = time.perf_counter() - start
    if subjects:
        logging.info("%d pairs in %.1f s including I/O (%.0f pairs/hour)", len(subjects), seconds,
                     3600 * len(subjects) / seconds)
    return seconds

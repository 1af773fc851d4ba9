"""The workflow's registration jobs: a batch of subjects registered onto the atlas by a trained network or by
SyN, each subject's files (and subject-space products) written as it is done, with progress in the log."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from . import checkpoint
from .data import SubjectFiles, load_sample, subject_files
from .device import pick_device
from .native import AtlasSpace, load_atlas_space, write_subject_products
from .nifti import subject_errors
from .refine import RefineConfig, refinement
from .register import register_pair, write_registration
from .syn import register_syn


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
        refined = f" + refinement {reg.refine_seconds:.2f} s" if reg.refine_seconds else ""
        logging.info("[%d/%d] %s: %s %.2f s%s", k, len(subjects), s.name, what, reg.seconds, refined)
    seconds = time.perf_counter() - start
    if subjects:
        logging.info("%d pairs in %.1f s including I/O (%.0f pairs/hour)", len(subjects), seconds,
                     3600 * len(subjects) / seconds)
    return seconds


def job_atlas(inputs) -> dict:
    """The atlas files of a registration job's ``input`` (``fixed``, ``mask``, ``template_labels``, ``label_names``)."""
    return {"brain": inputs.fixed, "mask": inputs.mask, "template_labels": inputs.template_labels,
            "label_names": getattr(inputs, "label_names", None) or None}


def job_subjects(inputs, ids: dict) -> list[SubjectFiles]:
    """The subjects of a registration job from its ``input`` lists (``moving``, ``moving_labels`` and, for
    subject-space products, ``native`` and ``affines``) and ``ids`` (``subjects``, ``labelled``)."""
    products = "native" in inputs.keys()
    return subject_files(ids["subjects"], list(inputs.moving), ids["labelled"], list(inputs.moving_labels),
                         list(inputs.native) if products else None, list(inputs.affines) if products else None)


def _atlas_space(atlas: dict, subjects: list[SubjectFiles]):
    """The atlas for subject-space products, when any subject of the job gets them."""
    if not any(s.native for s in subjects):
        return None
    return load_atlas_space(atlas["brain"], atlas["mask"], atlas["template_labels"], atlas.get("label_names"))


def register_network_job(model_path, atlas: dict, subjects: list[SubjectFiles], out_dir, dataset: str,
                         precision: str, refine: dict | None = None, subdivision: int = 1) -> None:
    """Register a batch of subjects to ``atlas['brain']`` with a trained network, loaded once; ``refine``
    (:class:`~dccnnreg.refine.RefineConfig` settings) refines each pair on the model's training objective;
    ``subdivision`` > 1 writes the symmetric network's fields on a grid that many times finer."""
    device = pick_device()
    model = checkpoint.load_model(model_path, device)
    config = RefineConfig(**refine) if refine else RefineConfig()
    refining = refinement(model_path, config)
    register = lambda moving, fixed: register_pair(model, moving, fixed, device, precision, refining, subdivision)
    what = (f"{model.method} on {device}" + (f", refined {config.steps} steps" if refining else "")
            + (f", fields on a {subdivision}x finer grid" if subdivision > 1 else ""))
    register_cohort(register, atlas["brain"], subjects, out_dir, dataset, what, _atlas_space(atlas, subjects))


def register_syn_job(atlas: dict, subjects: list[SubjectFiles], out_dir, dataset: str, preset: str, seed: int) -> None:
    """Register subjects to ``atlas['brain']`` with ANTs SyN."""
    register = lambda moving, fixed: register_syn(moving, fixed, preset, seed)
    register_cohort(register, atlas["brain"], subjects, out_dir, dataset, f"SyN ({preset})", _atlas_space(atlas, subjects))

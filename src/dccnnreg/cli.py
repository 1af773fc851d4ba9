"""The ``dccnnreg`` command line: demo, train, register, evaluate, info."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import nibabel as nib
import pandas as pd
import torch
import yaml

from . import checkpoint, distributed, networks
from .data import load_sample
from .config import FIELD_SPACING_MM, field_subdivision, method_settings
from .device import pick_device
from .evaluate import evaluate_pair
from .nifti import InputError, atomic_path, load_volume
from .refine import RefineConfig, refinement
from .register import register_pair, write_registration
from .train import TrainConfig, train
from .world import read_ants_field


def field_subdivision_argument(p: argparse.ArgumentParser, default: int | str = "auto") -> None:
    """``--field-subdivision`` (config ``register.field_subdivision``): a positive integer or ``auto``."""
    p.add_argument("--field-subdivision", type=lambda s: s if s == "auto" else int(s), default=default,
                   help="DCCNN-LSTM-Reg's forward / inverse fields written on a grid this many times finer; auto: "
                        f"fields at {FIELD_SPACING_MM:g} mm or finer (default: %(default)s)")


def refine_arguments(p: argparse.ArgumentParser, steps: int = RefineConfig.steps) -> None:
    """The ``--refine-*`` options of :class:`RefineConfig` (``--refine-steps`` defaulting to ``steps``)."""
    p.add_argument("--refine-steps", type=int, default=steps,
                   help="instance optimisation steps on the model's training objective (dccnn_lstm; 0: off)")
    p.add_argument("--refine-lr", type=float, default=RefineConfig.lr)
    p.add_argument("--refine-scale", type=int, default=RefineConfig.scale)
    p.add_argument("--refine-sigma", type=float, default=RefineConfig.sigma)
    p.add_argument("--refine-inverse", type=float, default=RefineConfig.inverse,
                   help="weight of the maps' inverse consistency in the refinement objective")
    p.add_argument("--refine-smooth-factor", type=float, default=RefineConfig.smooth_factor,
                   help="the training smoothness weight times this, in the refinement objective")
    p.add_argument("--refine-detail-sigma", type=float, default=RefineConfig.detail_sigma,
                   help="> 0: the smoothness term penalises only the maps' detail beyond a Gaussian of this many voxels")


def refine_config(a: argparse.Namespace) -> RefineConfig:
    """The :class:`RefineConfig` of parsed :func:`refine_arguments`."""
    return RefineConfig(a.refine_steps, a.refine_lr, a.refine_scale, a.refine_sigma, a.refine_inverse,
                        a.refine_smooth_factor, a.refine_detail_sigma)


def _samples(table_path):
    """Subjects from a TSV with columns ``subject``, ``image`` and optional ``labels``."""
    df = pd.read_csv(table_path, sep="\t", dtype=str, keep_default_na=False)
    missing = {"subject", "image"} - set(df.columns)
    if missing:
        raise InputError(f"{table_path}: missing columns {sorted(missing)}")
    return [load_sample(r["subject"], r["image"], r.get("labels") or None) for _, r in df.iterrows()]


def cmd_train(a) -> None:
    cfg = yaml.safe_load(Path(a.config).read_text()) if a.config else {}
    atlas = load_sample("atlas", a.atlas, a.atlas_labels) if a.atlas else None
    settings, schedule = method_settings(a.method, cfg)
    with distributed.joined():  # under torchrun: one process per GPU
        out = train(
            _samples(a.train_list),
            a.out,
            networks.model_config(a.method, settings),
            TrainConfig.from_dict(schedule),
            pick_device(a.device),
            atlas=atlas,
            val_set=_samples(a.val_list) if a.val_list else None,
            progress=not a.quiet,
        )
    print(out)


def cmd_register(a) -> None:
    device = pick_device(a.device)
    model = checkpoint.load_model(a.model, device)
    fixed = load_sample("fixed", a.fixed, a.fixed_labels)
    moving = load_sample("moving", a.moving, a.moving_labels)
    spacing = float(nib.affines.voxel_sizes(fixed.affine).max())
    reg = register_pair(model, moving, fixed, device, a.precision, refinement(a.model, refine_config(a)),
                        field_subdivision(a.field_subdivision, spacing))
    for name, path in write_registration(reg, fixed.affine, a.out_prefix).items():
        print(f"{name}\t{path}")
    print(f"seconds\t{reg.seconds:.3f}")
    print(f"refine_seconds\t{reg.refine_seconds:.3f}")


def cmd_evaluate(a) -> None:
    fixed = load_volume(a.fixed_labels, labels=True)
    warped = load_volume(a.warped_labels, labels=True)
    fwd = read_ants_field(a.forward)[0] if a.forward else None
    inv = read_ants_field(a.inverse)[0] if a.inverse else None
    labels = [int(x) for x in a.labels.split(",")] if a.labels else None
    table, summary = evaluate_pair(fixed.data, warped.data, fixed.affine, fwd, inv, labels=labels)
    with atomic_path(a.out_table) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    with atomic_path(a.out_summary) as tmp:
        Path(tmp).write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))


def cmd_demo(a) -> None:
    from .demo import write_demo

    for name, path in write_demo(a.out, a.spacing, a.seed, a.bias).items():
        print(f"{name}\t{path}")


def cmd_info(a) -> None:
    ckpt = checkpoint.load(a.model)
    n = sum(v.numel() for v in ckpt["state_dict"].values())
    print(json.dumps({"method": checkpoint.method_of(ckpt), "step": ckpt["step"], "parameters": n,
                      "model_config": ckpt["model_config"],
                      "train_config": ckpt.get("train_config"), "resumed_at_steps": ckpt.get("resumed", [])},
                     indent=2))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dccnnreg", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train the network (resumes from the newest checkpoint in --out)")
    t.add_argument("--train-list", required=True, help="TSV: subject, image[, labels]")
    t.add_argument("--val-list", help="TSV of validation subjects")
    t.add_argument("--atlas", help="atlas image on the network grid")
    t.add_argument("--atlas-labels")
    t.add_argument("--method", default="dccnn_lstm", choices=sorted(networks.METHODS))
    t.add_argument("--config", help="YAML (e.g. the workflow config) with the schedule 'train' and the method's section "
                   "{net, loss}; missing keys take the defaults of config/config.yaml")
    t.add_argument("--out", required=True)
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    r = sub.add_parser("register", help="register a moving image onto a fixed image")
    r.add_argument("--model", required=True)
    r.add_argument("--fixed", required=True)
    r.add_argument("--moving", required=True)
    r.add_argument("--fixed-labels")
    r.add_argument("--moving-labels")
    r.add_argument("--out-prefix", required=True)
    r.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    field_subdivision_argument(r)
    refine_arguments(r)
    r.set_defaults(func=cmd_register)

    e = sub.add_parser("evaluate", help="Dice / HD95 / folding of a registered pair")
    e.add_argument("--fixed-labels", required=True)
    e.add_argument("--warped-labels", required=True)
    e.add_argument("--forward", help="forward ANTs field")
    e.add_argument("--inverse", help="inverse ANTs field")
    e.add_argument("--labels", help="comma-separated labels to score (default: all shared)")
    e.add_argument("--out-table", required=True)
    e.add_argument("--out-summary", required=True)
    e.set_defaults(func=cmd_evaluate)

    d = sub.add_parser("demo", help="write the demo cohort: a template and a small BIDS dataset with label maps")
    d.add_argument("--out", default="resources/demo", help="folder for template/ and bids/ (default: %(default)s)")
    d.add_argument("--spacing", type=float, default=3.0, help="voxel size in mm (default: %(default)s)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--bias", type=float, default=0.25, help="bias field strength, log scale (default: %(default)s)")
    d.set_defaults(func=cmd_demo)

    i = sub.add_parser("info", help="show a checkpoint's configuration")
    i.add_argument("--model", required=True)
    i.set_defaults(func=cmd_info)

    for s in (t, r):
        s.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
        s.add_argument("--threads", type=int, help="CPU threads for torch")
    return p


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    a = parser().parse_args(argv)
    if getattr(a, "threads", None):
        torch.set_num_threads(a.threads)
    try:
        a.func(a)
    except InputError as e:
        print(f"dccnnreg: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

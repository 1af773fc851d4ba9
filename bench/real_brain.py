"""Real-data check: every method on pairs made from the real labelled scan with known random warps.

    python bench/real_brain.py --out bench/results/real_brain.json

The scan in ``../shared/data/real_brain/`` is resampled to ``--spacing`` mm and is the fixed image;
deformed copies of it (random diffeomorphisms, a smooth bias field and noise,
:mod:`dccnnreg.known_warps`) are the moving images. The learned methods train (``train`` schedule
and model settings of ``--config``) on ``--train-pairs`` copies, pairing each with the scan and with
each other; all methods are then scored on ``--test-pairs`` other copies: Dice over the 30 standard
structures, end-point error of the forward field against the known one (mm, inside the brain),
% non-positive Jacobian, SDlogJ, seconds per pair (refinement apart). ``affine`` is no deformable registration;
``true`` (not run by default) scores the known field itself: the Dice that labels resampled once by the warp
allow; ``dccnn_lstm+refine`` is DCCNN-LSTM-Reg with instance optimisation (``--refine-*``). The JSON also holds
each structure's size and mean Dice by method (``dice_per_structure``).
Training resumes from ``--workdir`` when interrupted.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from dccnnreg import checkpoint, networks
from dccnnreg.config import field_subdivision, load_config, method_settings
from dccnnreg.data import Sample
from dccnnreg.device import describe, pick_device
from dccnnreg.evaluate import evaluate_pair
from dccnnreg.known_warps import KnownPair, endpoint_error_mm, make_known_pairs, resample_scan
from dccnnreg.preprocess import normalize_intensity
from dccnnreg.cli import field_subdivision_argument, refine_arguments, refine_config
from dccnnreg.refine import refinement
from dccnnreg.register import Registration, register_pair
from dccnnreg.syn import register_syn
from dccnnreg.train import TrainConfig, train
from dccnnreg.transforms import invert_field

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "real_brain"


def known_warp_study(data: Path, spacing: float, n_train: int, n_test: int, amplitude_mm: float, seed: int):
    """The real scan at ``spacing`` mm (the fixed image), its scored labels, and ``n_train`` then ``n_test``
    deformed copies of it (:func:`~dccnnreg.known_warps.make_known_pairs`, one generator seeded with ``seed``)."""
    npz = data / "oasis_subject_vol_seg.npz"
    if not npz.exists():
        raise SystemExit(f"real brain data not found: {npz} (see shared/data/real_brain/README.md)")
    d = np.load(npz)
    eval_labels = [int(x) for x in np.load(data / "eval_labels.npz")["labels"]]
    image, labels, affine = resample_scan(d["vol"], d["seg"], 1.0, spacing)
    scan = Sample("scan", normalize_intensity(image), labels, affine)
    rng = np.random.default_rng(seed)
    train_pairs = make_known_pairs(scan, n_train, rng, amplitude_mm)
    return scan, eval_labels, train_pairs, make_known_pairs(scan, n_test, rng, amplitude_mm)


def grid_inverse(true_forward: np.ndarray) -> torch.Tensor:
    """The field ``(1, 3, X, Y, Z)`` (float64) that inverts the known forward field ``(3, X, Y, Z)`` on the grid
    (:func:`~dccnnreg.transforms.invert_field`, 50 iterations from its negative)."""
    u = torch.as_tensor(true_forward, dtype=torch.float64)[None]
    return invert_field(u, -u, 50)


def known_answer(pair: KnownPair) -> Registration:
    """The pair's known forward field (and its :func:`grid_inverse`) scored as a registration: the Dice its twice
    resampled labels allow."""
    return Registration.from_fields(pair.moving, pair.true_forward, grid_inverse(pair.true_forward)[0].numpy(), 0.0)


def dice_per_structure(per_label: pd.DataFrame, labels: np.ndarray) -> list[dict]:
    """Each scored structure's voxels in the scan ``labels`` and its mean Dice over the pairs by method, from
    ``evaluate_pair``'s per-label tables (``per_label``: ``label``, ``dice``, ``method``): where methods differ."""
    dice = per_label.pivot_table(index="label", columns="method", values="dice", sort=False)
    return [{"label": int(label), "voxels": int((labels == label).sum()), **row.round(4).to_dict()}
            for label, row in dice.iterrows()]


def run_arguments(p: argparse.ArgumentParser, data: Path, workdir: str) -> None:
    """The options of every real-data benchmark: ``--data`` (default ``data``), ``--config`` (default: the demo's
    settings), ``--seed``, ``--threads``, ``--workdir`` (default ``bench/work/<workdir>``) and ``--out``."""
    p.add_argument("--data", default=str(data))
    p.add_argument("--config", nargs="+", default=[str(ROOT / "config" / "config.yaml"), str(ROOT / "config" / "demo.yaml")],
                   help="workflow config files, merged in order (default: the demo's settings)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int)
    p.add_argument("--workdir", default=str(ROOT / "bench" / "work" / workdir))
    p.add_argument("--out", required=True)


def parsed(p: argparse.ArgumentParser) -> argparse.Namespace:
    """``p``'s arguments, torch's threads set to ``--threads`` where it is given."""
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    return a


def method_arguments(p: argparse.ArgumentParser, methods: list[str], refine_steps: int,
                     field_subdivision: int | str = "auto") -> None:
    """``--methods`` (default ``methods``) and what :func:`learned_methods` and SyN read: ``--steps``, the
    ``--refine-*`` options (``--refine-steps`` defaulting to ``refine_steps``), ``--field-subdivision``,
    ``--syn-preset``, ``--device``."""
    p.add_argument("--methods", nargs="+", default=methods)
    p.add_argument("--steps", type=int, help="training steps (default: the config's)")
    refine_arguments(p, steps=refine_steps)  # dccnn_lstm+refine
    field_subdivision_argument(p, default=field_subdivision)
    p.add_argument("--syn-preset", default="full")
    p.add_argument("--device", default="auto")


def learned_methods(a: argparse.Namespace, cfg: dict, train_set: list[Sample], device, spacing: float,
                    val_every: int = 0, **train_options) -> dict:
    """Each learned method of ``a.methods`` (with ``+refine``: also refined by ``a``'s ``--refine-*``) trained, or
    resumed, on ``train_set`` in ``a.workdir``/method with ``cfg``'s schedule (``a.steps`` overriding its length,
    validation every ``val_every`` steps; ``train_options``: ``atlas``, ``val_set``), as ``method -> register(moving,
    fixed)``. DCCNN-LSTM-Reg writes its fields ``a.field_subdivision`` finer than the grid of ``spacing`` mm."""
    register = {}
    for method in sorted({m.split("+")[0] for m in a.methods} & set(networks.METHODS)):
        settings, schedule = method_settings(method, cfg)
        schedule = {**schedule, **({"steps": a.steps} if a.steps else {}), "val_every": val_every}
        path = train(train_set, Path(a.workdir) / method, networks.model_config(method, settings),
                     TrainConfig.from_dict(schedule), device, progress=True, **train_options)
        model = checkpoint.load_model(path, device)
        k = field_subdivision(a.field_subdivision, spacing) if method == "dccnn_lstm" else 1
        register[method] = lambda m, f, model=model, k=k: register_pair(model, m, f, device, subdivision=k)
        if f"{method}+refine" in a.methods:
            o = refinement(path, refine_config(a))
            register[f"{method}+refine"] = lambda m, f, model=model, o=o, k=k: register_pair(model, m, f, device,
                                                                                           refinement=o, subdivision=k)
    return register


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    run_arguments(p, DATA, "real_brain")
    method_arguments(p, ["affine", "syn", "voxelmorph", "dccnn_lstm", "dccnn_lstm+refine"], 20, field_subdivision=1)
    p.add_argument("--spacing", type=float, default=3.0, help="mm; the scan is 1 mm")
    p.add_argument("--train-pairs", type=int, default=8)
    p.add_argument("--test-pairs", type=int, default=4)
    p.add_argument("--amplitude-mm", type=float, default=15.0, help="velocity bound; mean displacement is about a fifth")
    a = parsed(p)
    scan, eval_labels, train_pairs, test_pairs = known_warp_study(Path(a.data), a.spacing, a.train_pairs, a.test_pairs,
                                                                  a.amplitude_mm, a.seed)
    affine = scan.affine
    cfg = load_config(*a.config)
    device = pick_device(a.device)
    mask = scan.labels > 0

    register = {"affine": None, "true": known_answer,
                "syn": lambda p: register_syn(p.moving, scan, a.syn_preset, a.seed)}
    learned = learned_methods(a, cfg, [t.moving for t in train_pairs], device, a.spacing, atlas=scan)
    register.update({m: (lambda p, fn=fn: fn(p.moving, scan)) for m, fn in learned.items()})

    rows, structures = [], []
    for k, pair in enumerate(test_pairs):
        for method in a.methods:
            reg = register[method](pair) if register[method] else None
            fwd = reg.forward if reg else np.zeros_like(pair.true_forward)
            warped = reg.warped_labels if reg else pair.moving.labels
            per_label, summary = evaluate_pair(scan.labels, warped, affine, fwd, reg.inverse if reg else None, mask,
                                               eval_labels)
            structures.append(per_label.assign(method=method))
            rows.append({"pair": k, "method": method, **summary, **endpoint_error_mm(fwd, pair.true_forward, affine, mask),
                         "seconds": reg.seconds if reg else 0.0, "refine_seconds": reg.refine_seconds if reg else 0.0})
            print(f"pair {k} {method:11s} Dice {summary['dice_mean']:.3f} EPE {rows[-1]['epe_mean_mm']:.2f} mm "
                  f"folding {summary['folding_pct']:.4f}%", flush=True)
    df = pd.DataFrame(rows)
    table = df.groupby("method", sort=False).mean(numeric_only=True).drop(columns="pair")
    print(table.to_string(float_format=lambda x: f"{x:.4g}"))
    result = {
        "device": describe(device),
        "settings": {k: v for k, v in vars(a).items() if k not in ("data", "workdir", "out")},
        "grid": list(scan.image.shape),
        "summary": table.reset_index().to_dict("records"),
        "pairs": rows,
        "dice_per_structure": dice_per_structure(pd.concat(structures), scan.labels),
    }
    if "syn" in table.index:
        syn = table.loc["syn"]
        result["targets"] = {m: {
            "dice_at_least_syn": bool(r.dice_mean >= syn.dice_mean),
            "epe_at_most_syn": bool(r.epe_mean_mm <= syn.epe_mean_mm),
            "no_folding_any_pair": bool(df[df["method"] == m]["folding_pct"].max() == 0),
            "time_fraction_of_syn": float((r.seconds + r.refine_seconds) / syn.seconds),
        } for m, r in table.iterrows() if m not in ("affine", "true", "syn")}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

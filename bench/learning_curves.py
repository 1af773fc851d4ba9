"""Where the learned methods' accuracy comes from: learning curves and one-change variants on real anatomy.

    python bench/learning_curves.py --out bench/results/learning_curves_cpu.json

Same data and split as ``bench/real_labelmaps.py`` (T1-like heads from the real label maps, the project's
affine stage, 3 mm grid). Each variant changes one setting of the base (the demo's network settings in
``--config``) and trains ``--steps`` steps, validating every ``--val-every`` (Dice of ``--val`` to the
template) so the curve shows whether it has flattened; then the inter-subject test pairs are scored without
refinement. Variants of DCCNN-LSTM-Reg: ``base``; ``full_res_lstm`` (LSTM steps at full resolution too);
``wide`` (twice the channels); ``smooth_x0.25`` (a quarter of the smoothness weight); ``inverse_x10`` (ten times
the inverse-consistency weight); ``two_subjects`` (half the training subjects). The curves of both learned
methods over a longer schedule are in ``bench/real_labelmaps.py``'s results.
Runs are kept in ``--workdir``; a rerun resumes them.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import time
from pathlib import Path

import numpy as np
import torch
from dccnnreg import checkpoint, networks
from dccnnreg.config import load_config, method_settings
from dccnnreg.data import load_sample
from dccnnreg.device import describe
from dccnnreg.evaluate import evaluate_pair
from dccnnreg.register import register_pair
from dccnnreg.train import TrainConfig, train
from dccnnreg.synth import BRAIN_STRUCTURES
from real_brain import parsed
from real_labelmaps import learning_curve, prepared_study, study_arguments


def scaled(term: str, factor: float):
    def change(cfg: dict) -> None:
        cfg["dccnn_lstm"]["loss"][term] = cfg["dccnn_lstm"]["loss"][term] * factor
    return change


def wider(cfg: dict) -> None:
    net = cfg["dccnn_lstm"]["net"]
    net["channels"], net["hidden"] = [2 * c for c in net["channels"]], [2 * c for c in net["hidden"]]


def full_res_lstm(cfg: dict) -> None:
    net = cfg["dccnn_lstm"]["net"]
    net["time_steps"] = [max(1, net["time_steps"][1]), *net["time_steps"][1:]]


# name -> (change of the config, number of training subjects kept or None for all)
VARIANTS = {
    "base": (None, None),
    "full_res_lstm": (full_res_lstm, None),
    "wide": (wider, None),
    "smooth_x0.25": (scaled("smooth", 0.25), None),
    "inverse_x10": (scaled("inverse", 10.0), None),
    "two_subjects": (None, 2),
}
METHOD = "dccnn_lstm"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    study_arguments(p)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--steps", type=int, default=300)
    a = parsed(p)
    files, work = prepared_study(a), Path(a.workdir)
    sample = lambda s: load_sample(s, files[s]["brain"], files[s]["labels"])
    atlas, device = sample("atlas"), torch.device("cpu")
    base = load_config(*a.config)
    pairs = [(sample(m), sample(f)) for m, f in itertools.combinations(a.test, 2)]
    out = Path(a.out)
    results = json.loads(out.read_text())["variants"] if out.exists() else {}
    for name in a.variants:
        change, keep = VARIANTS[name]
        cfg = copy.deepcopy(base)
        if change:
            change(cfg)
        settings, schedule = method_settings(METHOD, cfg)
        schedule = {**schedule, "steps": a.steps, "val_every": a.val_every}
        run = work / "variants" / name
        start = time.perf_counter()
        path = train([sample(s) for s in a.train[:keep]], run, networks.model_config(METHOD, settings),
                     TrainConfig.from_dict(schedule), device, atlas=atlas, val_set=[sample(s) for s in a.val], progress=True)
        seconds = time.perf_counter() - start
        model = checkpoint.load_model(path, device)
        dice = [evaluate_pair(f.labels, register_pair(model, m, f, device).warped_labels, f.affine,
                              labels=BRAIN_STRUCTURES)[1]["dice_mean"] for m, f in pairs]
        results[name] = {"steps": a.steps, "settings": settings, "loss": schedule["loss"], "train_subjects": len(a.train[:keep]),
                         "test_dice": float(np.mean(dice)), "test_dice_pairs": dice,
                         "train_seconds": seconds if seconds > 1 else results.get(name, {}).get("train_seconds"),
                         "curve": learning_curve(run / "metrics.tsv")}
        print(f"{name:14s} test Dice {results[name]['test_dice']:.4f}  val Dice "
              + " ".join(f"{c['step']}:{c['val_dice']:.3f}" for c in results[name]["curve"]), flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"device": describe(torch.device("cpu")),
                                   "settings": {k: v for k, v in vars(a).items() if k not in ("data", "workdir", "out")},
                                   "variants": results}, indent=2))


if __name__ == "__main__":
    main()

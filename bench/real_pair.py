"""Real T1 images of two different people: the one labelled real inter-subject pair in ``../shared/data/``.

    python bench/real_pair.py --config config/config.yaml config/demo.yaml config/cpu_3mm.yaml \
        --out bench/results/real_pair_cpu.json

The labelled real brain of ``real_brain/`` (FreeSurfer aseg) and OASIS subject A of ``oasis_aligned/`` (its seg35
segmentation, renumbered to aseg by :func:`dccnnreg.labels.aseg_from_seg35`) are registered both ways at ``--spacing`` mm; the learned
methods train, unsupervised, on the four unlabelled OASIS brains B-E (subject-to-subject pairs). All six are
skull-stripped and affinely aligned on one 1 mm grid already, so the affine method is the identity. Scored on the
29 structures of ``real_brain/eval_labels.npz`` that seg35 has (all but CSF): Dice, HD95, % non-positive Jacobian, SDlogJ, inverse consistency
and seconds per pair (refinement apart), for affine, SyN (``--syn-preset``), DCCNN-LSTM-Reg alone and refined
(``--refine-*``), each in one run on one machine. Unlike ``bench/real_labelmaps.py`` (T1-like images made from label
maps), these are scanner intensities with their own texture and contrast. Trained models are kept in ``--workdir``;
a rerun resumes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from dccnnreg.config import load_config
from dccnnreg.data import Sample
from dccnnreg.device import describe, pick_device
from dccnnreg.evaluate import evaluate_pair
from dccnnreg.known_warps import resample_scan
from dccnnreg.labels import SEG35_TO_ASEG, aseg_from_seg35
from dccnnreg.preprocess import normalize_intensity
from dccnnreg.syn import register_syn
from real_brain import learned_methods, method_arguments, parsed, run_arguments

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
UNLABELLED = ("subjB", "subjC", "subjD", "subjE")


def real_subjects(data: Path, spacing: float) -> tuple[dict[str, Sample], list[int]]:
    """The six real brains at ``spacing`` mm (``real`` and ``subjA`` labelled in aseg numbering, B-E unlabelled) and
    the scored structures: those of ``eval_labels.npz`` that seg35 has."""
    missing = [p for p in (data / "real_brain", data / "oasis_aligned") if not p.is_dir()]
    if missing:
        raise SystemExit(f"real brain data not found: {missing} (see shared/data/*/README.md)")
    npz = np.load(data / "real_brain" / "oasis_subject_vol_seg.npz")
    volumes = {"real": (npz["vol"], npz["seg"])}
    oasis = data / "oasis_aligned"
    for name in ("subjA", *UNLABELLED):
        image = np.asarray(nib.load(oasis / f"{name}_brain.nii.gz").dataobj, np.float32)
        labels = (aseg_from_seg35(np.asarray(nib.load(oasis / "subjA_seg35.nii.gz").dataobj, np.int32))
                  if name == "subjA" else np.zeros(image.shape, np.int32))
        if image.shape != npz["vol"].shape:
            raise SystemExit(f"{oasis / name}_brain.nii.gz: shape {image.shape}, expected {npz['vol'].shape}")
        volumes[name] = (image, labels)
    subjects = {}
    for name, (image, labels) in volumes.items():
        img, lab, affine = resample_scan(image, labels, 1.0, spacing)  # one array grid: the README's identity
        subjects[name] = Sample(name, normalize_intensity(img), lab if lab.any() else None, affine)
    scored = [int(x) for x in np.load(data / "real_brain" / "eval_labels.npz")["labels"]]
    return subjects, [k for k in scored if k in SEG35_TO_ASEG.values()]  # seg35 has no CSF (24)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    run_arguments(p, SHARED, "real_pair")
    method_arguments(p, ["affine", "syn", "dccnn_lstm", "dccnn_lstm+refine"], 16)
    p.add_argument("--spacing", type=float, default=3.0, help="mm; the brains are 1 mm")
    a = parsed(p)
    subjects, scored = real_subjects(Path(a.data), a.spacing)
    cfg, device = load_config(*a.config), pick_device(a.device)

    register = {"affine": None, "syn": lambda m, f: register_syn(m, f, a.syn_preset, a.seed),
                **learned_methods(a, cfg, [subjects[s] for s in UNLABELLED], device, a.spacing)}

    rows = []
    for moving, fixed in (("subjA", "real"), ("real", "subjA")):
        m, f = subjects[moving], subjects[fixed]
        for method in a.methods:
            reg = register[method](m, f) if register[method] else None
            _, summary = evaluate_pair(f.labels, reg.warped_labels if reg else m.labels, f.affine,
                                       reg.forward if reg else None, reg.inverse if reg else None, f.labels > 0, scored)
            rows.append({"moving": moving, "fixed": fixed, "method": method, **summary,
                         "seconds": reg.seconds if reg else 0.0, "refine_seconds": reg.refine_seconds if reg else 0.0})
            print(f"{moving} -> {fixed} {method:17s} Dice {summary['dice_mean']:.3f} IC "
                  f"{summary['inverse_consistency_mm']:.3f} mm folding {summary['folding_pct']:.4f}%", flush=True)
    df = pd.DataFrame(rows)
    table = df.groupby("method", sort=False).mean(numeric_only=True)
    print(table.to_string(float_format=lambda x: f"{x:.4g}"))
    result = {
        "device": describe(device),
        "settings": {k: v for k, v in vars(a).items() if k not in ("data", "workdir", "out")},
        "grid": list(subjects["real"].image.shape),
        "summary": table.reset_index().to_dict("records"),
        "pairs": rows,
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""A tiny demo study (6 mm grid, 5 subjects, a few training steps) for end-to-end workflow tests."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dccnnreg.config import load_config

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]


def run_snakemake(workdir, *args, check=True) -> subprocess.CompletedProcess:
    """Snakemake on ``workdir``, started from the project root (so ``--profile slurm`` resolves)."""
    out = subprocess.run([*SNAKEMAKE, "--directory", str(workdir), *args], capture_output=True, text=True, cwd=ROOT)
    if check and out.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{out.stdout[-4000:]}\n{out.stderr[-6000:]}")
    return out


def smk(workdir, *args, check=True) -> subprocess.CompletedProcess:
    """Snakemake on ``workdir`` with the local executor on 2 cores."""
    return run_snakemake(workdir, "--cores", "2", *args, check=check)


def planned(workdir, *args) -> dict[str, int]:
    """Rule -> job count of a dry run (without the ``total`` row)."""
    out = smk(workdir, "-n", *args).stdout
    jobs = {}
    if "Job stats:" in out:
        for line in out.split("Job stats:")[1].splitlines()[3:]:
            m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
            if not m:
                break
            if m.group(1) != "total":
                jobs[m.group(1)] = int(m.group(2))
    return jobs


def sheet(n_train=3, extra=()) -> str:
    """Subject sheet: ``n_train`` train subjects, one val, one test, then ``extra`` test subjects."""
    rows = ["dataset\tsubject\timage\tlabels\tsplit"]
    names = [f"sub-{i:02d}" for i in range(1, n_train + 3)] + list(extra)
    splits = ["train"] * n_train + ["val", "test"] + ["test"] * len(extra)
    for s, sp in zip(names, splits):
        rows.append(f"demo\t{s}\tresources/demo/subjects/{s}_T1w.nii.gz\tresources/demo/subjects/{s}_labels.nii.gz\t{sp}")
    return "\n".join(rows) + "\n"


def built_study(tmp_path_factory, name: str, make):
    """A study written by ``make(folder)`` and run once to its end with the local executor."""
    if importlib.util.find_spec("snakemake") is None:
        pytest.skip("snakemake is not installed (pip install -e '.[workflow]')")
    wd = make(tmp_path_factory.mktemp(name))
    smk(wd)
    return wd


def tiny_config() -> dict:
    """The demo's settings (config.yaml + demo.yaml) shrunk to a 6 mm grid and a few training steps."""
    cfg = load_config(ROOT / "config" / "config.yaml", ROOT / "config" / "demo.yaml")
    cfg["demo"]["spacing_mm"] = 6.0
    cfg["grid"] = {"shape": [24, 32, 24], "spacing_mm": 6.0}
    cfg["model"] = {"channels": [4, 8, 8], "hidden": [4, 8, 8], "time_steps": [0, 1, 2], "int_steps": 4}
    cfg["syn"]["preset"] = "quick"
    cfg["voxelmorph"].update(features=[4, 8], int_steps=4)
    cfg["voxelmorph"]["loss"]["ncc_window"] = 3
    cfg["train"].update(steps=6, val_every=3, checkpoint_every=3)
    cfg["train"]["loss"]["ncc_window"] = 3
    cfg["register"]["batches"] = 2
    return cfg


def make_study(wd: Path, subject_sheet: str | None = None) -> Path:
    """Write the tiny study's config (as the workdir's default ``config/config.yaml``) and sheet into ``wd``."""
    shutil.copytree(ROOT / "config", wd / "config")
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(tiny_config()))
    (wd / "config" / "subjects.tsv").write_text(subject_sheet or sheet())
    return wd


def unlabelled_sheet(names=("sub-01", "sub-02", "sub-03", "sub-04")) -> str:
    """A sheet without a `labels` column (the usual cohort): two train subjects, one val, the rest test."""
    splits = ["train", "train", "val"] + ["test"] * (len(names) - 3)
    rows = ["dataset\tsubject\timage\tsplit"]
    rows += [f"demo\t{s}\tresources/demo/subjects/{s}_T1w.nii.gz\t{sp}" for s, sp in zip(names, splits)]
    return "\n".join(rows) + "\n"


def make_unlabelled_study(wd: Path) -> Path:
    """An unlabelled cohort at the demo's 3 mm (fine enough to compare label overlap in native and atlas
    space), without bias field or N4, so that intensities map linearly from the original image to the
    warped brain."""
    shutil.copytree(ROOT / "config", wd / "config")
    cfg = tiny_config()
    cfg["demo"].update(spacing_mm=3.0, bias_field=0.0)
    cfg["grid"] = {"shape": [48, 64, 56], "spacing_mm": 3.0}
    cfg["preprocess"]["n4"] = False
    cfg["methods"] = ["affine", "dccnn_lstm"]
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    (wd / "config" / "subjects.tsv").write_text(unlabelled_sheet())
    return wd

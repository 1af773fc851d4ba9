"""A tiny demo study (6 mm grid, 5 subjects, a few training steps) for end-to-end workflow tests."""

from __future__ import annotations

import collections
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dccnnreg.config import load_config
from dccnnreg.demo import demo_paths, write_demo

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
    """Rule -> number of jobs a dry run would run, read from Snakemake's job graph (``--dag``, Graphviz): one
    node per job, labelled with its rule; jobs that need not run are drawn dashed."""
    dot = smk(workdir, "--dag", *args).stdout
    nodes = re.findall(r'^\s*\d+\[label = "(\w+)[^"]*".*style="([^"]*)"', dot, re.M)
    return dict(collections.Counter(rule for rule, style in nodes if "dashed" not in style))


# The tiny study's BIDS participants: (split, sessions); sub-01 has two sessions.
PARTICIPANTS = {"01": ("train", 2), "02": ("train", 0), "03": ("train", 0), "04": ("val", 0), "05": ("test", 0)}
DEMO = "resources/demo"


def demo_files(wd, participant: str, session: int = 0) -> tuple[Path, Path]:
    """(T1w, labels) of a demo participant (``"05"``) of the study in ``wd``."""
    return demo_paths(Path(wd) / DEMO / "bids", participant, session)


def write_demo_data(wd, spacing: float, participants=None, bias: float = 0.25) -> None:
    """The demo's template and BIDS dataset in ``wd/resources/demo`` (as `dccnnreg demo` writes them)."""
    write_demo(Path(wd) / DEMO, spacing, 0, bias, PARTICIPANTS if participants is None else participants)


def built_study(tmp_path_factory, name: str, make):
    """A study written by ``make(folder)`` and run once to its end with the local executor."""
    if importlib.util.find_spec("snakemake") is None:
        pytest.skip("snakemake is not installed (pip install -e '.[workflow]')")
    wd = make(tmp_path_factory.mktemp(name))
    smk(wd)
    return wd


def tiny_config() -> dict:
    """The demo's settings (config.yaml + demo.yaml: the BIDS route) with every method, shrunk to a 6 mm grid and a few
    training steps."""
    cfg = load_config(ROOT / "config" / "config.yaml", ROOT / "config" / "demo.yaml")
    cfg["methods"] = ["affine", "syn", "voxelmorph", "dccnn_lstm"]  # every method (the demo leaves VoxelMorph out)
    cfg["grid"] = {"shape": [24, 32, 24], "spacing_mm": 6.0}
    cfg["dccnn_lstm"]["net"] = {"channels": [4, 8, 8], "hidden": [4, 8, 8], "time_steps": [0, 1, 2], "int_steps": 4}
    cfg["syn"]["preset"] = "quick"
    cfg["voxelmorph"]["net"] = {"features": [4, 8], "int_steps": 4}
    for method in ("dccnn_lstm", "voxelmorph"):
        cfg[method]["loss"]["ncc_window"] = 3
    cfg["train"].update(steps=6, val_every=3, checkpoint_every=3)
    cfg["register"]["batches"] = 2
    cfg["register"]["refine"]["steps"] = 0  # the network's path (the demo refines; refinement has its own tests)
    cfg["preprocess"]["affine_spacing_mm"] = 6.0  # affine stage on the grid itself (6 mm phantoms need no finer)
    return cfg


def make_study(wd: Path) -> Path:
    """The tiny BIDS study in ``wd``: its config (as the workdir's default ``config/config.yaml``) and demo data."""
    shutil.copytree(ROOT / "config", wd / "config")
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(tiny_config()))
    write_demo_data(wd, 6.0)
    return wd


def mtimes(wd) -> dict[str, int]:
    """Modification time (ns) of every file under ``wd/results``, by path relative to ``wd``."""
    return {str(p.relative_to(wd)): p.stat().st_mtime_ns for p in (Path(wd) / "results").rglob("*") if p.is_file()}


def rewritten(before: dict[str, int], after: dict[str, int]) -> set[str]:
    """Files of ``after`` that are new or were written again since ``before``."""
    return {p for p, t in after.items() if before.get(p) != t}


def copy_study(study: Path, wd: Path) -> Path:
    """A copy of a finished study (times and Snakemake's records kept, so nothing in it is out of date)."""
    shutil.copytree(study, wd, symlinks=True)
    return wd


def sheet_config(cfg: dict) -> dict:
    """``cfg`` reading the subject sheet ``config/subjects.tsv`` instead of a BIDS dataset."""
    cfg = {k: v for k, v in cfg.items() if k != "bids"}
    return {**cfg, "subjects": "config/subjects.tsv"}


def unlabelled_sheet(names=("01", "02", "03", "04")) -> str:
    """A sheet without a `labels` column (the usual cohort): two train subjects, one val, the rest test."""
    splits = ["train", "train", "val"] + ["test"] * (len(names) - 3)
    rows = ["dataset\tsubject\timage\tsplit"]
    rows += [f"demo\tsub-{p}\t{DEMO}/bids/sub-{p}/anat/sub-{p}_T1w.nii.gz\t{sp}" for p, sp in zip(names, splits)]
    return "\n".join(rows) + "\n"


def make_unlabelled_study(wd: Path) -> Path:
    """An unlabelled cohort read from a subject sheet at the demo's 3 mm (fine enough to compare label
    overlap in native and atlas space), without bias field or N4, so that intensities map linearly from
    the original image to the warped brain."""
    shutil.copytree(ROOT / "config", wd / "config")
    cfg = sheet_config(tiny_config())
    cfg["grid"] = {"shape": [48, 64, 56], "spacing_mm": 3.0}
    cfg["preprocess"]["n4"] = False
    cfg["methods"] = ["affine", "dccnn_lstm"]
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    (wd / "config" / "subjects.tsv").write_text(unlabelled_sheet())
    write_demo_data(wd, 3.0, {p: ("train", 0) for p in ("01", "02", "03", "04", "05")}, bias=0.0)
    return wd

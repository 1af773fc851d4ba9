"""End to end: the Snakemake workflow on a tiny demo cohort (minutes on 2 CPU cores)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]

pytestmark = pytest.mark.skipif(shutil.which("snakemake") is None and not (Path(sys.executable).parent / "snakemake").exists(),
                                reason="snakemake is not installed (pip install -e '.[workflow]')")


def smk(workdir, *args, check=True) -> subprocess.CompletedProcess:
    out = subprocess.run([*SNAKEMAKE, "--directory", str(workdir), "--cores", "2", *args],
                         capture_output=True, text=True)
    if check and out.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{out.stdout[-4000:]}\n{out.stderr[-6000:]}")
    return out


def planned(workdir, *args) -> dict[str, int]:
    """Rule -> job count of a dry run."""
    out = smk(workdir, "-n", *args).stdout
    jobs = {}
    if "Job stats:" in out:
        table = out.split("Job stats:")[1]
        for line in table.splitlines()[3:]:
            m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
            if not m:
                break
            jobs[m.group(1)] = int(m.group(2))
    return jobs


def sheet(n_train=3, extra=()):
    rows = ["dataset\tsubject\timage\tlabels\tsplit"]
    names = [f"sub-{i:02d}" for i in range(1, n_train + 3)] + list(extra)
    splits = ["train"] * n_train + ["val", "test"] + ["test"] * len(extra)
    for s, sp in zip(names, splits):
        rows.append(f"demo\t{s}\tresources/demo/subjects/{s}_T1w.nii.gz\tresources/demo/subjects/{s}_labels.nii.gz\t{sp}")
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    wd = tmp_path_factory.mktemp("study")
    shutil.copytree(ROOT / "config", wd / "config")
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["demo"]["spacing_mm"] = 6.0
    cfg["grid"] = {"shape": [24, 32, 24], "spacing_mm": 6.0}
    cfg["model"] = {"channels": [4, 8, 8], "hidden": [4, 8, 8], "time_steps": [0, 1, 2], "int_steps": 4}
    cfg["train"].update(steps=6, val_every=3, checkpoint_every=3)
    cfg["train"]["loss"]["ncc_window"] = 3
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    (wd / "config" / "subjects.tsv").write_text(sheet())
    smk(wd)
    return wd


def test_demo_runs_to_a_report(study):
    summary = pd.read_csv(study / "results/demo/report/summary.tsv", sep="\t").set_index("method")
    assert set(summary.index) == {"affine", "dccnn_lstm"}
    assert summary.loc["affine", "folding_pct"] == 0
    assert 0 < summary.loc["dccnn_lstm", "dice_mean"] <= 1
    per = pd.read_csv(study / "results/demo/report/per_structure.tsv", sep="\t")
    assert per["name"].str.contains("Ventricle|Hippocampus|White_Matter").any()
    for f in ("dice_boxplot.png", "jacobian.png", "overlay.png"):
        assert (study / "results/demo/report" / f).stat().st_size > 1000
    assert (study / "results/demo/dccnn_lstm/sub-05_fwd_warp.nii.gz").exists()
    smk(study, "--report", str(study / "report.html"))
    assert "demo" in (study / "report.html").read_text(errors="ignore")


def test_second_run_does_nothing(study):
    assert planned(study) == {}


def test_training_parameter_reruns_training_not_preprocessing(study):
    cfg = yaml.safe_load((study / "config/config.yaml").read_text())
    cfg["train"]["lr"] = 0.0002
    path = study / "config/changed.yaml"
    path.write_text(yaml.safe_dump(cfg))
    jobs = planned(study, "--configfile", str(path))
    assert {"train", "register", "evaluate", "dataset_report"} <= set(jobs)
    assert not {"affine", "skull_strip", "demo_subject", "atlas"} & set(jobs)


def test_new_subject_runs_only_its_stages(study):
    (study / "config/subjects.tsv").write_text(sheet(extra=["sub-09"]))
    try:
        jobs = planned(study)
    finally:
        (study / "config/subjects.tsv").write_text(sheet())
    assert jobs.get("affine") == 1 and jobs.get("skull_strip") == 1 and jobs.get("register") == 1
    assert "train" not in jobs and "atlas" not in jobs


def test_lint_is_clean(study):
    out = smk(study, "--lint", check=False)
    assert out.returncode == 0, out.stdout + out.stderr

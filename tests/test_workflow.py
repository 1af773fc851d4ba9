"""End to end: the Snakemake workflow on a tiny demo cohort (minutes on 2 CPU cores)."""

import pandas as pd
import yaml

from tiny_study import planned, smk


def test_demo_runs_to_a_report(study):
    summary = pd.read_csv(study / "results/demo/report/summary.tsv", sep="\t").set_index("method")
    assert set(summary.index) == {"affine", "dccnn_lstm"}
    assert summary.loc["affine", "folding_pct"] == 0
    assert 0 < summary.loc["dccnn_lstm", "dice_mean"] <= 1
    per = pd.read_csv(study / "results/demo/report/per_structure.tsv", sep="\t")
    assert per["name"].str.contains("Ventricle|Hippocampus|White_Matter").any()
    for f in ("dice_boxplot.png", "jacobian.png", "overlay.png"):
        assert (study / "results/demo/report" / f).stat().st_size > 1000
    assert len(list(study.glob("results/demo/dccnn_lstm/batch-*/sub-05_fwd_warp.nii.gz"))) == 1
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


def test_lint_is_clean(study):
    out = smk(study, "--lint", check=False)
    assert out.returncode == 0, out.stdout + out.stderr

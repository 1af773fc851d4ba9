"""End to end: the Snakemake workflow on a tiny demo cohort (minutes on 2 CPU cores)."""

import pandas as pd
import yaml

from tiny_study import planned, smk


def test_demo_runs_to_a_report(study, tmp_path):
    summary = pd.read_csv(study / "results/demo/report/summary.tsv", sep="\t").set_index("method")
    assert list(summary.index) == ["affine", "syn", "voxelmorph", "dccnn_lstm"]  # the config's order
    assert summary.loc["affine", "folding_pct"] == 0
    # a 6 mm grid is too coarse for SyN to gain much (its accuracy is tested in test_syn.py)
    assert all(0 < summary.loc[m, "dice_mean"] <= 1 for m in ("syn", "dccnn_lstm", "voxelmorph"))
    assert (summary.loc[["syn", "voxelmorph", "dccnn_lstm"], "seconds_per_pair"] > 0).all()
    by_structure = pd.read_csv(study / "results/demo/report/dice_by_structure.tsv", sep="\t", index_col=0)
    assert list(by_structure.columns) == ["affine", "syn", "voxelmorph", "dccnn_lstm"]  # the config's order
    per = pd.read_csv(study / "results/demo/report/per_structure.tsv", sep="\t")
    assert per["name"].str.contains("Ventricle|Hippocampus|White_Matter").any()
    for f in ("dice_boxplot.png", "jacobian.png", "overlay.png"):
        assert (study / "results/demo/report" / f).stat().st_size > 1000
    for method in ("dccnn_lstm", "voxelmorph"):
        assert len(list(study.glob(f"results/demo/{method}/batch-*/sub-05_fwd_warp.nii.gz"))) == 1
    assert (study / "results/demo/syn/sub-05/sub-05_fwd_warp.nii.gz").exists()
    smk(study, "--report", str(tmp_path / "report.html"))
    assert "demo" in (tmp_path / "report.html").read_text(errors="ignore")


def test_second_run_does_nothing(study):
    assert planned(study) == {}


def test_training_parameter_reruns_training_not_preprocessing(study, tmp_path):
    cfg = yaml.safe_load((study / "config/config.yaml").read_text())
    cfg["train"]["lr"] = 0.0002
    path = tmp_path / "changed.yaml"  # the shared study stays as built
    path.write_text(yaml.safe_dump(cfg))
    jobs = planned(study, "--configfile", str(path))
    assert {"train", "register", "evaluate", "dataset_report"} <= set(jobs)
    assert jobs["train"] == 2  # both learned methods share the schedule
    assert not {"affine", "skull_strip", "atlas", "register_syn"} & set(jobs)


def test_syn_preset_reruns_only_syn(study, tmp_path):
    cfg = yaml.safe_load((study / "config/config.yaml").read_text())
    cfg["syn"]["preset"] = "quick_cc"
    path = tmp_path / "changed.yaml"  # the shared study stays as built
    path.write_text(yaml.safe_dump(cfg))
    jobs = planned(study, "--configfile", str(path))
    # the derivatives are relinked too: their dataset_description records the config's hash
    assert jobs == {"register_syn": 1, "evaluate": 1, "dataset_report": 1, "bids_derivatives": 1, "all": 1}


def test_refinement_settings_rerun_registration_only_when_refinement_runs(study, tmp_path):
    cfg = yaml.safe_load((study / "config/config.yaml").read_text())
    path = tmp_path / "changed.yaml"  # the shared study stays as built
    cfg["register"]["refine"]["sigma"] = 2.0  # refinement is off (steps 0): nothing to redo
    path.write_text(yaml.safe_dump(cfg))
    assert not {"register", "evaluate", "dataset_report"} & set(planned(study, "--configfile", str(path)))
    cfg["register"]["refine"]["steps"] = 2
    path.write_text(yaml.safe_dump(cfg))
    jobs = planned(study, "--configfile", str(path))
    baseline = planned(study, "--forcerun", "register")  # every learned method's register jobs
    assert 0 < jobs["register"] < baseline["register"]  # dccnn_lstm's only: VoxelMorph has no refinement
    assert not {"train", "affine", "skull_strip", "register_syn"} & set(jobs)


def test_lint_is_clean(study):
    out = smk(study, "--lint", check=False)
    assert out.returncode == 0, out.stdout + out.stderr

"""The whole cohort registered, labelled or not: subject-space products, cohort tables, minimal reruns,
and a user's config that owes nothing to the demo."""

import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.ndimage import binary_erosion

from dccnnreg.metrics import dice_per_label
from dccnnreg.native import NATIVE_TO_ATLAS, apply_chain, subject_paths
from dccnnreg.nifti import load_volume
from dccnnreg.preprocess import labels_to_grid
from dccnnreg.world import read_ants_field
from dccnnreg.split import assign_batch
from dccnnreg.transforms import apply_field
from tiny_study import (ROOT, built_study, copy_study, demo_files, make_unlabelled_study, mtimes, planned, rewritten,
                        smk, unlabelled_sheet)

SUBJECTS = ["sub-01", "sub-02", "sub-03", "sub-04"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """An unlabelled demo cohort at 3 mm, run once to its cohort report (tests restore what they change)."""
    return built_study(tmp_path_factory, "cohort", make_unlabelled_study)


def products(wd, subject):
    batch = [d for d in (wd / "results/demo/dccnn_lstm").glob("batch-*") if (d / f"{subject}_qc.json").exists()]
    assert len(batch) == 1
    return subject_paths(batch[0] / subject)


def test_a_sheet_without_labels_runs_to_its_cohort_report(cohort):
    out = cohort / "results/demo/cohort/dccnn_lstm"
    qc = pd.read_csv(out / "qc.tsv", sep="\t")
    assert list(qc["subject"]) == SUBJECTS and (qc["status"] == "ok").all()
    assert (qc["folding_pct"] == 0).all() and (qc["similarity"] > 0.5).all()
    volumes = pd.read_csv(out / "volumes.tsv", sep="\t").set_index("subject")
    assert {"Left_Hippocampus", "Right_Lateral_Ventricle"} <= set(volumes.columns)
    assert (volumes.drop(columns="status") > 0).all().all()
    for f in ("mean_brain.png", "logjac.png", "qc.png"):
        assert (out / f).stat().st_size > 1000
    mean = load_volume(out / "mean_brain.nii.gz")
    assert mean.data.shape == (48, 64, 56) and np.allclose(mean.affine, load_volume(cohort / "results/atlas/brain.nii.gz").affine)
    sd = load_volume(out / "logjac_sd.nii.gz").data
    assert sd.max() > 0  # subjects differ
    assert not (cohort / "results/demo/report").exists()  # no labels: no benchmark
    smk(cohort, "--report", str(cohort / "report.html"))
    assert "volumes.tsv" in (cohort / "report.html").read_text(errors="ignore")


def test_every_split_is_registered(cohort):
    split = pd.read_csv(cohort / "results/demo/split.tsv", sep="\t")
    assert list(split["split"]) == ["train", "train", "val", "test"]
    for s in SUBJECTS:  # train, val and test subjects alike
        p = products(cohort, s)
        assert all(p[k].exists() for k in ("forward", "inverse", "affine", "native_labels", "volumes", "log_jacobian", "qc"))


def dice_gap(wd, subject) -> float:
    """Mean Dice of the atlas labels carried to native space against the subject's own labels, minus the
    mean Dice of the same registration in atlas space (own labels through the affine and forward field, as
    the workflow warps a labelled subject's labels)."""
    p = products(wd, subject)
    image, own_path = demo_files(wd, subject[4:])  # own_path: the demo subject's true labels
    native_dice = dice_per_label(load_volume(p["native_labels"], labels=True).data, load_volume(own_path, labels=True).data)
    grid_labels = wd / f"{subject}_own_labels_on_grid.nii.gz"
    labels_to_grid(own_path, image, wd / "results/atlas/head.nii.gz", p["affine"], grid_labels)
    warped = apply_field(None, load_volume(grid_labels, labels=True).data, read_ants_field(p["forward"])[0], "generic")[1]
    atlas_dice = dice_per_label(warped, load_volume(wd / "results/atlas/labels.nii.gz", labels=True).data)
    shared = sorted(set(native_dice) & set(atlas_dice))
    assert len(shared) > 40
    return float(np.mean([native_dice[k] for k in shared]) - np.mean([atlas_dice[k] for k in shared]))


@pytest.mark.parametrize("subject", SUBJECTS)
def test_native_atlas_labels_lie_on_the_original_grid(cohort, subject):
    native = nib.load(products(cohort, subject)["native_labels"])
    original = nib.load(demo_files(cohort, subject[4:])[0])
    assert native.shape == original.shape and np.array_equal(native.affine, original.affine)
    assert np.issubdtype(native.get_data_dtype(), np.integer)


def test_native_space_overlap_agrees_with_atlas_space_overlap(cohort):
    gaps = [dice_gap(cohort, s) for s in SUBJECTS]
    assert all(abs(g) < 0.03 for g in gaps), gaps


@pytest.mark.parametrize("subject", SUBJECTS)
def test_ants_applies_the_native_to_atlas_chain_to_the_original_image(cohort, subject):
    p = products(cohort, subject)
    image = demo_files(cohort, subject[4:])[0]
    by_ants = apply_chain(cohort / "results/atlas/brain.nii.gz", image, p, NATIVE_TO_ATLAS, "linear")
    warped = load_volume(p["forward"].parent / f"{subject}_warped.nii.gz").data
    # inside the subject's brain in atlas space, away from the edge that skull stripping cuts
    inside = binary_erosion((load_volume(cohort / "results/atlas/mask.nii.gz", labels=True).data > 0) & (warped > 0))
    assert inside.sum() > 5000
    assert np.corrcoef(warped[inside], by_ants[inside])[0, 1] > 0.99


def test_a_new_unlabelled_subject_runs_its_own_jobs_its_batch_and_the_cohort_tables(cohort, tmp_path):
    wd = copy_study(cohort, tmp_path / "grown")
    (wd / "config/subjects.tsv").write_text(unlabelled_sheet(["01", "02", "03", "04", "05"]))
    before = mtimes(wd)
    smk(wd)
    new = rewritten(before, mtimes(wd))
    (batch,) = {p.split("/")[3] for p in new if p.startswith("results/demo/dccnn_lstm/batch-")}
    batches = yaml.safe_load((wd / "config/config.yaml").read_text())["register"]["batches"]
    assert batch == f"batch-{assign_batch('demo', 'sub-05', batches):03d}"
    assert {f"results/demo/preproc/sub-05_{k}" for k in ("affine.nii.gz", "affine.mat", "brain.nii.gz")} <= new
    assert f"results/demo/dccnn_lstm/{batch}/sub-05_native_labels.nii.gz" in new
    assert not {p for p in new if p.startswith(("results/atlas/", "results/demo/dccnn_lstm/model/"))}
    assert not {p for p in new if p.startswith("results/demo/preproc/") and "sub-05" not in p}
    qc = pd.read_csv(wd / "results/demo/cohort/dccnn_lstm/qc.tsv", sep="\t")
    assert list(qc["subject"]) == ["sub-01", "sub-02", "sub-03", "sub-04", "sub-05"] and (qc["status"] == "ok").all()
    assert planned(wd) == {}


def test_a_user_config_owes_nothing_to_the_demo(cohort, tmp_path):
    wd = tmp_path / "user"
    shutil.copytree(ROOT / "config", wd / "config")  # the project's default config, as a user has it
    tpl = wd / "tpl"
    tpl.mkdir()
    for name in ("head", "brain_mask", "labels"):
        shutil.copy(cohort / f"resources/demo/template/{name}.nii.gz", tpl / f"{name}.nii.gz")
    scans = wd / "scans"
    scans.mkdir()
    for s in SUBJECTS:
        shutil.copy(demo_files(cohort, s[4:])[0], scans / f"{s}_T1w.nii.gz")
    (wd / "sheet.tsv").write_text("dataset\tsubject\timage\n" + "".join(f"study\t{s}\tscans/{s}_T1w.nii.gz\n" for s in SUBJECTS))
    user = {"subjects": "sheet.tsv", "template": {k: f"tpl/{k}.nii.gz" for k in ("head", "brain_mask", "labels")},
            "grid": {"shape": [48, 64, 56], "spacing_mm": 3.0}}
    (wd / "mine.yaml").write_text(yaml.safe_dump(user))
    mine = str(wd / "mine.yaml")
    out = smk(wd, "-n", "--configfile", mine, "--printshellcmds")
    jobs = planned(wd, "--configfile", mine)
    assert jobs["check_inputs"] >= 1 and jobs["cohort_tables"] == 1
    assert "resources/demo" not in out.stdout + out.stderr
    bare = smk(wd, "-n", check=False)  # the default config alone names no cohort
    assert bare.returncode != 0 and "dccnnreg demo && snakemake" in bare.stdout + bare.stderr

"""Real brains through the unlabelled cohort path: four OASIS subjects without labels registered to a
fifth, labelled one used as the template (needs ../shared/data/oasis_aligned/, skips without it)."""

import importlib.util
import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml

from dccnnreg.nifti import load_volume, save_volume
from tiny_study import ROOT, sheet_config, smk, tiny_config

OASIS = ROOT.parent / "shared" / "data" / "oasis_aligned"
UNLABELLED = {"subjB": "train", "subjC": "train", "subjD": "val", "subjE": "test"}

pytestmark = [
    pytest.mark.skipif(not OASIS.is_dir(), reason=f"{OASIS} is absent (real OASIS brains, see shared/README)"),
    pytest.mark.skipif(importlib.util.find_spec("snakemake") is None, reason="snakemake is not installed"),
]


@pytest.fixture(scope="module")
def real_cohort(tmp_path_factory):
    wd = tmp_path_factory.mktemp("oasis")
    shutil.copytree(ROOT / "config", wd / "config")
    brain = load_volume(OASIS / "subjA_brain.nii.gz")
    save_volume((brain.data > 0).astype(np.uint8), brain.affine, wd / "subjA_mask.nii.gz", np.uint8)
    cfg = sheet_config(tiny_config())
    cfg["template"] = {"head": str(OASIS / "subjA_brain.nii.gz"), "brain_mask": str(wd / "subjA_mask.nii.gz"),
                       "labels": str(OASIS / "subjA_seg35.nii.gz")}  # no names: structures are numbered
    cfg["grid"] = {"shape": [28, 32, 36], "spacing_mm": 6.0}  # along the LIA array axes of the template
    cfg["preprocess"].update(n4=False, skull_strip=False)  # already bias corrected and skull stripped
    cfg["methods"] = ["affine", "dccnn_lstm"]
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    rows = [f"oasis\t{s}\t{OASIS / f'{s}_brain.nii.gz'}\t{split}" for s, split in UNLABELLED.items()]
    (wd / "config" / "subjects.tsv").write_text("dataset\tsubject\timage\tsplit\n" + "\n".join(rows) + "\n")
    smk(wd)
    return wd


def test_every_real_subject_is_registered_without_folding(real_cohort):
    qc = pd.read_csv(real_cohort / "results/oasis/cohort/dccnn_lstm/qc.tsv", sep="\t")
    assert list(qc["subject"]) == list(UNLABELLED) and (qc["status"] == "ok").all()
    assert (qc["folding_pct"] == 0).all()
    assert (qc["similarity_affine"] > 0.4).all()  # real brains of different people, 6 mm, after the affine stage
    assert (qc["similarity"] > qc["similarity_affine"]).all()  # a few training steps already move them closer
    assert not (real_cohort / "results/oasis/report").exists()  # nothing labelled to benchmark


def test_real_subjects_get_atlas_labels_and_plausible_volumes(real_cohort):
    volumes = pd.read_csv(real_cohort / "results/oasis/cohort/dccnn_lstm/volumes.tsv", sep="\t").set_index("subject")
    structures = volumes.drop(columns="status")
    assert all(c.isdigit() for c in structures.columns) and len(structures.columns) >= 30  # numbered, no names
    litres = structures.sum(axis=1) / 1e6
    assert ((litres > 0.9) & (litres < 2.0)).all(), litres  # labelled brain tissue of adults, in mm^3
    template = np.asarray(nib.load(OASIS / "subjA_brain.nii.gz").dataobj) > 0
    own_coverage = (np.asarray(nib.load(OASIS / "subjA_seg35.nii.gz").dataobj)[template] > 0).mean()  # about 0.72
    for s in UNLABELLED:
        batch = next((real_cohort / "results/oasis/dccnn_lstm").glob(f"batch-*/{s}_native_labels.nii.gz"))
        native, original = nib.load(batch), nib.load(OASIS / f"{s}_brain.nii.gz")
        assert native.shape == original.shape and np.array_equal(native.affine, original.affine)
        labels = np.asarray(native.dataobj)
        brain = np.asarray(original.dataobj) > 0
        assert (labels[brain] > 0).mean() > 0.8 * own_coverage  # atlas labels cover the subject's brain

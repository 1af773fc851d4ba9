"""BIDS in (discovery of subjects, sessions and runs; label maps from derivatives; clear errors) and BIDS
derivatives out (names, provenance, the official validator, transforms that ANTs applies)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.ndimage import binary_erosion

from dccnnreg import __version__
from dccnnreg.bids import discover
from dccnnreg.cohort import finish_sheet, read_sheet
from dccnnreg.derivatives import anat_dir, config_hash, label, unit_files
from dccnnreg.native import ATLAS_TO_NATIVE, NATIVE_TO_ATLAS, subject_paths
from dccnnreg.nifti import InputError, load_volume
from dccnnreg.preprocess import check_subject
from tiny_study import PARTICIPANTS, ROOT, demo_files

SPLIT = {"train": 0.6, "val": 0.2, "salt": "x"}
IMAGES = ["sub-01/ses-1/anat/sub-01_ses-1_T1w.nii.gz", "sub-01/ses-2/anat/sub-01_ses-2_T1w.nii.gz",
          "sub-02/anat/sub-02_acq-fast_run-1_T1w.nii.gz", "sub-02/anat/sub-02_acq-fast_run-2_T1w.nii.gz",
          "sub-02/anat/sub-02_acq-slow_run-1_T1w.nii.gz", "sub-03/anat/sub-03_T1w.nii", "sub-03/anat/sub-03_T2w.nii.gz",
          "sub-03/func/sub-03_task-rest_bold.nii.gz"]


def nifti(path, shape=(4, 4, 4)):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.ones(shape, np.float32), np.eye(4)), str(path))


def description(root, **extra):
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": root.name, "BIDSVersion": "1.10.0", **extra}))


@pytest.fixture
def bids(tmp_path):
    root = tmp_path / "ds000001"
    description(root)
    for p in IMAGES:
        nifti(root / p)
    return root


def test_every_t1w_image_is_a_unit_and_its_subject_the_participant(bids):
    sheet = discover(bids)
    assert list(sheet["subject"]) == ["sub-01_ses-1", "sub-01_ses-2", "sub-02_acq-fast_run-1",
                                      "sub-02_acq-fast_run-2", "sub-02_acq-slow_run-1", "sub-03"]
    assert list(sheet["participant"]) == ["sub-01"] * 2 + ["sub-02"] * 3 + ["sub-03"]
    assert set(sheet["dataset"]) == {"ds000001"}
    assert sheet["image"].tolist() == [str(bids / p) for p in IMAGES[:6]]
    assert (sheet["labels"] == "").all() and (sheet["split"] == "").all()


@pytest.mark.parametrize("filters, units", [
    ({"session": "2"}, ["sub-01_ses-2"]),
    ({"session": ["1", "2"]}, ["sub-01_ses-1", "sub-01_ses-2"]),
    ({"acquisition": "fast", "run": "01"}, ["sub-02_acq-fast_run-1"]),
    ({"run": 2}, ["sub-02_acq-fast_run-2"]),
    ({"subject": ["01", "03"]}, ["sub-01_ses-1", "sub-01_ses-2", "sub-03"]),
    ({"subject": "02", "acq": "slow"}, ["sub-02_acq-slow_run-1"]),
])
def test_filters_select_subjects_sessions_and_runs(bids, filters, units):
    assert list(discover(bids, filters)["subject"]) == units


def test_label_maps_come_from_a_derivatives_dataset_matched_on_entities(bids):
    deriv = bids / "derivatives" / "seg"
    description(deriv, DatasetType="derivative")
    maps = {"ses1": "sub-01/ses-1/anat/sub-01_ses-1_desc-aseg_dseg.nii.gz",
            "ses2_other": "sub-01/ses-2/anat/sub-01_ses-2_desc-other_dseg.nii.gz",
            "fast_run2": "sub-02/anat/sub-02_acq-fast_run-2_desc-aseg_dseg.nii.gz",
            "sub02_any": "sub-02/anat/sub-02_desc-aseg_dseg.nii.gz",
            "mni": "sub-03/anat/sub-03_space-MNI152NLin2009cAsym_desc-aseg_dseg.nii.gz"}
    for p in maps.values():
        nifti(deriv / p)
    sheet = discover(bids, labels={"root": deriv, "desc": "aseg"}).set_index("subject")["labels"]
    assert sheet["sub-01_ses-1"] == str(deriv / maps["ses1"])
    assert sheet["sub-01_ses-2"] == ""  # its map has another desc
    assert sheet["sub-02_acq-fast_run-2"] == str(deriv / maps["fast_run2"])  # the most specific one
    assert sheet["sub-02_acq-fast_run-1"] == sheet["sub-02_acq-slow_run-1"] == str(deriv / maps["sub02_any"])
    assert sheet["sub-03"] == ""  # a map in another space is not the image's
    with pytest.raises(InputError, match="several label maps match .*sub-01_ses-2_T1w.*bids.labels.desc"):
        nifti(deriv / "sub-01/ses-2/anat/sub-01_ses-2_desc-aseg_dseg.nii.gz")
        nifti(deriv / "sub-01/ses-2/anat/sub-01_ses-2_desc-aseg2_dseg.nii.gz")
        discover(bids, labels={"root": deriv, "desc": ["aseg", "aseg2"]})


def test_a_bad_bids_folder_gets_an_error_naming_the_path(tmp_path, bids):
    with pytest.raises(InputError, match=f"{tmp_path / 'nowhere'}: BIDS root not found"):
        discover(tmp_path / "nowhere")
    (bids / "dataset_description.json").unlink()
    with pytest.raises(InputError, match=f"{bids / 'dataset_description.json'}: missing"):
        discover(bids)
    (bids / "dataset_description.json").write_text("{not json")
    with pytest.raises(InputError, match=f"{bids / 'dataset_description.json'}: unreadable"):
        discover(bids)
    empty = tmp_path / "empty"
    description(empty)
    nifti(empty / "sub-01/anat/sub-01_T2w.nii.gz")
    with pytest.raises(InputError, match=f"{empty}: no T1w image found"):
        discover(empty)
    description(bids)
    with pytest.raises(InputError, match=r"no T1w image found .* matching filters \{'session': '7'\}"):
        discover(bids, {"session": "7"})
    with pytest.raises(InputError, match="unknown entity 'sesion'"):
        discover(bids, {"sesion": "1"})


def test_an_unreadable_t1w_is_reported_with_its_path(bids):
    bad = bids / IMAGES[0]
    raw = bad.read_bytes()
    bad.write_bytes(raw[: len(raw) // 2])
    image = discover(bids).set_index("subject").loc["sub-01_ses-1", "image"]
    status = check_subject(image)
    assert not status["ok"] and str(bad) in status["error"] and "truncated" in status["error"]


def test_sessions_of_a_participant_are_never_split_across_train_and_test():
    rows = [{"dataset": "ds", "subject": f"sub-{i:03d}_ses-{s}", "participant": f"sub-{i:03d}",
             "image": f"sub-{i:03d}_ses-{s}_T1w.nii.gz", "labels": "", "split": ""} for i in range(300) for s in (1, 2)]
    sheet = finish_sheet(pd.DataFrame(rows), "test", SPLIT)
    per_participant = sheet.groupby("participant")["split"].nunique()
    assert (per_participant == 1).all()
    assert set(sheet["split"]) == {"train", "val", "test"}


def test_a_participant_given_two_splits_in_a_sheet_is_an_error(tmp_path):
    p = tmp_path / "subjects.tsv"
    p.write_text("dataset\tsubject\tparticipant\timage\tsplit\nA\ts1a\ts1\ta.nii\ttrain\nA\ts1b\ts1\tb.nii\ttest\n")
    with pytest.raises(InputError, match=r"one split: A/s1: \['test', 'train'\]"):
        read_sheet(p, SPLIT)
    p.write_text("dataset\tsubject\tparticipant\timage\tsplit\nA\ts1a\ts1\ta.nii\ttest\nA\ts1b\ts1\tb.nii\t\n")
    assert read_sheet(p, SPLIT)["split"].tolist() == ["test", "test"]  # the explicit split holds for both


def test_bids_names_of_the_derivatives():
    assert label("dccnn_lstm") == "dccnnlstm" and label("syn") == "syn"
    assert anat_dir("sub-01_ses-2_run-1") == anat_dir("sub-01_ses-2").parent.parent / "ses-2" / "anat"
    assert str(anat_dir("sub-03")) == "sub-03/anat"
    names = {k: str(v) for k, v in unit_files("sub-01_ses-2", "dccnn_lstm", "MNI").items()}
    assert names["warped"] == "sub-01/ses-2/anat/sub-01_ses-2_space-MNI_desc-dccnnlstm_T1w.nii.gz"
    assert names["native_labels"] == "sub-01/ses-2/anat/sub-01_ses-2_atlas-MNI_desc-dccnnlstm_dseg.nii.gz"
    assert names["forward"] == "sub-01/ses-2/anat/sub-01_ses-2_from-T1w_to-MNI_mode-image_desc-dccnnlstm_xfm.nii.gz"
    assert names["inverse"] == "sub-01/ses-2/anat/sub-01_ses-2_from-MNI_to-T1w_mode-image_desc-dccnnlstm_xfm.nii.gz"
    assert config_hash({"a": 1, "b": [2]}) == config_hash({"b": [2], "a": 1}) != config_hash({"a": 2, "b": [2]})


# --- the tiny study (BIDS route, sub-01 with two sessions) ----------------------------------------------------

UNITS = ["sub-01_ses-1", "sub-01_ses-2", "sub-02", "sub-03", "sub-04", "sub-05"]


def derivatives(study):
    return study / "derivatives" / "dccnnreg"


def test_the_study_is_discovered_in_bids_with_its_sessions(study):
    split = pd.read_csv(study / "results/demo/split.tsv", sep="\t").set_index("subject")["split"]
    assert list(split.index) == UNITS
    assert split["sub-01_ses-1"] == split["sub-01_ses-2"] == PARTICIPANTS["01"][0]


def test_every_unit_gets_bids_derivatives_with_provenance(study):
    from snakemake.utils import validate

    out = derivatives(study)
    desc = json.loads((out / "dataset_description.json").read_text())
    assert desc["DatasetType"] == "derivative" and desc["GeneratedBy"][0]["Version"] == __version__
    cfg = yaml.safe_load((study / "config/config.yaml").read_text())
    validate(cfg, str(ROOT / "workflow/schemas/config.schema.yaml"))  # the run's config: schema defaults filled in
    assert desc["GeneratedBy"][0]["Description"] == f"config sha256 {config_hash(cfg)}"
    for unit in UNITS:
        files = {k: out / p for k, p in unit_files(unit, "dccnn_lstm", "demoMNI").items()}
        assert all(p.is_file() for p in files.values()), unit
        native = nib.load(files["native_labels"])
        participant, session = unit[4:6], int(unit[-1]) if "ses" in unit else 0
        assert np.array_equal(native.affine, nib.load(demo_files(study, participant, session)[0]).affine)
        assert json.loads(files["warped"].with_name(files["warped"].name[:-7] + ".json").read_text())["SkullStripped"]
    assert (out / "sub-01/ses-2/anat").is_dir() and not (out / "sub-02/ses-1").exists()
    qc = pd.read_csv(out / "desc-dccnnlstm_qc.tsv", sep="\t")
    assert list(qc["subject"]) == UNITS and (qc["status"] == "ok").all()


def test_the_derivatives_pass_the_bids_validator(study):
    validator = shutil.which("bids-validator-deno", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    if validator is None:
        pytest.skip("bids-validator-deno is not installed (pip install -e '.[test]')")
    out = subprocess.run([validator, str(derivatives(study)), "--format", "json"], capture_output=True, text=True)
    issues = json.loads(out.stdout)["issues"]["issues"]
    errors = [(i["code"], i.get("location")) for i in issues if i["severity"] == "error"]
    assert errors == [] and out.returncode == 0, errors


def test_the_sidecar_spells_the_native_chain_on_the_same_files(study):
    """The derivatives are the registration's own files (whose chain test_cohort checks against ANTs, exactly)
    under BIDS names, and each field's sidecar lists the chain in antsApplyTransforms order."""
    import ants

    anat = derivatives(study) / "sub-05" / "anat"
    files = unit_files("sub-05", "dccnn_lstm", "demoMNI")
    (registration,) = (study / "results/demo/dccnn_lstm").glob("batch-*/sub-05_qc.json")
    products = subject_paths(registration.parent / "sub-05")
    for kind, steps in (("forward", NATIVE_TO_ATLAS), ("inverse", ATLAS_TO_NATIVE)):
        sidecar = json.loads((anat / files[kind].name.replace(".nii.gz", ".json")).read_text())
        assert [(c["file"], c["invert"]) for c in sidecar["TransformChain"]] == [(files[k].name, inv) for k, inv in steps]
    for kind in ("forward", "inverse", "affine", "native_labels", "volumes", "qc", "warped", "log_jacobian"):
        assert (anat / files[kind].name).read_bytes() == products[kind].read_bytes(), kind
    chain = json.loads((anat / files["forward"].name.replace(".nii.gz", ".json")).read_text())["TransformChain"]
    warped = load_volume(anat / files["warped"].name).data
    by_ants = ants.apply_transforms(ants.image_read(str(anat / files["warped"].name)),
                                    ants.image_read(str(demo_files(study, "05")[0])),
                                    [str(anat / c["file"]) for c in chain],
                                    whichtoinvert=[c["invert"] for c in chain]).numpy()
    inside = binary_erosion(warped > 0)
    assert inside.sum() > 300
    assert np.corrcoef(warped[inside], by_ants[inside])[0, 1] > 0.85  # the raw T1w keeps its bias field

"""Bad input gets a clear error naming the file and the problem."""

import gzip
import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml

from dccnnreg.cohort import COLUMNS, cohort_sheet, read_sheet
from dccnnreg.data import load_sample
from dccnnreg.nifti import InputError, load_volume
from tiny_study import demo_files, planned, sheet_config, smk

SPLIT = {"train": 0.6, "val": 0.2, "salt": "x"}


def write(path, data, affine=np.eye(4)):
    nib.save(nib.Nifti1Image(np.asarray(data), affine), str(path))
    return path


@pytest.fixture
def good(tmp_path, rng):
    return write(tmp_path / "good image.nii.gz", rng.random((6, 7, 8)).astype(np.float32))


def test_good_image_with_spaces_in_path_loads(good):
    vol = load_volume(good)
    assert vol.data.shape == (6, 7, 8) and vol.data.dtype == np.float32


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"nope\.nii\.gz: file not found"):
        load_volume(tmp_path / "nope.nii.gz")


def test_truncated_gzip(tmp_path, good):
    raw = good.read_bytes()
    bad = tmp_path / "cut.nii.gz"
    bad.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputError, match=r"cut\.nii\.gz: unreadable or truncated"):
        load_volume(bad)


def test_not_nifti(tmp_path):
    bad = tmp_path / "text.nii.gz"
    bad.write_bytes(gzip.compress(b"hello world" * 100))
    with pytest.raises(InputError, match="unreadable"):
        load_volume(bad)


@pytest.mark.parametrize("shape", [(6, 7), (6, 7, 8, 2)])
def test_wrong_dimensionality(tmp_path, shape):
    p = write(tmp_path / "x.nii.gz", np.ones(shape, np.float32))
    with pytest.raises(InputError, match="expected a 3D volume"):
        load_volume(p)


def test_4d_with_single_volume_is_accepted(tmp_path, rng):
    p = write(tmp_path / "x.nii.gz", rng.random((5, 5, 5, 1)).astype(np.float32))
    assert load_volume(p).data.shape == (5, 5, 5)


def test_nan_voxels(tmp_path, rng):
    d = rng.random((5, 5, 5)).astype(np.float32)
    d[1, 2, 3] = np.nan
    d[0, 0, 0] = np.inf
    with pytest.raises(InputError, match="2 NaN/Inf voxels"):
        load_volume(write(tmp_path / "x.nii.gz", d))


def test_constant_image(tmp_path):
    with pytest.raises(InputError, match="constant image"):
        load_volume(write(tmp_path / "x.nii.gz", np.full((5, 5, 5), 3.0, np.float32)))


@pytest.mark.parametrize("spacing", [0.001, 100.0])
def test_absurd_voxel_size(tmp_path, rng, spacing):
    p = write(tmp_path / "x.nii.gz", rng.random((5, 5, 5)).astype(np.float32), np.diag([spacing, 1, 1, 1]))
    with pytest.raises(InputError, match="absurd voxel size"):
        load_volume(p)


def test_non_integer_labels(tmp_path):
    p = write(tmp_path / "lab.nii.gz", np.full((5, 5, 5), 1.5, np.float32))
    with pytest.raises(InputError, match="lab.nii.gz: label map has non-integer values"):
        load_volume(p, labels=True)


def test_label_grid_differs_from_image(tmp_path, good):
    lab = write(tmp_path / "lab.nii.gz", np.zeros((6, 7, 9), np.int16))
    with pytest.raises(InputError, match="label grid .* differs from its image"):
        load_sample("s", good, lab)


def sheet(tmp_path, text):
    p = tmp_path / "subjects.tsv"
    p.write_text(text)
    return p


def test_sheet_duplicates(tmp_path):
    p = sheet(tmp_path, "dataset\tsubject\timage\nA\ts1\ta.nii\nA\ts1\tb.nii\n")
    with pytest.raises(InputError, match=r"duplicate subject ids \['A/s1'\]"):
        read_sheet(p, SPLIT)


def test_sheet_missing_column_and_bad_split(tmp_path):
    with pytest.raises(InputError, match=r"missing columns \['image'\]"):
        read_sheet(sheet(tmp_path, "dataset\tsubject\nA\ts1\n"), SPLIT)
    with pytest.raises(InputError, match="unknown split values"):
        read_sheet(sheet(tmp_path, "dataset\tsubject\timage\tsplit\nA\ts1\ta.nii\ttrian\n"), SPLIT)


def test_sheet_exclusion_and_explicit_split(tmp_path):
    p = sheet(tmp_path, "dataset\tsubject\timage\tsplit\nA\ts1\ta b.nii\ttest\nA\ts2\tb.nii\t\nB\ts2\tc.nii\t\n")
    df = read_sheet(p, SPLIT, exclude=["A/s2"])
    assert list(df["subject"]) == ["s1", "s2"] and df.loc[("A", "s1"), "split"] == "test"
    assert df.loc[("A", "s1"), "image"] == "a b.nii"


def test_a_bad_subject_stops_only_itself_and_is_listed_as_failed(study, tmp_path, monkeypatch):
    wd = tmp_path / "study"
    shutil.copytree(study, wd, symlinks=True)
    monkeypatch.chdir(wd)  # the sheet names the study's files as its BIDS discovery did (relative paths)
    cfg = yaml.safe_load((wd / "config/config.yaml").read_text())
    cohort_sheet(cfg)[COLUMNS].to_csv(wd / "config/subjects.tsv", sep="\t", index=False)
    cfg = sheet_config(cfg)
    (wd / "config/config.yaml").write_text(yaml.safe_dump(cfg))
    scans = wd / "scans with spaces"
    scans.mkdir()
    spaced, spaced_labels = demo_files(wd, "05")
    shutil.copy(spaced, scans / "spaced T1w.nii.gz")
    shutil.copy(spaced_labels, scans / "spaced labels.nii.gz")
    image4, labels4 = demo_files(wd, "04")
    raw = image4.read_bytes()
    (scans / "bad T1w.nii.gz").write_bytes(raw[: len(raw) // 3])
    with open(wd / "config/subjects.tsv", "a") as f:
        f.write(f"demo\tsub-spaced\tsub-spaced\t{scans}/spaced T1w.nii.gz\t{scans}/spaced labels.nii.gz\ttest\n")
        f.write(f"demo\tsub-bad\tsub-bad\t{scans}/bad T1w.nii.gz\t{labels4}\ttest\n")
        f.write(f"demo\tsub-gone\tsub-gone\t{scans}/no such T1w.nii.gz\t\ttest\n")
    assert not {"atlas", "train"} & set(planned(wd))  # from BIDS to a sheet of the same files: work kept
    smk(wd)  # the run succeeds: bad input stops only its own subject
    qc = pd.read_csv(wd / "results/demo/cohort/dccnn_lstm/qc.tsv", sep="\t", keep_default_na=False).set_index("subject")
    assert qc.loc["sub-bad", "status"] == "failed" and "bad T1w.nii.gz: unreadable or truncated" in qc.loc["sub-bad", "error"]
    assert qc.loc["sub-gone", "status"] == "failed" and "no such T1w.nii.gz: file not found" in qc.loc["sub-gone", "error"]
    assert (qc.drop(["sub-bad", "sub-gone"])["status"] == "ok").all() and len(qc) == 9
    volumes = pd.read_csv(wd / "results/demo/cohort/dccnn_lstm/volumes.tsv", sep="\t").set_index("subject")
    assert volumes.loc["sub-bad", "status"] == "failed" and volumes.loc["sub-bad"].drop("status").isna().all()
    assert not (wd / "results/demo/preproc/sub-bad_affine.nii.gz").exists()
    summary = pd.read_csv(wd / "results/demo/report/summary.tsv", sep="\t").set_index("method")
    assert summary.loc["dccnn_lstm", "pairs"] == 2  # sub-05 and sub-spaced

    cfg["qc_exclude"] = ["demo/sub-bad", "sub-gone"]
    (wd / "config/config.yaml").write_text(yaml.safe_dump(cfg))
    smk(wd)
    qc = pd.read_csv(wd / "results/demo/cohort/dccnn_lstm/qc.tsv", sep="\t", keep_default_na=False).set_index("subject")
    assert qc.loc[["sub-bad", "sub-gone"], "status"].tolist() == ["excluded", "excluded"]

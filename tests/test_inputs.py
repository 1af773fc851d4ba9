"""Bad input gets a clear error naming the file and the problem."""

import gzip

import nibabel as nib
import numpy as np
import pytest

from dccnnreg.cohort import read_sheet
from dccnnreg.data import load_sample
from dccnnreg.nifti import InputError, load_volume, save_volume

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


def test_save_is_atomic(tmp_path):
    target = tmp_path / "out.nii.gz"
    with pytest.raises(Exception):
        save_volume(np.zeros((2, 2, 2), dtype=object), np.eye(4), target)
    assert not target.exists() and list(tmp_path.iterdir()) == []


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

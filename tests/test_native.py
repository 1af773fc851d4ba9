"""Subject-space products and cohort statistics on analytic cases."""

import numpy as np
import pandas as pd
import pytest

from dccnnreg.cohort_summary import flag_outliers, mean_and_sd, robust_z
from dccnnreg.native import ATLAS_TO_NATIVE, NATIVE_TO_ATLAS, apply_chain, correlation, regional_volumes, subject_paths
from dccnnreg.nifti import save_volume
from dccnnreg.preprocess import preprocess_qc
from dccnnreg.world import write_ants_field

ants = pytest.importorskip("ants")


@pytest.fixture
def chain_files(tmp_path):
    """An atlas grid, a native grid shifted by 3 mm along x, a 2-voxel field along axis 0 and a 4 mm affine shift."""
    shape = (20, 18, 16)
    atlas_affine = np.diag([2.0, 2.0, 2.0, 1.0])  # 2 mm voxels, RAS
    coords = np.broadcast_to(np.arange(shape[0], dtype=np.float32)[:, None, None], shape)
    save_volume(coords, atlas_affine, tmp_path / "atlas.nii.gz", np.float32)
    native_affine = atlas_affine.copy()
    native_affine[0, 3] = 6.0  # the native grid starts 6 mm further along +x (RAS)
    save_volume(coords, native_affine, tmp_path / "native.nii.gz", np.float32)
    prefix = tmp_path / "sub"
    paths = subject_paths(prefix)
    u = np.zeros((3, *shape), np.float32)
    u[0] = 2.0  # pull-back: atlas voxel i samples the aligned subject at i + 2
    write_ants_field(u, atlas_affine, paths["forward"])
    write_ants_field(-u, atlas_affine, paths["inverse"])
    # the preprocessing affine maps atlas points into native space: +4 mm along RAS x = -4 mm along LPS x
    ants.write_transform(ants.create_ants_transform(transform_type="AffineTransform", dimension=3,
                                                    translation=(-4.0, 0.0, 0.0)), str(paths["affine"]))
    return tmp_path, paths


def test_native_to_atlas_chain_applies_the_field_then_the_affine(chain_files):
    tmp, paths = chain_files
    out = apply_chain(tmp / "atlas.nii.gz", tmp / "native.nii.gz", paths, NATIVE_TO_ATLAS, "linear")
    # atlas voxel i -> field: i + 2 (x = 2i + 4 mm) -> affine: x + 4 mm -> native voxel (x - 6) / 2 = i + 1
    i = np.arange(3, 14)
    assert np.allclose(out[i, 5, 5], i + 1, atol=1e-4)


def test_atlas_to_native_chain_inverts_it(chain_files):
    tmp, paths = chain_files
    out = apply_chain(tmp / "native.nii.gz", tmp / "atlas.nii.gz", paths, ATLAS_TO_NATIVE, "linear")
    # native voxel j (x = 2j + 6) -> inverse affine: x - 4 -> atlas voxel j + 1 -> inverse field: j - 1
    j = np.arange(3, 14)
    assert np.allclose(out[j, 5, 5], j - 1, atol=1e-4)


def test_regional_volumes_count_voxels_in_cubic_millimetres():
    labels = np.zeros((10, 10, 10), np.int32)
    labels[:2, :3, :4] = 7
    labels[5:, 5:, 5:] = 3
    table = regional_volumes(labels, np.diag([2.0, 1.0, 0.5, 1.0]), (3, 7, 9), {7: "Hippocampus"})
    assert table["volume_mm3"].tolist() == [125 * 1.0, 24 * 1.0, 0.0]  # voxels of 1 mm^3
    assert table["name"].tolist() == ["3", "Hippocampus", "9"]


def test_correlation_is_one_for_a_linear_copy_and_minus_one_for_a_negated_one(rng):
    a = rng.random((8, 8, 8))
    mask = np.ones(a.shape, bool)
    assert correlation(a, 3 * a + 1, mask) == pytest.approx(1.0)
    assert correlation(a, -a, mask) == pytest.approx(-1.0)


def test_robust_z_finds_the_outlier_and_survives_a_zero_mad():
    z = robust_z([1.0, 2.0, 3.0, 4.0, 100.0])
    assert z[-1] > 10 and np.all(np.abs(z[:-1]) < 2)
    z = robust_z([1.0, 1.0, 1.0, 1.0, 5.0])  # MAD 0: the mean absolute deviation stands in
    assert z[-1] > 0 and np.all(z[:-1] == 0)
    assert np.all(robust_z([2.0, 2.0, 2.0]) == 0)


def test_flags_name_the_outlier_and_skip_failed_subjects(rng):
    n = 12
    qc = pd.DataFrame({
        "subject": [f"s{i}" for i in range(n)] + ["bad"],
        "status": ["ok"] * n + ["failed"],
        "similarity": list(0.9 + 0.01 * rng.standard_normal(n)) + [np.nan],
        "sdlogj": list(0.1 + 0.005 * rng.standard_normal(n)) + [np.nan],
        "folding_pct": [0.0] * n + [np.nan],
        "affine_determinant": list(1 + 0.02 * rng.standard_normal(n)) + [np.nan],
    })
    qc.loc[3, "similarity"] = 0.5
    qc.loc[5, "folding_pct"] = 1.0
    flagged = flag_outliers(qc).set_index("subject")
    assert flagged.loc["s3", "flagged"] and "similarity" in flagged.loc["s3", "flag_reason"]
    assert flagged.loc["s5", "flagged"] and "folding" in flagged.loc["s5", "flag_reason"]
    assert flagged["flagged"].sum() == 2 and not flagged.loc["bad", "flagged"]


def test_streamed_mean_and_sd_match_numpy(rng):
    vols = [rng.random((4, 5, 6)) for _ in range(7)]
    mean, sd = mean_and_sd(iter(vols))
    assert np.allclose(mean, np.mean(vols, axis=0), atol=1e-6)
    assert np.allclose(sd, np.std(vols, axis=0, ddof=1), atol=1e-6)


def test_too_few_subjects_give_no_z_scores_but_folding_still_flags():
    qc = pd.DataFrame({"subject": ["a", "b", "c"], "status": ["ok"] * 3, "similarity": [0.9, 0.91, 0.2],
                       "sdlogj": [0.1, 0.1, 0.1], "folding_pct": [0.0, 0.0, 2.0], "affine_determinant": [1.0] * 3})
    flagged = flag_outliers(qc).set_index("subject")
    assert flagged["z_similarity"].isna().all()
    assert flagged["flagged"].tolist() == [False, False, True] and "folding" in flagged.loc["c", "flag_reason"]


def test_preprocessing_qc_reports_mask_and_native_brain_volumes(tmp_path):
    mask = np.zeros((10, 12, 14), np.uint8)
    mask[2:7, 3:9, 4:12] = 1  # 5 x 6 x 8 = 240 voxels of 2 x 2 x 2 mm = 1.92 mL
    save_volume(mask, np.diag([2.0, 2.0, 2.0, 1.0]), tmp_path / "mask.nii.gz", np.uint8)
    ants.write_transform(ants.create_ants_transform(transform_type="AffineTransform", dimension=3,
                                                    matrix=np.diag([1.5, 1.0, 0.8])), str(tmp_path / "affine.mat"))
    table = preprocess_qc({"sub-1": (tmp_path / "mask.nii.gz", tmp_path / "affine.mat")}, tmp_path / "qc.tsv")
    written = pd.read_csv(tmp_path / "qc.tsv", sep="\t")
    for t in (table, written):
        assert list(t["subject"]) == ["sub-1"]
        assert t["mask_ml"].iloc[0] == pytest.approx(1.92)
        assert t["affine_determinant"].iloc[0] == pytest.approx(1.2)
        assert t["brain_ml_native"].iloc[0] == pytest.approx(1.92 * 1.2)

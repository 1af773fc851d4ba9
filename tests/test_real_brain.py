"""Checks on the real labelled OASIS scan in ../shared/data/real_brain (skipped when absent)."""

from pathlib import Path

import numpy as np
import pytest

from dccnnreg.metrics import dice_per_label, folding_percent, jacobian_det
from dccnnreg.nifti import save_volume
from dccnnreg.synth import random_diffeomorphism
from dccnnreg.world import write_ants_field
from dccnnreg.transforms import apply_field

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real_brain"
pytestmark = pytest.mark.skipif(not (DATA / "oasis_subject_vol_seg.npz").exists(),
                                reason=f"real brain data not found at {DATA}")
ants = pytest.importorskip("ants")


@pytest.fixture(scope="module")
def brain():
    d = np.load(DATA / "oasis_subject_vol_seg.npz")
    labels = np.load(DATA / "eval_labels.npz")["labels"]
    # a quarter of the volume keeps the test fast on 2 cores
    sl = (slice(40, 120), slice(48, 144), slice(56, 168))
    return d["vol"][sl].astype(np.float32), d["seg"][sl].astype(np.int32), labels


def test_known_warp_agrees_with_ants_for_image_and_labels(tmp_path, brain):
    vol, seg, eval_labels = brain
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    rng = np.random.default_rng(1)
    u, u_inv = random_diffeomorphism(vol.shape, rng, amplitude=4.0, sigma=8.0)
    assert folding_percent(jacobian_det(u)) == 0.0
    ours_img, ours_lab = apply_field(vol, seg, u)
    save_volume(vol, affine, tmp_path / "vol.nii.gz")
    save_volume(seg, affine, tmp_path / "seg.nii.gz", np.int32)
    write_ants_field(u, affine, tmp_path / "warp.nii.gz")
    ref = ants.image_read(str(tmp_path / "vol.nii.gz"))
    theirs_img = ants.apply_transforms(ref, ref, [str(tmp_path / "warp.nii.gz")]).numpy()
    theirs_lab = ants.apply_transforms(ref, ants.image_read(str(tmp_path / "seg.nii.gz")),
                                       [str(tmp_path / "warp.nii.gz")], interpolator="nearestNeighbor").numpy()
    inner = (slice(6, -6),) * 3
    assert np.abs(ours_img - theirs_img)[inner].max() < 1e-3
    agree = (ours_lab == theirs_lab.round())[inner].mean()
    assert agree > 0.999  # nearest-neighbour ties at exact half-voxels may break differently
    assert set(np.unique(ours_lab)) <= set(np.unique(seg))  # no invented label values


def test_dice_identity_and_inverse_recovery(brain):
    vol, seg, eval_labels = brain
    d = dice_per_label(seg, seg, eval_labels)
    assert d and all(v == 1.0 for v in d.values())
    rng = np.random.default_rng(2)
    u, u_inv = random_diffeomorphism(vol.shape, rng, amplitude=4.0, sigma=8.0)
    _, warped = apply_field(None, seg, u)
    _, back = apply_field(None, warped, u_inv)
    moved = np.mean(list(dice_per_label(warped, seg, eval_labels).values()))
    recovered = np.mean(list(dice_per_label(back, seg, eval_labels).values()))
    assert moved < 0.9 < recovered


def test_syn_recovers_known_warps_of_the_real_scan(brain):
    from dccnnreg.data import Sample
    from dccnnreg.preprocess import normalize_intensity
    from dccnnreg.known_warps import endpoint_error_mm, make_known_pairs, resample_scan
    from dccnnreg.syn import register_syn

    vol, seg, eval_labels = brain
    image, labels, affine = resample_scan(vol, seg, 1.0, 2.0)
    scan = Sample("scan", normalize_intensity(image), labels, affine)
    pair = make_known_pairs(scan, 1, np.random.default_rng(3), amplitude_mm=10.0)[0]
    reg = register_syn(pair.moving, scan, "quick_cc")
    mask = labels > 0
    before = endpoint_error_mm(np.zeros_like(pair.true_forward), pair.true_forward, affine, mask)["epe_mean_mm"]
    after = endpoint_error_mm(reg.forward, pair.true_forward, affine, mask)["epe_mean_mm"]
    dice = lambda lab: np.mean(list(dice_per_label(lab, labels, eval_labels).values()))
    assert after < 0.75 * before  # measured 0.64: SyN quick on a 2 mm crop
    assert dice(reg.warped_labels) > dice(pair.moving.labels) + 0.05
    assert folding_percent(reg.jacobian, mask) < 0.01

"""Fields written on a grid k times finer than the images': the same maps, composed more faithfully."""

import numpy as np
import pytest
import torch

from conftest import smooth_field, smooth_image, t
from dccnnreg.data import Sample
from dccnnreg.evaluate import evaluate_pair, read_field
from dccnnreg.metrics import inverse_consistency_mm, jacobian_det
from dccnnreg.model import polish_inverses
from dccnnreg.register import register_pair, unfolded_maps, write_registration
from dccnnreg.synth import random_diffeomorphism
from dccnnreg.transforms import at_grid_points, compose, grid_subdivision, resize_field, subdivided_shape
from dccnnreg.world import read_ants_field, to_ants
from test_refine import CPU, VoxelMorphNet, VxmConfig, network, sample, shifted_pair

SHAPE = (9, 10, 11)


def test_subdivided_grid_keeps_every_voxel_as_a_grid_point(rng):
    u = t(smooth_field(rng, SHAPE, 2.0))
    fine = resize_field(u, subdivided_shape(SHAPE, 3))
    assert fine.shape[2:] == (25, 28, 31)
    assert grid_subdivision(fine.shape[2:], SHAPE) == 3 and grid_subdivision(SHAPE, SHAPE) == 1
    assert torch.allclose(at_grid_points(fine, SHAPE), u, atol=1e-5)
    coarse = u[0].numpy()
    assert at_grid_points(coarse, SHAPE) is coarse and np.allclose(at_grid_points(fine[0].numpy(), SHAPE), coarse)
    with pytest.raises(ValueError, match="not a subdivision"):
        grid_subdivision((18, 20, 22), SHAPE)


def test_compose_samples_a_coarser_field_at_the_finer_points(rng):
    u = t(smooth_field(rng, SHAPE, 2.0))
    v = t(smooth_field(rng, subdivided_shape(SHAPE, 2), 3.0))
    assert torch.allclose(compose(u, v), compose(resize_field(u, v.shape[2:]), v), atol=1e-4)


def test_inverse_consistency_at_the_voxels_does_not_depend_on_the_grid_a_field_is_written_on(rng):
    u, u_inv = random_diffeomorphism(SHAPE, rng, amplitude=2.0, sigma=1.5)
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    fine = [resize_field(t(x), subdivided_shape(SHAPE, 2))[0].numpy() for x in (u, u_inv)]
    coarse_ic = inverse_consistency_mm(u, u_inv, affine)
    assert coarse_ic > 0.01  # a sharp map: the grid composition is visibly off
    assert inverse_consistency_mm(*fine, affine, grid_shape=SHAPE) == pytest.approx(coarse_ic, abs=1e-5)
    assert np.allclose(jacobian_det(fine[0], SHAPE), jacobian_det(u), atol=0.2)  # finite differences on two grids


def test_subdivided_full_maps_are_the_same_maps_with_a_smaller_inverse_error(rng):
    shape = (16, 16, 16)
    (m, m_inv), (f, f_inv) = (random_diffeomorphism(shape, rng, amplitude=1.5, sigma=1.5) for _ in range(2))
    half = {k: t(x) for k, x in zip(("psi_m", "psi_m_inv", "psi_f", "psi_f_inv"), (m, m_inv, f, f_inv))}
    coarse, fine = polish_inverses(half), polish_inverses(half, subdivision=3)
    assert fine["forward"].shape[2:] == subdivided_shape(shape, 3) and fine["psi_m"].shape[2:] == shape
    for key in ("forward", "inverse"):  # at the voxels the compositions agree: the maps are the same
        assert (at_grid_points(fine[key], shape) - coarse[key]).abs().max() < 0.01
    affine = np.eye(4)
    ic = {k: inverse_consistency_mm(maps["forward"][0].numpy(), maps["inverse"][0].numpy(), affine, grid_shape=shape)
          for k, maps in (("coarse", coarse), ("fine", fine))}
    assert ic["fine"] < 0.5 * ic["coarse"]


@pytest.mark.parametrize("spacing,k,step", [(1.0, 3, True), (3.0, 3, True), (3.0, 1, False), (3.0, 2, False)])
def test_registered_maps_at_1mm_or_finer_are_closer_to_each_others_inverse_than_the_composed_half_maps(rng, spacing, k,
                                                                                                      step):
    affine = np.diag([spacing, spacing, spacing, 1.0])
    a, b = (Sample(name, smooth_image(rng, (16, 16, 16), 2), None, affine) for name in "ab")
    model = network(std=50.0)  # sharply bending half-maps
    with torch.no_grad():
        composed = unfolded_maps(polish_inverses(model(t(a.image), t(b.image)), subdivision=k))
    reg, swapped = register_pair(model, a, b, CPU, subdivision=k), register_pair(model, b, a, CPU, subdivision=k)
    ic = lambda fwd, inv: inverse_consistency_mm(fwd, inv, np.eye(4), grid_shape=(16, 16, 16))
    before = ic(composed["forward"][0].numpy(), composed["inverse"][0].numpy())
    assert before > 0.01
    if step:
        assert ic(reg.forward, reg.inverse) < 0.75 * before
    else:  # fields coarser than 1 mm: the composed maps as they are
        assert np.array_equal(reg.forward, composed["forward"][0].numpy())
    assert np.array_equal(reg.forward, swapped.inverse) and np.array_equal(reg.inverse, swapped.forward)


def test_registration_fields_on_a_subdivided_grid_are_written_for_ants(tmp_path):
    ants = pytest.importorskip("ants")
    moving, fixed = shifted_pair(1.5, (16, 16, 16))
    moving = sample("moving", smooth_image(np.random.default_rng(1), (16, 16, 16)), moving.labels)
    model = network(std=3.0)
    plain, fine = (register_pair(model, moving, fixed, CPU, subdivision=k) for k in (1, 2))
    assert fine.forward.shape == (3, 31, 31, 31) and fine.inverse.shape == (3, 31, 31, 31)
    assert np.abs(plain.forward).max() > 0.1  # the untrained network moves the image a little
    assert np.allclose(fine.warped, plain.warped, atol=1e-3) and np.array_equal(fine.warped_labels, plain.warped_labels)
    assert fine.jacobian.shape == (16, 16, 16)
    paths = write_registration(fine, fixed.affine, tmp_path / "moving")
    field, field_affine = read_ants_field(paths["forward"])
    assert field.shape == fine.forward.shape and np.allclose(field_affine, np.diag([0.5, 0.5, 0.5, 1.0]))
    assert np.array_equal(read_field(paths["forward"], fixed.labels.shape, fixed.affine), field)
    with pytest.raises(ValueError, match=f"{paths['forward'].name}.*another grid"):
        read_field(paths["forward"], (16, 16, 17), fixed.affine)
    with pytest.raises(ValueError, match=f"{paths['inverse'].name}: .* not the labels' grid 2 times finer"):
        read_field(paths["inverse"], fixed.labels.shape, np.diag([2.0, 2.0, 2.0, 1.0]))
    ref, img = to_ants(fixed.image, fixed.affine), to_ants(moving.image, moving.affine)
    theirs = ants.apply_transforms(ref, img, [str(paths["forward"])]).numpy()
    assert np.abs(theirs - fine.warped)[2:-2, 2:-2, 2:-2].max() < 1e-3
    _, summary = evaluate_pair(fixed.labels, fine.warped_labels, fixed.affine, fine.forward, fine.inverse)
    assert summary["folding_pct"] == 0 and 0 < summary["inverse_consistency_mm"] < 0.1
    with pytest.raises(ValueError, match="half-maps"):
        register_pair(VoxelMorphNet(VxmConfig(features=[4, 8], int_steps=3)).eval(), moving, fixed, CPU, subdivision=2)


def test_the_command_line_writes_fields_at_1mm_or_finer_unless_told(tmp_path):
    from dccnnreg import checkpoint
    from dccnnreg.cli import main
    from dccnnreg.nifti import save_volume

    moving, fixed = shifted_pair(1.5, (16, 16, 16))
    affine = np.diag([2.0, 2.0, 2.0, 1.0])  # a 2 mm network grid: auto writes the fields 2x finer, at 1 mm
    for s in (moving, fixed):
        save_volume(s.image, affine, tmp_path / f"{s.name}.nii.gz", np.float32)
    checkpoint.save(tmp_path / "model.pt", network(std=3.0), 0)
    args = ["register", "--model", str(tmp_path / "model.pt"), "--fixed", str(tmp_path / "fixed.nii.gz"),
            "--moving", str(tmp_path / "moving.nii.gz")]
    for extra, shape, spacing in (([], (31, 31, 31), 1.0), (["--field-subdivision", "1"], (16, 16, 16), 2.0)):
        assert main([*args, "--out-prefix", str(tmp_path / f"k{spacing:g}/m"), *extra]) == 0
        field, field_affine = read_ants_field(tmp_path / f"k{spacing:g}/m_fwd_warp.nii.gz")
        assert field.shape[1:] == shape and np.allclose(np.diag(field_affine)[:3], spacing)

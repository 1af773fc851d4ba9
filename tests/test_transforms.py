import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import smooth_field, smooth_image, t
from dccnnreg import transforms
from dccnnreg.transforms import (
    compose, gaussian_smooth, identity_grid, integrate_sequence, integrate_velocity, invert_field, jacobian_determinant,
    mutual_inverse_step, paired, resize_field, unfold, warp, warp_labels,
)


def test_identity_warp_is_exact(rng):
    img = smooth_image(rng, (12, 10, 9))
    out = warp(t(img), torch.zeros(1, 3, 12, 10, 9))
    assert torch.equal(out[0, 0], torch.from_numpy(img)) or torch.allclose(out[0, 0], torch.from_numpy(img), atol=1e-6)


@pytest.mark.parametrize("shift", [(2, 0, 0), (0, -3, 0), (1, 2, -1)])
def test_integer_translation_moves_voxels_exactly(shift):
    shape = (12, 14, 10)
    img = torch.zeros(1, 1, *shape)
    img[0, 0, 5, 6, 4] = 1.0
    u = torch.tensor(shift, dtype=torch.float32).view(1, 3, 1, 1, 1).expand(1, 3, *shape)
    out = warp(img, u)
    # pull-back: out(x) = img(x + s), so the bright voxel appears at x = p - s
    expected = (5 - shift[0], 6 - shift[1], 4 - shift[2])
    assert torch.nonzero(out[0, 0] > 0.5).tolist() == [list(expected)]
    assert abs(out[0, 0][expected] - 1.0) < 1e-6
    assert (out[0, 0] > 1e-6).sum() == 1  # nothing spread to the neighbours


def test_warp_of_a_linear_image_is_the_image_at_the_displaced_point():
    """Trilinear interpolation is exact for linear images: out(x) = a . (x + u(x)) + c, at fractional u too."""
    shape, a = (9, 11, 13), torch.tensor([0.5, -2.0, 3.0])
    img = (identity_grid(shape) * a.view(1, 3, 1, 1, 1)).sum(1, keepdim=True) + 7.0
    u = torch.rand(2, 3, *shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    moved = identity_grid(shape) + u
    inside = ((moved >= 0) & (moved <= torch.tensor(shape).view(1, 3, 1, 1, 1) - 1)).all(1)
    expected = (moved * a.view(1, 3, 1, 1, 1)).sum(1) + 7.0
    out = warp(img.expand(2, 1, *shape), u)[:, 0]
    torch.testing.assert_close(out[inside], expected[inside], atol=2e-5, rtol=0)


def test_label_warp_is_nearest_and_keeps_dtype(rng):
    lab = torch.from_numpy(rng.integers(0, 5, size=(10, 10, 10))).to(torch.int32)
    u = torch.full((1, 3, 10, 10, 10), 0.4)
    out = warp_labels(lab[None, None], u)
    assert out.dtype == torch.int32
    assert set(out.unique().tolist()) <= set(lab.unique().tolist())
    assert torch.equal(out[0, 0, :9, :9, :9], lab[:9, :9, :9])  # 0.4 voxel rounds to the same voxel


def test_compose_matches_sequential_warps():
    # affine fields and a linear image: trilinear interpolation is exact, so composition must be too
    shape = (20, 18, 16)
    grid = identity_grid(shape)
    img = (0.5 * grid[:, 0] - 0.3 * grid[:, 1] + 0.2 * grid[:, 2])[:, None]
    u = 0.05 * grid.flip(1) + torch.tensor([0.7, -0.4, 1.1]).view(1, 3, 1, 1, 1)
    v = -0.04 * grid + torch.tensor([0.3, 0.9, -0.6]).view(1, 3, 1, 1, 1)
    seq = warp(warp(img, u), v)
    once = warp(img, compose(u, v))
    inner = (slice(None), slice(None), slice(3, -3), slice(3, -3), slice(3, -3))
    assert torch.allclose(seq[inner], once[inner], atol=1e-4)
    assert not torch.allclose(once[inner], img[inner], atol=0.5)


def test_integrated_inverse_composes_to_identity(rng):
    shape = (24, 24, 24)
    v = t(smooth_field(rng, shape, 3.0, sigma=4))
    u, u_inv = integrate_velocity(v, 7), integrate_velocity(-v, 7)
    residual = compose(u, u_inv)[:, :, 4:-4, 4:-4, 4:-4]
    assert residual.abs().max() < 0.05 * u.abs().max()
    assert u.abs().max() > 1.0
    assert jacobian_determinant(u).min() > 0


def test_gaussian_smooth_keeps_mass_and_constants_and_matches_the_variance():
    x = torch.zeros(1, 2, 21, 21, 21)
    x[0, 0, 10, 10, 10] = 1.0
    x[0, 1] = 3.0
    y = gaussian_smooth(x, 1.5)
    assert torch.isclose(y[0, 0].sum(), torch.tensor(1.0), atol=1e-6)
    torch.testing.assert_close(y[0, 1, 5:-5, 5:-5, 5:-5], x[0, 1, 5:-5, 5:-5, 5:-5])
    offsets = torch.arange(21.0) - 10
    variance = (y[0, 0].sum(dim=(1, 2)) * offsets**2).sum()
    assert abs(float(variance) - 1.5**2) < 0.05  # truncated at 3 sigma
    assert gaussian_smooth(x, 0) is x


def test_gaussian_smooth_with_replicated_edges_keeps_constants_and_ramps_up_to_the_border():
    ramp = torch.arange(15.0).view(1, 1, 15, 1, 1).expand(1, 1, 15, 6, 7).contiguous()
    x = torch.cat([torch.full_like(ramp, 3.0), ramp], dim=1)
    y = gaussian_smooth(x, 1.5, border="replicate")
    torch.testing.assert_close(y[0, 0], x[0, 0])  # zeros past the grid would darken the edges
    torch.testing.assert_close(y[0, 1, 5:-5], x[0, 1, 5:-5])  # 5 = the kernel's radius
    assert float((y[0, 1, 0] - x[0, 1, 0]).min()) > 0.3  # the edge value repeated: the ramp bends at the ends
    with pytest.raises(ValueError, match="border"):
        gaussian_smooth(x, 1.0, border="reflect")


@pytest.mark.parametrize("border", ["zeros", "replicate"])
def test_gaussian_smooth_gradients_are_the_finite_differences_to_second_order(border):
    x = torch.randn(2, 2, 7, 5, 6, dtype=torch.float64, requires_grad=True)  # each axis shorter than the kernel
    smooth = lambda t: gaussian_smooth(t, 1.2, border=border)  # noqa: E731
    assert torch.autograd.gradcheck(smooth, x) and torch.autograd.gradgradcheck(smooth, x)


def test_gaussian_smooth_gradient_under_autocast_is_the_full_precision_one():
    x = torch.randn(1, 3, 8, 9, 10, requires_grad=True)
    weights = torch.randn(1, 3, 8, 9, 10)
    (exact,) = torch.autograd.grad((gaussian_smooth(x, 1.0) * weights).sum(), x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = gaussian_smooth(x, 1.0)
    (low,) = torch.autograd.grad((y.float() * weights).sum(), x)
    torch.testing.assert_close(low, exact, atol=0.05, rtol=0.02)  # bfloat16 keeps ~3 significant digits


def test_invert_field_of_a_translation_follows_the_damped_iteration():
    c = torch.tensor([1.5, -2.0, 0.25]).view(1, 3, 1, 1, 1)
    u = c.expand(1, 3, 8, 9, 10).clone()
    v = invert_field(u, torch.zeros_like(u), iterations=6, damping=0.5)
    torch.testing.assert_close(v, (-c * (1 - 0.5**6)).expand_as(u), rtol=0, atol=1e-5)
    torch.testing.assert_close(invert_field(u, torch.zeros_like(u), 1, damping=1.0), -u, rtol=0, atol=1e-5)


def test_invert_field_polishes_an_integrated_inverse(rng):
    v = t(smooth_field(rng, (24, 24, 24), 4.0, sigma=4))
    u, u_inv = integrate_velocity(v, 6), integrate_velocity(-v, 6)
    inner = (slice(None), slice(None), slice(4, -4), slice(4, -4), slice(4, -4))
    before = compose(u, u_inv)[inner].abs().max()
    after = compose(u, invert_field(u, u_inv, 10))[inner].abs().max()
    assert before > 0.01 and after < before / 100


def test_two_translations_off_by_a_constant_become_exact_inverses_each_moving_half_way():
    c, e = torch.tensor([1.5, -2.0, 0.25]).view(1, 3, 1, 1, 1), torch.tensor([0.2, 0.1, -0.4]).view(1, 3, 1, 1, 1)
    u, v = c.expand(1, 3, 6, 7, 8).clone(), (e - c).expand(1, 3, 6, 7, 8).clone()
    u2, v2 = mutual_inverse_step(u, v)
    torch.testing.assert_close(u2, (c - e / 2).expand_as(u), rtol=0, atol=1e-6)
    torch.testing.assert_close(v2, (e / 2 - c).expand_as(u), rtol=0, atol=1e-6)
    assert compose(u2, v2).abs().max() < 1e-6 and compose(v2, u2).abs().max() < 1e-6


def test_mutual_inverse_step_shrinks_both_residuals_and_exchanges_with_its_inputs(rng):
    v = t(smooth_field(rng, (24, 24, 24), 4.0, sigma=4))
    u, u_inv = integrate_velocity(v, 6), integrate_velocity(-v, 1)  # one step: a rough inverse
    inner = (slice(None), slice(None), slice(4, -4), slice(4, -4), slice(4, -4))
    residual = lambda a, b: (compose(a, b)[inner].norm(dim=1).mean(), compose(b, a)[inner].norm(dim=1).mean())
    a, b = mutual_inverse_step(u, u_inv)
    for before, after in zip(residual(u, u_inv), residual(a, b)):
        assert before > 0.02 and after < before / 3  # damping 1 leaves both as they are
    b2, a2 = mutual_inverse_step(u_inv, u)
    assert torch.equal(a, a2) and torch.equal(b, b2)


def test_integrate_sequence_returns_matching_inverse(rng):
    shape = (20, 20, 20)
    vs = [t(smooth_field(rng, shape, 2.0, sigma=4)) for _ in range(3)]
    u, u_inv = integrate_sequence(vs, 6)
    assert compose(u, u_inv)[:, :, 4:-4, 4:-4, 4:-4].abs().max() < 0.1
    assert compose(u_inv, u)[:, :, 4:-4, 4:-4, 4:-4].abs().max() < 0.1


def test_constant_velocity_integrates_to_translation():
    v = torch.tensor([1.5, -0.5, 2.0]).view(1, 3, 1, 1, 1).expand(1, 3, 8, 8, 8).contiguous()
    assert torch.allclose(integrate_velocity(v, 5), v, atol=1e-5)


def test_resize_field_rescales_units():
    shape, big = (9, 9, 9), (17, 17, 17)
    grid = identity_grid(shape)
    u = 0.1 * grid  # a linear field: scaling by 1.1 about the origin voxel
    up = resize_field(u, big)
    assert torch.allclose(up, 0.1 * identity_grid(big), atol=1e-5)


def test_jacobian_of_identity_and_scaling():
    zero = torch.zeros(1, 3, 8, 9, 10)
    assert torch.allclose(jacobian_determinant(zero), torch.ones(1, 8, 9, 10))
    scale = 0.5 * identity_grid((8, 9, 10))  # x -> 1.5 x
    assert torch.allclose(jacobian_determinant(scale), torch.full((1, 8, 9, 10), 1.5**3))
    fold = -2.0 * identity_grid((8, 9, 10))  # x -> -x: det -1
    assert torch.allclose(jacobian_determinant(fold), torch.full((1, 8, 9, 10), -1.0))


def test_jacobian_of_a_general_linear_map_is_its_determinant():
    # every entry of the Jacobian matters: two non-symmetric matrices, one orientation-preserving, one not
    grid = identity_grid((7, 8, 9), dtype=torch.float64)
    for a in (torch.tensor([[1.2, 0.3, -0.2], [0.1, 0.9, 0.4], [-0.3, 0.2, 1.1]], dtype=torch.float64),
              torch.tensor([[0.2, 1.1, 0.3], [1.0, 0.1, -0.2], [0.4, 0.3, 0.9]], dtype=torch.float64)):
        u = torch.einsum("ca,bahwd->bchwd", a - torch.eye(3, dtype=torch.float64), grid)  # x -> A x
        assert torch.allclose(jacobian_determinant(u), torch.linalg.det(a).expand(1, 7, 8, 9))


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_jacobian_in_slabs_and_at_strided_points_is_the_whole_grids(rng, monkeypatch, stride):
    u = t(smooth_field(rng, (13, 10, 11), 3.0, sigma=1.5)).double().requires_grad_()
    whole = jacobian_determinant(u).detach()  # recording gradients: the whole grid at once
    monkeypatch.setattr(transforms, "SLAB_POINTS", 2 * 10 * 11)  # without: slabs of two planes
    with torch.no_grad():
        assert torch.equal(jacobian_determinant(u, stride=stride), whole[:, ::stride, ::stride, ::stride])


def test_paired_calls_give_the_separate_results(rng):
    shape = (9, 10, 11)
    img = [t(smooth_image(rng, shape)) for _ in range(2)]
    u = [t(smooth_field(rng, shape, 2.0)) for _ in range(2)]
    for fn, first, second in ((warp, (img[0], u[0]), (img[1], u[1])), (compose, (u[0], u[1]), (u[1], u[0]))):
        a, b = paired(fn, first, second)
        assert torch.equal(a, fn(*first)) and torch.equal(b, fn(*second))


def test_warp_rejects_mismatched_grids():
    with pytest.raises(ValueError, match="differs"):
        warp(torch.zeros(1, 1, 4, 4, 4), torch.zeros(1, 3, 5, 4, 4))


@pytest.mark.parametrize("shift", [(0, 0, 0), (2, -1, 3)])
def test_generic_label_warp_is_exact_for_integer_translations(shift):
    labels = torch.zeros(1, 1, 12, 11, 10, dtype=torch.int32)
    labels[0, 0, 3:7, 2:6, 4:8] = 5
    labels[0, 0, 6:9, 5:9, 2:5] = 2
    u = torch.zeros(1, 3, 12, 11, 10)
    for c, s in enumerate(shift):
        u[:, c] = s
    out = warp_labels(labels, u, mode="generic")
    assert out.dtype == labels.dtype and torch.equal(out, warp_labels(labels, u))


def test_generic_label_warp_keeps_label_values_and_fills_outside_with_background():
    labels = torch.zeros(1, 1, 10, 10, 10, dtype=torch.int64)
    labels[0, 0, 2:8, 2:8, 2:8] = 3
    labels[0, 0, 4:6, 4:6, 4:6] = 9
    u = torch.full((1, 3, 10, 10, 10), 0.4)
    u[:, 0] = 6.5  # samples past the end of axis 0 for i >= 3
    out = warp_labels(labels, u, mode="generic")
    assert set(out.unique().tolist()) <= {0, 3, 9}
    assert (out[0, 0, 4:] == 0).all()
    with pytest.raises(ValueError, match="nearest' or 'generic"):
        warp_labels(labels, u, mode="linear")


def generic_reference(labels, u):
    """The generic-label interpolation by its definition: every label's indicator warped trilinearly over the whole
    grid, the first of the largest taken (background first, 1 outside the image)."""
    values = [int(k) for k in labels.unique() if k != 0]
    background = 1.0 - warp((labels != 0).float(), u)
    indicators = torch.cat([background, *(warp((labels == k).float(), u) for k in values)], dim=1)
    return torch.tensor([0, *values], dtype=labels.dtype)[indicators.argmax(1, keepdim=True)]


def test_generic_label_warp_takes_the_largest_indicator_and_the_smaller_label_on_a_tie(rng):
    labels = torch.as_tensor(rng.integers(0, 6, size=(2, 1, 9, 8, 7)), dtype=torch.int32)
    u = t(smooth_field(rng, (9, 8, 7), 2.0, sigma=1.0)).repeat(2, 1, 1, 1, 1)
    u[1] = 0.5  # half a voxel: every indicator 0, 1/2 or 1 along each axis, ties everywhere
    assert torch.equal(warp_labels(labels, u, mode="generic"), generic_reference(labels, u))


@pytest.mark.parametrize("amplitude", [0.7, 4.0, 15.0])  # up to far outside the grid
def test_generic_label_warp_interpolates_only_where_neighbours_differ_and_gives_the_definitions_labels(rng, amplitude):
    blocks = torch.as_tensor(rng.choice([0, 2, 3, 7, 40], size=(2, 1, 5, 4, 4)), dtype=torch.int64)
    labels = F.interpolate(blocks.float(), size=(20, 17, 15)).long()  # regions of one label, boundaries between
    labels = labels.transpose(2, 4).contiguous().transpose(2, 4)  # strides of a Fortran-ordered numpy array
    u = torch.as_tensor(np.stack([smooth_field(rng, (20, 17, 15), amplitude, sigma=2.0) for _ in range(2)]))
    out = warp_labels(labels, u, mode="generic")
    assert out.dtype == labels.dtype and torch.equal(out, generic_reference(labels, u))


@pytest.mark.parametrize("centre", [10.0, 3.0])  # inside the grid (unfold works on a box around it), at its border
def test_unfold_removes_a_local_fold_and_leaves_the_rest_of_the_field(centre):
    grid = identity_grid((32, 32, 32))[0]
    blob = torch.exp(-((grid - centre) ** 2).sum(0) / (2 * 1.2**2))
    u = torch.zeros(1, 3, 32, 32, 32)
    u[0, 0] = -3.0 * blob  # pulls the points before the centre past it: det < 0 there
    u += 0.5 * torch.sin(grid[1] / 4)[None, None]  # and a smooth fold-free part elsewhere
    assert (jacobian_determinant(u) <= 0).sum() > 0
    fixed, changed, left = unfold(u)
    assert (jacobian_determinant(fixed) <= 0).sum() == 0 and left == 0
    far = ((grid - centre).abs().amax(0) > 6)[None, None].expand_as(u)
    assert torch.equal(fixed[far], u[far]) and 0 < changed < 13**3  # only near the fold
    smooth = 0.5 * torch.sin(grid / 4)[None]
    same, none, left = unfold(smooth)
    assert none == left == 0 and torch.equal(same, smooth)

import torch
import pytest

from conftest import smooth_image, t
from dccnnreg.layers import ConvLSTMCell, UNetPyramid
from dccnnreg.model import DCCNNLSTMReg, ModelConfig, polish_inverses
from dccnnreg.transforms import compose, jacobian_determinant

CFG = ModelConfig(channels=[4, 8, 8], hidden=[4, 8, 8], time_steps=[0, 2, 2], int_steps=4)


def randomized(seed=0):
    torch.manual_seed(seed)
    model = DCCNNLSTMReg(CFG)
    for l in model.heads.values():  # make the increments visible
        torch.nn.init.normal_(l.weight, std=20.0)
    return model.eval()


def test_output_shapes_on_unpadded_grid():
    out = randomized()(torch.rand(1, 1, 13, 17, 10), torch.rand(1, 1, 13, 17, 10))
    assert all(v.shape == (1, 3, 13, 17, 10) for v in out.values())


@pytest.mark.parametrize("time_steps, decoded", [([0, 2, 2], False), ([1, 2, 2], True)])
def test_the_full_resolution_level_is_decoded_only_when_it_has_steps(time_steps, decoded):
    model = DCCNNLSTMReg(ModelConfig(channels=[4, 8, 8], hidden=[4, 8, 8], time_steps=time_steps, int_steps=4))
    calls = []
    model.features.dec[0].register_forward_hook(lambda *_: calls.append(1))
    model(torch.rand(1, 1, 16, 16, 16), torch.rand(1, 1, 16, 16, 16))
    assert bool(calls) == decoded


def test_levels_left_undecoded_change_no_other_level():
    torch.manual_seed(0)
    net, x = UNetPyramid([4, 8, 8]), torch.rand(2, 1, 16, 16, 16)
    full, part = net(x), net(x, finest=1)
    assert part[0] is None and full[0].shape == (2, 4, 16, 16, 16)
    assert all(torch.equal(a, b) for a, b in zip(full[1:], part[1:]))


def test_lstm_cell_without_state_is_the_cell_with_zero_state():
    torch.manual_seed(0)
    cell, x = ConvLSTMCell(6, 4), torch.rand(2, 6, 8, 8, 8)
    zero = torch.zeros(2, 4, 8, 8, 8)
    for a, b in zip(cell(x, None), cell(x, (zero, zero))):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    h, c = cell(x, None)
    assert h.abs().max() > 0.01 and c.abs().max() > 0.01


def test_starts_at_identity():
    torch.manual_seed(0)
    out = DCCNNLSTMReg(CFG)(torch.rand(1, 1, 16, 16, 16), torch.rand(1, 1, 16, 16, 16))
    assert out["forward"].abs().max() < 1e-3


def test_swapping_inputs_swaps_paths():
    m, f = torch.rand(1, 1, 16, 16, 16), torch.rand(1, 1, 16, 16, 16)
    model = randomized()
    with torch.no_grad():
        a, b = model(m, f), model(f, m)
    assert torch.allclose(a["psi_m"], b["psi_f"], atol=1e-5)
    assert torch.allclose(a["forward"], b["inverse"], atol=1e-5)
    assert a["forward"].abs().max() > 0.05


def test_forward_and_inverse_are_consistent_and_fold_free(rng):
    m, f = t(smooth_image(rng, (24, 24, 24), 3)), t(smooth_image(rng, (24, 24, 24), 3))
    with torch.no_grad():
        out = randomized()(m, f)
    inner = (slice(None), slice(None), slice(4, -4), slice(4, -4), slice(4, -4))
    for half in ("psi_m", "psi_f"):
        assert out[half].abs().max() > 0.3
        assert compose(out[half], out[half + "_inv"])[inner].abs().max() < 0.1 * out[half].abs().max()
    assert compose(out["forward"], out["inverse"])[inner].abs().max() < 0.1  # voxels
    assert jacobian_determinant(out["forward"]).min() > 0


def test_polished_inverses_invert_the_half_maps_and_keep_the_swap(rng):
    m, f = t(smooth_image(rng, (24, 24, 24), 3)), t(smooth_image(rng, (24, 24, 24), 3))
    model = randomized()
    with torch.no_grad():
        raw, swapped = model(m, f), model(f, m)
        a, b = polish_inverses(raw), polish_inverses(swapped)
    for half in ("psi_m", "psi_f"):
        before = compose(raw[half], raw[half + "_inv"]).abs().max()
        assert compose(a[half], a[half + "_inv"]).abs().max() < before / 10
    assert torch.allclose(a["forward"], b["inverse"], atol=1e-5) and torch.allclose(a["inverse"], b["forward"], atol=1e-5)
    assert (a["forward"] - raw["forward"]).abs().max() > 1e-3  # the forward map uses the polished inverse


def test_bf16_autocast_runs_and_stays_float32_fields():
    m, f = torch.rand(1, 1, 16, 16, 16), torch.rand(1, 1, 16, 16, 16)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = randomized()(m, f)
    assert out["forward"].dtype == torch.float32 and torch.isfinite(out["forward"]).all()


def test_config_validation():
    with pytest.raises(ValueError, match="one entry per level"):
        ModelConfig(channels=[4, 8], hidden=[4], time_steps=[0, 1])
    with pytest.raises(ValueError, match="non-zero"):
        ModelConfig(channels=[4, 8], hidden=[4, 8], time_steps=[0, 0])

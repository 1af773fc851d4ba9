import json

import numpy as np
import pytest
import torch

from conftest import smooth_field, smooth_image
from dccnnreg import checkpoint
from dccnnreg import refine as refine_module
from dccnnreg.data import Sample
from dccnnreg.losses import LossWeights, middle_loss
from dccnnreg.metrics import dice_per_label
from dccnnreg.model import DCCNNLSTMReg, ModelConfig
from dccnnreg.refine import RefineConfig, objective_weights, refine, squarings
from dccnnreg.register import register_pair
from dccnnreg.register_jobs import register_network_job
from dccnnreg.synth import phantom
from dccnnreg.transforms import apply_field, compose, jacobian_determinant
from dccnnreg.voxelmorph_net import VoxelMorphNet, VxmConfig

CPU = torch.device("cpu")
CFG = ModelConfig(channels=[4, 8, 8], hidden=[4, 8, 8], time_steps=[0, 2, 2], int_steps=4)
WEIGHTS = LossWeights(ncc_window=5, smooth=0.5)


def network(seed=0, std=0.0):
    torch.manual_seed(seed)
    model = DCCNNLSTMReg(CFG)
    if std:
        for head in model.heads.values():  # a visible answer to refine
            torch.nn.init.normal_(head.weight, std=std)
    return model.eval()


def sample(name, image, labels=None):
    return Sample(name, image, labels, np.eye(4))


def shifted_pair(shift=2.0, shape=(24, 24, 24)):
    """A phantom and its copy pulled back by a constant shift along the first axis (fixed = moving o (x + shift))."""
    image, labels = phantom(shape, np.random.default_rng(0))
    u = np.zeros((3, *shape), np.float32)
    u[0] = shift
    moved, moved_labels = apply_field(image, labels, u)
    return sample("moving", image, labels), sample("fixed", moved, moved_labels)


@pytest.mark.parametrize("inverse,detail", [(0.0, 0.0), (20.0, 0.0), (0.0, 2.0)])
def test_swapped_pair_gives_the_inverse_map_after_refinement(rng, inverse, detail):
    a = sample("a", smooth_image(rng, (20, 20, 20), 2))
    b = sample("b", apply_field(a.image, None, smooth_field(rng, (20, 20, 20), 2.0))[0])
    config = RefineConfig(steps=6, lr=0.2, scale=2, inverse=inverse, detail_sigma=detail)
    model, refinement = network(std=5.0), (config, WEIGHTS)
    plain = register_pair(model, a, b, CPU)
    ab, ba = register_pair(model, a, b, CPU, refinement=refinement), register_pair(model, b, a, CPU, refinement=refinement)
    assert np.abs(ab.forward - plain.forward).max() > 0.05  # refinement moved the map
    np.testing.assert_allclose(ab.forward, ba.inverse, atol=1e-4)
    np.testing.assert_allclose(ab.inverse, ba.forward, atol=1e-4)
    assert ab.refine_seconds > 0 and plain.refine_seconds == 0


def test_refinement_recovers_a_translation_without_folding():
    moving, fixed = shifted_pair(2.0)
    model = network()  # untrained: starts at identity
    plain = register_pair(model, moving, fixed, CPU)
    reg = register_pair(model, moving, fixed, CPU, refinement=(RefineConfig(steps=60, lr=0.1, scale=2), WEIGHTS))
    dice = lambda r: np.mean(list(dice_per_label(r.warped_labels, fixed.labels).values()))
    inside = fixed.labels > 0
    assert abs(plain.forward[0][inside].mean()) < 0.05
    assert abs(reg.forward[0][inside].mean() - 2.0) < 0.5  # voxels, the known shift
    assert dice(reg) > dice(plain) + 0.1
    assert reg.jacobian.min() > 0
    fwd, inv = (torch.as_tensor(x)[None] for x in (reg.forward, reg.inverse))
    assert compose(fwd, inv)[0].norm(dim=0).numpy()[inside].mean() < 0.05  # voxels: phi o phi^-1 = id


def test_refinement_adds_no_folds(rng, monkeypatch, caplog):
    a = smooth_image(rng, (20, 20, 20), 2)
    m, f = (torch.as_tensor(x)[None, None] for x in (a, apply_field(a, None, smooth_field(rng, (20, 20, 20), 3.0))[0]))
    with torch.no_grad():
        out = network(std=5.0)(m, f)
    config, weights = RefineConfig(steps=10, lr=0.5, sigma=0, int_steps=2), LossWeights(ncc_window=5, smooth=0.0)
    folds = lambda maps: sum(int((jacobian_determinant(maps[k]) <= 0).sum()) for k in ("forward", "inverse"))
    with monkeypatch.context() as patch:
        patch.setattr(refine_module, "folded", lambda maps: torch.tensor(False))
        unguarded, _ = refine(out, m, f, weights, config)
    assert folds(out) == 0 and folds(unguarded) > 0  # large unsmoothed steps fold
    guarded, _ = refine(out, m, f, weights, config)
    assert folds(guarded) == 0
    assert (guarded["forward"] - out["forward"]).abs().max() > 0.1  # still refined, by a shorter step
    assert "scaled by" in caplog.text


def test_smooth_factor_weighs_the_smoothness_of_the_training_objective(rng):
    a = smooth_image(rng, (20, 20, 20), 2)
    m, f = (torch.as_tensor(x)[None, None] for x in (a, apply_field(a, None, smooth_field(rng, (20, 20, 20), 3.0))[0]))
    with torch.no_grad():
        out = network(std=5.0)(m, f)
    assert objective_weights(WEIGHTS, RefineConfig(smooth_factor=3.0)) == LossWeights(ncc_window=5, smooth=1.5)

    def diffusion(factor):  # of the refined half-maps
        maps, _ = refine(out, m, f, WEIGHTS, RefineConfig(steps=15, lr=0.3, sigma=0.5, smooth_factor=factor))
        return middle_loss(maps, m, f, WEIGHTS)[1]["smooth"]

    assert diffusion(8.0) < 0.8 * diffusion(1.0)


def test_inverse_consistency_term_makes_the_exported_maps_agree(rng):
    a = sample("a", smooth_image(rng, (20, 20, 20), 2))
    # a warp both refinements follow without folding: w shrunk against folds (a step of 3/4) would decide instead
    b = sample("b", apply_field(a.image, None, smooth_field(rng, (20, 20, 20), 2.0))[0])
    model = network(std=5.0)

    def disagreement(inverse):  # mean |phi o phi^-1 - id| and |phi^-1 o phi - id|, voxels
        config = RefineConfig(steps=15, lr=0.3, sigma=0.5, inverse=inverse, smooth_factor=1.0)  # the term alone
        reg = register_pair(model, a, b, CPU, refinement=(config, WEIGHTS))
        fwd, inv = (torch.as_tensor(x)[None] for x in (reg.forward, reg.inverse))
        return [float(compose(p, q)[0].norm(dim=0).mean()) for p, q in ((fwd, inv), (inv, fwd))]

    plain, consistent = disagreement(0.0), disagreement(20.0)
    assert min(plain) > 0.01 and max(consistent) < 0.5 * min(plain)


@pytest.mark.parametrize("longest,expected", [(0.0, 0), (0.45, 0), (0.55, 1), (0.95, 1), (1.05, 2), (4.1, 4)])
def test_exp_w_is_squared_until_its_longest_piece_is_within_half_a_voxel(longest, expected):
    w = torch.zeros(1, 3, 4, 5, 6)
    w[0, :, 1, 2, 3] = torch.tensor([0.6, 0.0, -0.8]) * longest  # the longest vector, length `longest`
    w[0, 0, 2, 2, 2] = 0.9 * longest  # a shorter one along an axis
    assert squarings(w) == squarings(-w) == expected
    assert squarings(w, int_steps=1) == 1


def test_refinement_lowers_its_objective_from_the_networks_answer():
    moving, fixed = shifted_pair(2.0, (16, 16, 16))
    m, f = (torch.as_tensor(s.image)[None, None] for s in (moving, fixed))
    with torch.no_grad():
        out = network()(m, f)
    config = RefineConfig(steps=15, lr=0.1)
    refined, losses = refine(out, m, f, WEIGHTS, config)
    assert len(losses) == 15 and losses[-1] < 0.9 * losses[0]
    assert float(middle_loss(refined, m, f, objective_weights(WEIGHTS, config))[0]) < losses[-1]  # lower still
    assert set(refined) == {"forward", "inverse", "psi_m", "psi_f", "psi_m_inv", "psi_f_inv"}


def test_refinement_needs_the_symmetric_network_and_valid_settings():
    moving, fixed = shifted_pair(1.0, (16, 16, 16))
    vxm = VoxelMorphNet(VxmConfig(features=[4, 8], int_steps=3)).eval()
    with pytest.raises(ValueError, match="half-maps"):
        register_pair(vxm, moving, fixed, CPU, refinement=(RefineConfig(steps=2), WEIGHTS))
    with pytest.raises(ValueError, match="steps >= 0"):
        RefineConfig(steps=-1)
    with pytest.raises(ValueError, match="lr > 0"):
        RefineConfig(steps=3, lr=0.0)
    with pytest.raises(ValueError, match="inverse >= 0"):
        RefineConfig(steps=3, inverse=-1.0)
    with pytest.raises(ValueError, match="smooth_factor >= 0"):
        RefineConfig(steps=3, smooth_factor=-1.0)


def test_register_job_refines_with_the_models_training_objective(tmp_path):
    from dccnnreg.data import SubjectFiles
    from dccnnreg.nifti import save_volume

    moving, fixed = shifted_pair(1.5, (16, 16, 16))
    for s in (moving, fixed):
        save_volume(s.image, s.affine, tmp_path / f"{s.name}.nii.gz", np.float32)
    model_path = tmp_path / "model.pt"
    checkpoint.save(model_path, network(), 0, extra={"train_config": {"loss": WEIGHTS.to_dict()}})
    assert checkpoint.training_loss(model_path) == WEIGHTS
    subjects = [SubjectFiles("moving", str(tmp_path / "moving.nii.gz"))]
    for settings, out in ((None, "plain"), ({"steps": 4, "lr": 0.1, "scale": 2}, "refined")):
        register_network_job(model_path, {"brain": str(tmp_path / "fixed.nii.gz")}, subjects, tmp_path / out, "d", "fp32",
                             settings)
    plain, refined = (json.loads((tmp_path / d / "moving_time.json").read_text()) for d in ("plain", "refined"))
    assert plain["refine_seconds"] == 0 and refined["refine_seconds"] > 0
    checkpoint.save(tmp_path / "bare.pt", network(), 0)
    with pytest.raises(ValueError, match="training settings"):
        checkpoint.training_loss(tmp_path / "bare.pt")


def test_command_line_refines_and_reports_its_time(tmp_path, capsys):
    from dccnnreg.cli import main
    from dccnnreg.nifti import save_volume

    moving, fixed = shifted_pair(1.5, (16, 16, 16))
    for s in (moving, fixed):
        save_volume(s.image, s.affine, tmp_path / f"{s.name}.nii.gz", np.float32)
    checkpoint.save(tmp_path / "model.pt", network(), 0, extra={"train_config": {"loss": WEIGHTS.to_dict()}})
    args = ["register", "--model", str(tmp_path / "model.pt"), "--fixed", str(tmp_path / "fixed.nii.gz"),
            "--moving", str(tmp_path / "moving.nii.gz"), "--out-prefix", str(tmp_path / "out/m")]
    times = {}
    for steps in (0, 3):
        capsys.readouterr()
        assert main([*args, "--refine-steps", str(steps)]) == 0
        rows = dict(line.split("\t") for line in capsys.readouterr().out.splitlines())
        times[steps] = float(rows["refine_seconds"])
    assert times[0] == 0 and times[3] > 0

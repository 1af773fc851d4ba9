"""The VoxelMorph baseline: same field convention as dccnnreg, inverse from the negated velocity,
trained and resumed by the same training code."""

import json

import numpy as np
import pytest
import torch
import yaml

from conftest import smooth_image, t
from dccnnreg import checkpoint
from dccnnreg.cli import main
from dccnnreg.losses import LossWeights
from dccnnreg.model import ModelConfig
from dccnnreg.register import register_pair
from dccnnreg.train import TrainConfig, train
from dccnnreg.transforms import compose, warp
from dccnnreg.voxelmorph_net import VoxelMorphNet, VxmConfig
from test_interruption import write_cohort
from test_train import cohort, mean_dice

vxm = pytest.importorskip("voxelmorph")
CPU = torch.device("cpu")
TINY = VxmConfig(features=[4, 8], int_steps=4)


def test_voxelmorph_warps_in_our_convention(rng):
    image = t(smooth_image(rng, (12, 14, 10)))
    u = torch.zeros(1, 3, 12, 14, 10)
    u[:, 0], u[:, 1], u[:, 2] = 1.0, -2.0, 0.5  # voxels along array axes i, j, k
    theirs = vxm.nn.modules.SpatialTransformer()(image, u)
    assert torch.allclose(theirs, warp(image, u), atol=1e-6)
    shifted = vxm.nn.modules.SpatialTransformer()(image, torch.zeros_like(u).index_fill_(1, torch.tensor([0]), 2.0))
    assert torch.allclose(shifted[0, 0, :-2], image[0, 0, 2:], atol=1e-6)  # integer shift is exact


def test_fields_cover_an_unpadded_grid_and_invert_each_other():
    torch.manual_seed(0)
    model = VoxelMorphNet(TINY).eval()
    torch.nn.init.normal_(model.net.flow_layer.conv0.weight, std=0.05)  # visible, smooth-ish velocities
    with torch.no_grad():
        out = model(torch.rand(1, 1, 13, 17, 10), torch.rand(1, 1, 13, 17, 10))
    assert all(v.shape == (1, 3, 13, 17, 10) for v in out.values())
    assert out["forward"].abs().max() > 0.05
    residual = compose(out["forward"], out["inverse"])[..., 2:-2, 2:-2, 2:-2].abs().max()
    assert residual < 0.2 * out["forward"].abs().max()


def test_training_improves_dice_and_checkpoint_round_trips(tmp_path):
    torch.set_num_threads(2)
    atlas, subjects = cohort((32, 32, 32), 6, amplitude=1 / 6, sigma=1 / 4)
    config = VxmConfig(features=[16, 16, 16, 16], int_steps=5)
    loss = LossWeights(similarity="mse", smooth=0.01)  # VoxelMorph's MSE weighting; piecewise-flat phantoms
    path = train(subjects[:4], tmp_path, config,
                 TrainConfig(precision="fp32", steps=150, lr=3e-3, pair_mode="atlas", val_every=0, checkpoint_every=75, loss=loss),
                 CPU, atlas=atlas, progress=False)
    model = checkpoint.load_model(path)
    assert isinstance(model, VoxelMorphNet) and checkpoint.load(path)["method"] == "voxelmorph"
    before = [mean_dice(s.labels, atlas.labels) for s in subjects[4:]]
    after = [mean_dice(register_pair(model, s, atlas, CPU).warped_labels, atlas.labels) for s in subjects[4:]]
    assert np.mean(after) > np.mean(before) + 0.03


def test_resume_refuses_another_method(tmp_path):
    atlas, subjects = cohort((16, 16, 16), 2)
    dccnn = ModelConfig(channels=[4, 8, 8], hidden=[4, 8, 8], time_steps=[0, 1, 2], int_steps=3)
    train(subjects, tmp_path, dccnn, TrainConfig(precision="fp32", steps=1, checkpoint_every=1), CPU, atlas=atlas, progress=False)
    with pytest.raises(RuntimeError, match="differs"):
        train(subjects, tmp_path, TINY, TrainConfig(precision="fp32", steps=2), CPU, atlas=atlas, progress=False)


def test_command_line_trains_and_registers_with_voxelmorph(tmp_path, capsys):
    write_cohort(tmp_path)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(
        {"train": {"steps": 2, "precision": "fp32", "checkpoint_every": 1}, "voxelmorph": {"net": {"features": [4, 8], "int_steps": 3}}}))
    atlas_path = str(tmp_path / "atlas.nii.gz")
    assert main(["train", "--method", "voxelmorph", "--train-list", str(tmp_path / "train.tsv"), "--atlas", atlas_path,
                 "--config", str(tmp_path / "cfg.yaml"), "--out", str(tmp_path / "m"), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["info", "--model", str(tmp_path / "m/model.pt")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["method"] == "voxelmorph" and info["model_config"] == {"features": [4, 8], "int_steps": 3}
    assert main(["register", "--model", str(tmp_path / "m/model.pt"), "--fixed", atlas_path,
                 "--moving", str(tmp_path / "s0.nii.gz"), "--out-prefix", str(tmp_path / "out/s0")]) == 0
    assert (tmp_path / "out/s0_fwd_warp.nii.gz").exists() and (tmp_path / "out/s0_inv_warp.nii.gz").exists()

"""Training: improves Dice on deformed phantoms without folding; checkpoints resume exactly."""

import numpy as np
import pytest
import torch

from dccnnreg import checkpoint
from dccnnreg.data import Sample
from dccnnreg.losses import LossWeights
from dccnnreg.metrics import dice_per_label, folding_percent
from dccnnreg.model import ModelConfig
from dccnnreg.register import register_pair
from dccnnreg.synth import phantom, random_diffeomorphism
from dccnnreg.train import TrainConfig, train
from dccnnreg.transforms import apply_field

CPU = torch.device("cpu")
TINY = ModelConfig(channels=[4, 8, 8], hidden=[4, 8, 8], time_steps=[0, 1, 2], int_steps=3)


def cohort(shape, n, seed=0, amplitude=0.1, sigma=0.125):
    rng = np.random.default_rng(seed)
    img, lab = phantom(shape, rng)
    atlas = Sample("atlas", img, lab, np.eye(4))
    subjects = []
    for i in range(n):
        u, _ = random_diffeomorphism(shape, rng, amplitude=shape[0] * amplitude, sigma=shape[0] * sigma)
        a, b = apply_field(img, lab, u)
        subjects.append(Sample(f"s{i}", a, b, np.eye(4)))
    return atlas, subjects


def mean_dice(a, b):
    return float(np.mean(list(dice_per_label(a, b).values())))


def test_training_improves_dice_without_folding(tmp_path):
    torch.set_num_threads(2)
    atlas, subjects = cohort((32, 32, 32), 8, amplitude=1 / 6, sigma=1 / 4)
    train_set, test_set = subjects[:6], subjects[6:]
    cfg = ModelConfig(channels=[8, 16, 16, 16], hidden=[8, 16, 16, 16], time_steps=[0, 2, 2, 2], int_steps=5)
    loss = LossWeights(ncc_window=5)
    path = train(train_set, tmp_path, cfg, TrainConfig(precision="fp32", steps=150, lr=2e-3, val_every=0, checkpoint_every=150, loss=loss),
                 CPU, atlas=atlas, progress=False)
    model = checkpoint.load_model(path)
    before, after, folding = [], [], []
    for s in test_set:
        reg = register_pair(model, s, atlas, CPU)
        before.append(mean_dice(s.labels, atlas.labels))
        after.append(mean_dice(reg.warped_labels, atlas.labels))
        folding.append(folding_percent(reg.jacobian))
    print(f"Dice before {np.mean(before):.3f} after {np.mean(after):.3f}, folding {np.max(folding):.4f}%")
    assert np.mean(after) > np.mean(before) + 0.05
    assert max(folding) < 0.1


def test_checkpoint_carries_config_optimizer_step_rng(tmp_path):
    atlas, subjects = cohort((16, 16, 16), 2)
    train(subjects, tmp_path, TINY, TrainConfig(precision="fp32", steps=2, checkpoint_every=1, keep_checkpoints=1), CPU,
          atlas=atlas, progress=False)
    ckpts = sorted((tmp_path / "checkpoints").glob("ckpt_*.pt"))
    assert [p.name for p in ckpts] == ["ckpt_00000002.pt"]
    ck = checkpoint.load(ckpts[0])
    assert ck["model_config"] == TINY.to_dict() and ck["step"] == 2
    assert {"optimizer", "rng", "train_config"} <= set(ck)
    assert {"torch", "numpy", "python"} <= set(ck["rng"])


def test_resume_refuses_a_different_model_config(tmp_path):
    atlas, subjects = cohort((16, 16, 16), 2)
    train(subjects, tmp_path, TINY, TrainConfig(precision="fp32", steps=1, checkpoint_every=1), CPU, atlas=atlas, progress=False)
    other = ModelConfig(channels=[4, 8, 8], hidden=[4, 8, 8], time_steps=[0, 2, 2], int_steps=3)
    with pytest.raises(RuntimeError, match="differs"):
        train(subjects, tmp_path, other, TrainConfig(precision="fp32", steps=2), CPU, atlas=atlas, progress=False)


def test_same_seed_same_weights(tmp_path):
    atlas, subjects = cohort((16, 16, 16), 3)
    cfg = TrainConfig(precision="fp32", steps=2, lr=1e-3, checkpoint_every=2, seed=7)
    a = checkpoint.load(train(subjects, tmp_path / "a", TINY, cfg, CPU, atlas=atlas, progress=False))
    b = checkpoint.load(train(subjects, tmp_path / "b", TINY, cfg, CPU, atlas=atlas, progress=False))
    assert all(torch.equal(v, b["state_dict"][k]) for k, v in a["state_dict"].items())

"""Data-parallel training: two CPU processes (gloo) make the same model as one process."""

import torch

from dccnnreg import checkpoint, distributed
from dccnnreg.train import TrainConfig, train
from test_train import CPU, TINY, cohort

CONFIG = TrainConfig(precision="fp32", steps=3, lr=1e-3, batch_size=2, val_every=3, checkpoint_every=3)


def train_tiny(out_dir) -> None:
    """Module level, so that spawned processes can import it."""
    torch.set_num_threads(1)
    atlas, subjects = cohort((16, 16, 16), 3)
    train(subjects, out_dir, TINY, CONFIG, CPU, atlas=atlas, val_set=subjects[:1], progress=False)


def test_two_processes_match_one(tmp_path):
    train_tiny(tmp_path / "one")
    distributed.launch(train_tiny, 2, tmp_path / "two")
    one, two = (checkpoint.load(tmp_path / d / "model.pt") for d in ("one", "two"))
    assert one["step"] == two["step"] == 3
    for k, v in one["state_dict"].items():
        torch.testing.assert_close(two["state_dict"][k], v, rtol=1e-4, atol=1e-6, msg=k)
    rows = [(tmp_path / d / "metrics.tsv").read_text().splitlines() for d in ("one", "two")]
    assert len(rows[0]) == len(rows[1]) == 4
    for a, b in zip(rows[0][1:], rows[1][1:]):
        torch.testing.assert_close(torch.tensor([float(x) for x in a.split("\t")[:3]]),
                                   torch.tensor([float(x) for x in b.split("\t")[:3]]), rtol=1e-4, atol=1e-6)


def test_a_batch_must_split_evenly_over_processes():
    assert distributed.processes_for(4, 8) == 4
    assert distributed.processes_for(6, 4) == 3
    assert distributed.processes_for(1, 8) == 1
    assert distributed.processes_for(2, 0) == 1

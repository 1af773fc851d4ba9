"""Data-parallel training: two CPU processes (gloo) make the same model as one process."""

import subprocess
import sys

import torch
import yaml

from dccnnreg import checkpoint, distributed
from dccnnreg.train import TrainConfig, train
from test_interruption import write_cohort
from test_train import CPU, TINY, cohort

CONFIG = TrainConfig(precision="fp32", steps=3, lr=1e-3, batch_size=2, val_every=3, checkpoint_every=3)


def train_tiny(out_dir) -> None:
    """Module level, so that spawned processes can import it."""
    torch.set_num_threads(1)
    atlas, subjects = cohort((16, 16, 16), 3)
    train(subjects, out_dir, TINY, CONFIG, CPU, atlas=atlas, val_set=subjects[:1], progress=False)


def assert_same_model(one_dir, two_dir) -> None:
    """The final models in the two folders: both at CONFIG's last step, with the same weights."""
    one, two = (checkpoint.load(d / "model.pt") for d in (one_dir, two_dir))
    assert one["step"] == two["step"] == CONFIG.steps
    for k, v in one["state_dict"].items():
        torch.testing.assert_close(two["state_dict"][k], v, rtol=1e-4, atol=1e-6, msg=k)


def test_two_processes_match_one(tmp_path):
    train_tiny(tmp_path / "one")
    distributed.launch(train_tiny, 2, tmp_path / "two")
    assert_same_model(tmp_path / "one", tmp_path / "two")
    rows = [(tmp_path / d / "metrics.tsv").read_text().splitlines() for d in ("one", "two")]
    assert len(rows[0]) == len(rows[1]) == 4
    for a, b in zip(rows[0][1:], rows[1][1:]):
        torch.testing.assert_close(torch.tensor([float(x) for x in a.split("\t")[:3]]),
                                   torch.tensor([float(x) for x in b.split("\t")[:3]]), rtol=1e-4, atol=1e-6)


def test_torchrun_trains_the_model_of_one_process(tmp_path):
    """The README's multi-GPU command, on CPU: both ranks leave together and exit cleanly."""
    write_cohort(tmp_path)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump({"dccnn_lstm": {"net": TINY.to_dict()}, "train": CONFIG.to_dict()}))
    args = ["-m", "dccnnreg.cli", "train", "--threads", "1", "--train-list", str(tmp_path / "train.tsv"),
            "--val-list", str(tmp_path / "train.tsv"), "--atlas", str(tmp_path / "atlas.nii.gz"),
            "--config", str(tmp_path / "cfg.yaml"), "--quiet", "--out"]
    runs = {"one": [sys.executable, *args, str(tmp_path / "one")],
            "two": [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                    *args, str(tmp_path / "two")]}
    for name, cmd in runs.items():
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{name}: {done.stderr[-3000:]}"
        assert ("training in 2 processes, 1 pair(s) each" in done.stderr) == (name == "two"), done.stderr[-3000:]
    assert_same_model(tmp_path / "one", tmp_path / "two")


def test_a_batch_must_split_evenly_over_processes():
    assert distributed.processes_for(4, 8) == 4
    assert distributed.processes_for(6, 4) == 3
    assert distributed.processes_for(1, 8) == 1
    assert distributed.processes_for(2, 0) == 1

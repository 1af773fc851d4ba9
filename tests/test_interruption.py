"""Interruption: training killed mid-run resumes from its last checkpoint; writes are atomic."""

import os
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
from nibabel.spatialimages import HeaderDataError
import torch
import yaml

from dccnnreg import checkpoint
from dccnnreg.nifti import save_volume
from dccnnreg.train import TrainConfig, train
from test_train import CPU, TINY, cohort


def test_resume_continues_exactly_where_it_stopped(tmp_path):
    atlas, subjects = cohort((16, 16, 16), 3)
    cfg = TrainConfig(precision="fp32", steps=4, lr=1e-3, val_every=2, checkpoint_every=2)
    straight = checkpoint.load(train(subjects, tmp_path / "a", TINY, cfg, CPU, atlas=atlas, val_set=subjects[:1],
                                     progress=False))
    # an "interrupted" run: stopped after its step-2 checkpoint, then started again with the full config
    half = TrainConfig(precision="fp32", steps=2, lr=1e-3, val_every=2, checkpoint_every=2)
    train(subjects, tmp_path / "b", TINY, half, CPU, atlas=atlas, val_set=subjects[:1], progress=False)
    (tmp_path / "b" / "model.pt").unlink()
    resumed = checkpoint.load(train(subjects, tmp_path / "b", TINY, cfg, CPU, atlas=atlas, val_set=subjects[:1],
                                    progress=False))
    assert resumed["step"] == straight["step"] == 4
    assert straight["resumed"] == [] and resumed["resumed"] == [2]
    for k, v in straight["state_dict"].items():
        assert torch.equal(v, resumed["state_dict"][k]), k
    rows = (tmp_path / "b" / "metrics.tsv").read_text().strip().splitlines()
    assert [r.split("\t")[0] for r in rows[1:]] == ["1", "2", "3", "4"]


def write_cohort(tmp_path):
    atlas, subjects = cohort((16, 16, 16), 3)
    rows = ["subject\timage\tlabels"]
    for s in [atlas, *subjects]:
        save_volume(s.image, s.affine, tmp_path / f"{s.name}.nii.gz")
        save_volume(s.labels, s.affine, tmp_path / f"{s.name}_labels.nii.gz", np.int32)
        rows.append(f"{s.name}\t{tmp_path / s.name}.nii.gz\t{tmp_path / s.name}_labels.nii.gz")
    (tmp_path / "train.tsv").write_text("\n".join(rows[:1] + rows[2:]) + "\n")


def test_killed_training_resumes_from_its_last_checkpoint(tmp_path):
    write_cohort(tmp_path)
    steps = 100
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump({"dccnn_lstm": {"net": TINY.to_dict()}, "train": {
        "steps": steps, "lr": 1e-3, "precision": "fp32", "checkpoint_every": 5, "val_every": 0}}))
    cmd = [sys.executable, "-m", "dccnnreg.cli", "train", "--train-list", str(tmp_path / "train.tsv"),
           "--atlas", str(tmp_path / "atlas.nii.gz"), "--config", str(tmp_path / "cfg.yaml"),
           "--out", str(tmp_path / "model"), "--threads", "1", "--quiet"]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while checkpoint.newest(tmp_path / "model" / "checkpoints") is None or checkpoint.load(
            checkpoint.newest(tmp_path / "model" / "checkpoints"))["step"] < 10:
        assert first.poll() is None and time.time() < deadline, "training ended before it could be interrupted"
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = checkpoint.load(checkpoint.newest(tmp_path / "model" / "checkpoints"))["step"]
    assert 10 <= killed_at < steps and not (tmp_path / "model" / "model.pt").exists()

    second = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr
    final = checkpoint.load(tmp_path / "model" / "model.pt")
    assert final["step"] == steps and len(final["resumed"]) == 1 and final["resumed"][0] >= killed_at > 0
    done = [int(r.split("\t")[0]) for r in (tmp_path / "model" / "metrics.tsv").read_text().splitlines()[1:]]
    assert done == list(range(1, steps + 1))


def test_a_failed_write_leaves_no_file(tmp_path):
    target = tmp_path / "out.nii.gz"
    with pytest.raises(HeaderDataError, match="data dtype"):  # nibabel refuses the array midway through the write
        save_volume(np.zeros((2, 2, 2), dtype=object), np.eye(4), target)
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_a_write_killed_midway_never_looks_complete(tmp_path):
    target = tmp_path / "sub-01_fwd_warp.nii.gz"
    code = (
        "import os, signal, sys, nibabel as nib, numpy as np\n"
        "from dccnnreg.nifti import save_volume\n"
        "real_save = nib.save\n"
        "def dying(img, path):\n"
        "    real_save(img, path); os.truncate(path, 100); os.kill(os.getpid(), signal.SIGKILL)\n"
        "nib.save = dying\n"
        "save_volume(np.ones((8, 8, 8), np.float32), np.eye(4), sys.argv[1])\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True)
    assert out.returncode == -signal.SIGKILL, out.stderr
    assert not target.exists()
    assert [p.name.startswith(".tmp-") for p in tmp_path.iterdir()] == [True]


def test_an_atomic_write_gets_the_permissions_of_a_plain_one(tmp_path):
    """Cohort outputs are shared: the temporary file's owner-only mode must not survive the rename."""
    old = os.umask(0o022)
    try:
        save_volume(np.ones((2, 2, 2), np.float32), np.eye(4), tmp_path / "a.nii.gz")
        (tmp_path / "b.txt").write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.nii.gz").stat().st_mode) == stat.S_IMODE((tmp_path / "b.txt").stat().st_mode) == 0o644

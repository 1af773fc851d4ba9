"""The workflow's ``train`` job: training launched on the job's GPUs (one process each) or its CPU, then the
training curve."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import torch

from . import distributed, networks
from .data import SubjectFiles, load_sample
from .device import pick_device
from .jobs import start_log
from .nifti import InputError
from .plots import training_curve_png
from .train import TrainConfig, train


def train_job(method: str, settings: dict, schedule: dict, train_set: list[SubjectFiles], val_set: list[SubjectFiles],
              atlas: tuple[str, str], out_dir, log_path, curve, title: str) -> None:
    """Train ``method`` on ``train_set``: one process, or one per GPU when the job holds several; then
    plot the training curve."""
    if not train_set:
        raise InputError("no training subjects: the split put none in 'train' (check split fractions or the sheet)")
    spec = {"train": train_set, "val": val_set, "atlas": atlas, "method": method, "net": settings,
            "train_config": schedule, "out_dir": str(out_dir), "log": str(log_path)}
    gpus = torch.cuda.device_count()
    nprocs = distributed.processes_for(TrainConfig.from_dict(schedule).batch_size, gpus)
    if gpus > nprocs:
        logging.warning("using %d of %d GPUs: train.batch_size must be a multiple of the processes", nprocs, gpus)
    distributed.launch(train_from_spec, nprocs, spec)
    training_curve_png(pd.read_csv(Path(out_dir) / "metrics.tsv", sep="\t"), curve, title)


def train_from_spec(spec: dict) -> None:
    """One training process: load the subjects named in ``spec`` and train (rank 0 logs)."""
    if distributed.current().rank > 0:
        logging.disable(logging.INFO)
    elif distributed.current().world > 1:
        start_log(spec["log"])
    train_set = [load_sample(s.name, s.brain, s.labels) for s in spec["train"]]
    val_set = [load_sample(s.name, s.brain, s.labels) for s in spec["val"]]
    atlas = load_sample("atlas", *spec["atlas"])
    device = distributed.local_device(pick_device())
    logging.info("training %s on %s (%d process(es)) with %d subjects (%d validation)",
                 spec["method"], device, distributed.current().world, len(train_set), len(val_set))
    config = networks.model_config(spec["method"], spec["net"])
    train(train_set, spec["out_dir"], config, TrainConfig.from_dict(spec["train_config"]),
          device, atlas=atlas, val_set=val_set, progress=True)

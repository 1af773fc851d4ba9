"""Unsupervised (optionally label-supervised) pairwise training with automatic resume."""

from __future__ import annotations

import csv
import logging
import random
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import checkpoint, distributed, networks
from .data import PairSampler, Sample, check_common_grid, image_tensor, one_hot
from .device import autocast
from .losses import LossWeights
from .metrics import dice_per_label
from .transforms import warp_labels

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Training settings: the schedule (config key ``train``, defaults as in ``config/config.yaml``) and the
    method's objective weights ``loss`` (its config section's ``loss``)."""

    steps: int = 10000
    lr: float = 1e-4
    batch_size: int = 1
    pair_mode: str = "both"
    precision: str = "bf16"
    seed: int = 0
    val_every: int = 500
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    loss: LossWeights = field(default_factory=LossWeights)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        loss = LossWeights(**d.pop("loss", {}))
        return cls(loss=loss, **d)

    def to_dict(self) -> dict:
        return asdict(self)


def seed_everything(seed: int) -> np.random.Generator:
    """Seed python, numpy and torch; return the numpy Generator that drives pair sampling."""
    random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def validation_dice(model: torch.nn.Module, val: list[Sample], atlas: Sample | None, device, precision: str) -> float:
    """Mean Dice over labels of each validation subject registered to the atlas (or to the next subject)."""
    pairs = [(s, atlas) for s in val] if atlas is not None else list(zip(val, val[1:] + val[:1]))
    scores = []
    model.eval()
    with torch.no_grad():
        for mov, fix in pairs:
            if mov.labels is None or fix.labels is None or mov is fix:
                continue
            with autocast(device, precision):
                u = model(image_tensor(mov.image, device), image_tensor(fix.image, device))["forward"]
            warped = warp_labels(torch.as_tensor(mov.labels, device=device)[None, None], u.float())[0, 0].cpu().numpy()
            d = dice_per_label(warped, fix.labels)
            if d:
                scores.append(float(np.mean(list(d.values()))))
    model.train()
    return float(np.mean(scores)) if scores else float("nan")


def train(
    train_set: list[Sample],
    out_dir,
    model_config,
    config: TrainConfig,
    device: torch.device,
    atlas: Sample | None = None,
    val_set: list[Sample] | None = None,
    progress: bool = True,
) -> Path:
    """Train the network of ``model_config`` (:mod:`dccnnreg.networks`) on ``train_set`` (all on one grid), ``config.batch_size`` pairs per step, writing into ``out_dir``:

    ``checkpoints/ckpt_<step>.pt`` every ``checkpoint_every`` steps (resumed automatically from
    the newest one, whose method and model config must match; ``resumed`` lists the steps training resumed
    at), ``metrics.tsv`` (loss terms per step, validation Dice every ``val_every`` steps) and finally ``model.pt``. Returns the path of ``model.pt``.
    Inside a process group (:mod:`dccnnreg.distributed`) the ranks share each step's pairs and only
    rank 0 writes; the result does not depend on the number of processes.
    """
    group = distributed.current()
    if config.batch_size % group.world:
        raise ValueError(f"train.batch_size={config.batch_size} cannot be split over {group.world} processes")
    device = distributed.local_device(device)
    if group.main and group.world > 1:
        log.info("training in %d processes, %d pair(s) each per step", group.world, config.batch_size // group.world)
    out_dir = Path(out_dir)
    ckpt_dir = out_dir / "checkpoints"
    if group.main:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
    val_set = val_set or []
    check_common_grid(train_set + val_set + ([atlas] if atlas else []))

    rng = seed_everything(config.seed)
    model = networks.build(model_config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    start, resumed = 0, []
    latest = checkpoint.newest(ckpt_dir)
    if latest is not None:
        ckpt = checkpoint.load(latest, device)
        saved = (checkpoint.method_of(ckpt), ckpt["model_config"])
        if saved != (model.method, model_config.to_dict()):
            raise RuntimeError(
                f"{latest}: checkpoint model {saved} differs from the requested "
                f"{(model.method, model_config.to_dict())}; remove {ckpt_dir} to start afresh"
            )
        model.load_state_dict(ckpt["state_dict"])
        optimizer.load_state_dict(ckpt["optimizer"])
        checkpoint.restore_rng(ckpt["rng"], rng)
        start = ckpt["step"]
        resumed = [*ckpt.get("resumed", []), start]
        log.info("resuming from %s at step %d", latest, start)

    samples = train_set
    sampler = PairSampler(len(samples), atlas is not None, config.pair_mode, rng)
    use_dice = config.loss.dice > 0 and all(s.labels is not None for s in samples + ([atlas] if atlas else []))
    label_set = (
        np.unique(np.concatenate([np.unique(s.labels) for s in samples + ([atlas] if atlas else [])]))
        if use_dice
        else None
    )
    pick = lambda i: atlas if i < 0 else samples[i]
    metrics_path = out_dir / "metrics.tsv"
    learned = networks.method(model.method)
    terms = ["loss", *learned.loss_terms]
    fields = ["step", *terms, "val_dice"]
    if group.main:
        _reset_metrics(metrics_path, fields, start)

    model.train()
    bar = tqdm(range(start, config.steps), initial=start, total=config.steps, disable=not (progress and group.main),
               desc="train", mininterval=0.5 if sys.stderr.isatty() else 30)
    for step in bar:
        pairs = [sampler() for _ in range(config.batch_size)]
        mine = pairs[group.rank :: group.world]
        optimizer.zero_grad(set_to_none=True)
        sums = dict.fromkeys(terms, 0.0)
        for i, j in mine:
            mov, fix = pick(i), pick(j)
            m, f = image_tensor(mov.image, device), image_tensor(fix.image, device)
            with autocast(device, config.precision):
                out = model(m, f)
            oh = (one_hot(mov.labels, label_set, device), one_hot(fix.labels, label_set, device)) if use_dice else (None, None)
            loss, parts = learned.objective(out, m, f, config.loss, *oh)
            (loss / len(mine)).backward()
            for k, v in {"loss": float(loss.detach()), **parts}.items():
                sums[k] += v / len(mine)
        distributed.average_gradients(model.parameters(), group)
        optimizer.step()
        done = step + 1
        row = {"step": done, **dict(zip(terms, distributed.average(list(sums.values()), group, device))), "val_dice": ""}
        if not group.main:
            continue
        if config.val_every and (done % config.val_every == 0 or done == config.steps) and val_set:
            row["val_dice"] = validation_dice(model, val_set, atlas, device, config.precision)
            bar.set_postfix(loss=f"{row['loss']:.4f}", val_dice=f"{row['val_dice']:.3f}", refresh=False)
        else:
            bar.set_postfix(loss=f"{row['loss']:.4f}", refresh=False)
        with open(metrics_path, "a", newline="") as f:
            csv.writer(f, delimiter="\t").writerow([row.get(k, "") for k in fields])
        if done % config.checkpoint_every == 0 or done == config.steps:
            checkpoint.save(checkpoint.step_path(ckpt_dir, done), model, done, optimizer, rng,
                            {"train_config": config.to_dict(), "resumed": resumed})
            checkpoint.prune(ckpt_dir, config.keep_checkpoints)
    final = out_dir / "model.pt"
    if group.main:
        checkpoint.save(final, model, config.steps, extra={"train_config": config.to_dict(), "resumed": resumed})
    return final


def _reset_metrics(path: Path, fields: list[str], upto: int) -> None:
    """Keep the header and the rows of steps <= ``upto`` (rows past the resumed checkpoint are redone)."""
    rows = []
    if upto and path.exists():
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f, delimiter="\t") if int(r["step"]) <= upto]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, delimiter="\t")
        w.writeheader()
        w.writerows(rows)

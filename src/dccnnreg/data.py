"""Loading volumes for the network and sampling training pairs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .nifti import InputError, check_same_grid, load_volume, same_grid
from .preprocess import normalize_intensity


@dataclass
class Sample:
    """One subject ready for the network: normalised image, optional labels, grid affine."""

    name: str
    image: np.ndarray
    labels: np.ndarray | None
    affine: np.ndarray


@dataclass(frozen=True)
class SubjectFiles:
    """A subject's files for a registration job: its brain (and label map) on the network grid and,
    for the subject-space products, its original image and preprocessing affine (``.mat``)."""

    name: str
    brain: str
    labels: str | None = None
    native: str | None = None
    affine: str | None = None


def subject_files(names, brains, labelled=(), labels=(), natives=None, affines=None) -> list[SubjectFiles]:
    """Zip a job's per-subject lists into :class:`SubjectFiles`; ``labels`` holds the files of the
    ``labelled`` subjects only, in their order."""
    lab = dict(zip(labelled, labels, strict=True))
    natives = natives or [None] * len(names)
    affines = affines or [None] * len(names)
    return [SubjectFiles(n, b, lab.get(n), nat, aff) for n, b, nat, aff in zip(names, brains, natives, affines, strict=True)]


def load_sample(name: str, image_path, labels_path=None) -> Sample:
    """Load and validate an image (and its label map, on the same grid)."""
    img = load_volume(image_path)
    labels = None
    if labels_path:
        lab = load_volume(labels_path, labels=True)
        check_same_grid(img, lab, image_path, labels_path)
        labels = lab.data
    return Sample(name, normalize_intensity(img.data), labels, img.affine)


def check_common_grid(samples: list[Sample]) -> None:
    """All samples must share the network grid (shape and affine)."""
    ref = samples[0]
    for s in samples[1:]:
        if not same_grid(s.image.shape, s.affine, ref.image.shape, ref.affine):
            raise InputError(
                f"{s.name}: grid {s.image.shape} differs from {ref.name}'s {ref.image.shape}; "
                "all inputs to the network must be resampled to one grid (run the preprocessing stage)"
            )


def image_tensor(x: np.ndarray, device) -> torch.Tensor:
    """``(X, Y, Z)`` -> ``(1, 1, X, Y, Z)`` float32 on ``device``."""
    return torch.as_tensor(x, dtype=torch.float32, device=device)[None, None]


def one_hot(labels: np.ndarray, label_set: np.ndarray, device) -> torch.Tensor:
    """Integer map ``(X, Y, Z)`` -> one-hot ``(1, K, X, Y, Z)`` over ``label_set`` (labels outside it drop out)."""
    lut = np.full(int(max(labels.max(), label_set.max())) + 1, -1, dtype=np.int64)
    lut[label_set] = np.arange(len(label_set))
    idx = torch.as_tensor(lut[labels], device=device)
    oh = F.one_hot(idx.clamp_min(0), len(label_set)).to(torch.float32) * (idx >= 0)[..., None]
    return oh.permute(3, 0, 1, 2)[None]


class PairSampler:
    """Random (moving, fixed) pairs from subjects ``0..n-1`` and the atlas (index ``-1``).

    ``mode``: ``atlas`` (atlas with a subject, random direction), ``pairs`` (two distinct
    subjects) or ``both`` (each with probability 1/2). Draws from ``rng``, a numpy Generator.
    """

    MODES = ("atlas", "pairs", "both")

    def __init__(self, n: int, has_atlas: bool, mode: str, rng: np.random.Generator):
        if mode not in self.MODES:
            raise ValueError(f"pair mode must be one of {self.MODES}, got {mode!r}")
        if mode in ("atlas", "both") and not has_atlas:
            mode = "pairs"
        if mode == "pairs" and n < 2:
            raise ValueError("subject-to-subject pairs need at least two training subjects")
        self.n, self.mode, self.rng = n, mode, rng

    def __call__(self) -> tuple[int, int]:
        mode = self.mode if self.mode != "both" else ("atlas" if self.rng.random() < 0.5 or self.n < 2 else "pairs")
        if mode == "atlas":
            s = int(self.rng.integers(self.n))
            return (s, -1) if self.rng.random() < 0.5 else (-1, s)
        i, j = self.rng.choice(self.n, size=2, replace=False)
        return int(i), int(j)

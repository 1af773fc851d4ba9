"""Stable train / validation / test assignment: a subject keeps its split as the cohort grows."""

from __future__ import annotations

import hashlib

SPLITS = ("train", "val", "test")


def hash_unit(key: str) -> float:
    """A deterministic number in [0, 1) from ``key`` (SHA-256; no dependence on other subjects)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64


def assign_split(dataset: str, subject: str, train: float, val: float, salt: str = "") -> str:
    """``train`` / ``val`` / ``test`` for one subject from a hash of ``salt/dataset/subject``.

    ``train`` and ``val`` are fractions (the rest is test). Only this subject's id matters, so
    adding subjects never moves existing ones.
    """
    if not (0 <= train and 0 <= val and train + val <= 1):
        raise ValueError(f"split fractions train={train}, val={val} must be >= 0 and sum to <= 1")
    h = hash_unit(f"{salt}/{dataset}/{subject}")
    return "train" if h < train else "val" if h < train + val else "test"


def assign_batch(dataset: str, subject: str, batches: int) -> int:
    """Registration batch in ``[0, batches)`` from a hash of the subject id (stable under growth)."""
    if batches < 1:
        raise ValueError(f"batches={batches} must be >= 1")
    return int(hash_unit(f"batch/{dataset}/{subject}") * batches)

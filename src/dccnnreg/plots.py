"""Figures for QC and reports (matplotlib, Agg backend, PNG files)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .nifti import atomic_path  # noqa: E402


def _mid_slices(vol: np.ndarray):
    c = [n // 2 for n in vol.shape]
    return [vol[c[0], :, :], vol[:, c[1], :], vol[:, :, c[2]]]


def _save(fig, path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
    plt.close(fig)


def overlay_png(image: np.ndarray, contour: np.ndarray, path, title: str, labels: bool = False) -> None:
    """Three orthogonal mid-slices of ``image`` with ``contour`` (a mask, or a label map if ``labels``)."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    for ax, im, ct in zip(axes, _mid_slices(image), _mid_slices(contour)):
        ax.imshow(np.rot90(im), cmap="gray")
        if labels:
            ax.imshow(np.rot90(np.ma.masked_equal(ct, 0)), cmap="tab20", alpha=0.35, interpolation="nearest")
        else:
            ax.contour(np.rot90(ct > 0), levels=[0.5], colors="r", linewidths=0.8)
        ax.axis("off")
    fig.suptitle(title)
    _save(fig, path)


def jacobian_png(jac: np.ndarray, path, title: str) -> None:
    """Mid-slices of a Jacobian determinant map; non-positive voxels in black."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    for ax, sl in zip(axes, _mid_slices(jac)):
        im = ax.imshow(np.rot90(sl), cmap="RdBu_r", vmin=0, vmax=2)
        ax.contourf(np.rot90(sl <= 0), levels=[0.5, 1.5], colors="k")
        ax.axis("off")
    fig.colorbar(im, ax=axes, shrink=0.7, label="det J (black: <= 0)")
    fig.suptitle(title)
    _save(fig, path)


def dice_boxplot(per_structure: pd.DataFrame, path, title: str) -> None:
    """Box plot of Dice per structure (rows) for each method (colours): columns name, method, dice."""
    methods = sorted(per_structure["method"].unique())
    names = sorted(per_structure["name"].unique(), key=str)
    fig, ax = plt.subplots(figsize=(max(8, 0.35 * len(names) * len(methods)), 5))
    width = 0.8 / len(methods)
    for k, m in enumerate(methods):
        data = [per_structure.loc[(per_structure["method"] == m) & (per_structure["name"] == n), "dice"] for n in names]
        pos = np.arange(len(names)) + (k - (len(methods) - 1) / 2) * width
        bp = ax.boxplot(data, positions=pos, widths=width * 0.9, patch_artist=True, showfliers=False)
        for box in bp["boxes"]:
            box.set_facecolor(f"C{k}")
        ax.plot([], [], color=f"C{k}", lw=8, label=m)
    ax.set_xticks(np.arange(len(names)))
    ax.set_xticklabels(names, rotation=90, fontsize=7)
    ax.set_ylabel("Dice")
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title(title)
    _save(fig, path)


def training_curve_png(metrics: pd.DataFrame, path, title: str) -> None:
    """Loss per step and validation Dice."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(metrics["step"], metrics["loss"], lw=0.7)
    a.set_xlabel("step")
    a.set_ylabel("loss")
    val = metrics.dropna(subset=["val_dice"])
    b.plot(val["step"], val["val_dice"], "o-")
    b.set_xlabel("step")
    b.set_ylabel("validation Dice")
    fig.suptitle(title)
    _save(fig, path)

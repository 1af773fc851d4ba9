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


def _rows(volumes) -> dict[str, np.ndarray]:
    return volumes if isinstance(volumes, dict) else {"": volumes}


def _grid(n_rows: int):
    fig, axes = plt.subplots(n_rows, 3, figsize=(12, 4 * n_rows), squeeze=False)
    return fig, axes


def overlay_png(image, contour: np.ndarray, path, title: str, labels: bool = False) -> None:
    """Three orthogonal mid-slices of ``image`` with ``contour`` (a mask, or a label map if ``labels``).

    ``image`` is one volume or a dict name -> volume (one titled row each, e.g. one per method).
    """
    rows = _rows(image)
    fig, axes = _grid(len(rows))
    for (name, vol), ax_row in zip(rows.items(), axes):
        for ax, im, ct in zip(ax_row, _mid_slices(vol), _mid_slices(contour)):
            ax.imshow(np.rot90(im), cmap="gray")
            if labels:
                ax.imshow(np.rot90(np.ma.masked_equal(ct, 0)), cmap="tab20", alpha=0.35, interpolation="nearest")
            else:
                ax.contour(np.rot90(ct > 0), levels=[0.5], colors="r", linewidths=0.8)
            ax.axis("off")
        ax_row[0].set_title(name, loc="left")
    fig.suptitle(title)
    _save(fig, path)


def jacobian_png(jac, path, title: str) -> None:
    """Mid-slices of a Jacobian determinant map (or a dict name -> map, one row each); non-positive voxels in black."""
    rows = _rows(jac)
    fig, axes = _grid(len(rows))
    for (name, vol), ax_row in zip(rows.items(), axes):
        for ax, sl in zip(ax_row, _mid_slices(vol)):
            im = ax.imshow(np.rot90(sl), cmap="RdBu_r", vmin=0, vmax=2)
            ax.contourf(np.rot90(sl <= 0), levels=[0.5, 1.5], colors="k")
            ax.axis("off")
        ax_row[0].set_title(name, loc="left")
    fig.colorbar(im, ax=axes, shrink=0.7, label="det J (black: <= 0)")
    fig.suptitle(title)
    _save(fig, path)


def structure_name(name: str) -> str:
    """Merge hemispheres: ``Left_Hippocampus`` / ``Right-Hippocampus`` -> ``Hippocampus``."""
    for prefix in ("Left_", "Right_", "Left-", "Right-", "left_", "right_"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def dice_boxplot(per_structure: pd.DataFrame, path, title: str) -> None:
    """Horizontal box plots of Dice per structure (hemispheres merged), one box per method.

    ``per_structure`` has columns ``name``, ``method`` and ``dice``; methods keep their order of
    appearance and structures are sorted by the median Dice of the first method.
    """
    df = per_structure.assign(structure=per_structure["name"].astype(str).map(structure_name))
    methods = list(dict.fromkeys(df["method"]))
    order = df[df["method"] == methods[0]].groupby("structure")["dice"].median().sort_values().index.tolist()
    fig, ax = plt.subplots(figsize=(8, 1.5 + 0.22 * len(order) * max(1, len(methods) / 2)))
    height = 0.8 / len(methods)
    for k, m in enumerate(methods):
        data = [df.loc[(df["method"] == m) & (df["structure"] == n), "dice"] for n in order]
        pos = np.arange(len(order)) + (k - (len(methods) - 1) / 2) * height
        bp = ax.boxplot(data, positions=pos, widths=height * 0.9, vert=False, patch_artist=True, showfliers=False)
        for box in bp["boxes"]:
            box.set_facecolor(f"C{k}")
        ax.plot([], [], color=f"C{k}", lw=8, label=m)
    ax.set_yticks(np.arange(len(order)))
    ax.set_yticklabels(order, fontsize=7)
    ax.set_xlabel("Dice")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.5, len(order) - 0.5)
    ax.legend(loc="lower right")
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


def log_jacobian_png(mean: np.ndarray, sd: np.ndarray, path, title: str) -> None:
    """Mid-slices of the cohort's mean log-Jacobian (blue: smaller than the atlas, red: larger) and its SD."""
    fig, axes = _grid(2)
    lim = max(float(np.abs(mean).max()), 1e-3)
    for ax_row, vol, name, kw in ((axes[0], mean, "mean log det J", {"cmap": "RdBu_r", "vmin": -lim, "vmax": lim}),
                                  (axes[1], sd, "SD of log det J", {"cmap": "magma", "vmin": 0})):
        for ax, sl in zip(ax_row, _mid_slices(vol)):
            im = ax.imshow(np.rot90(sl), **kw)
            ax.axis("off")
        ax_row[0].set_title(name, loc="left")
        fig.colorbar(im, ax=ax_row, shrink=0.8)
    fig.suptitle(title)
    _save(fig, path)


def qc_png(qc: pd.DataFrame, path, title: str) -> None:
    """Similarity to the atlas and SDlogJ of each registered subject (flagged ones in red, labelled);
    failed and excluded subjects are listed under the plot."""
    ok = qc[qc["status"] == "ok"].sort_values("similarity")
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    fig.subplots_adjust(wspace=0.3)
    for ax, col, name in ((a, "similarity", "correlation with the atlas (brain)"), (b, "sdlogj", "SDlogJ")):
        colours = np.where(ok["flagged"], "C3", "C0")
        ax.scatter(np.arange(len(ok)), ok[col], c=colours, s=14)
        for k, (_, r) in enumerate(ok.iterrows()):
            if r["flagged"]:
                ax.annotate(r["subject"], (k, r[col]), fontsize=7, color="C3")
        ax.set_xlabel("subjects, by similarity")
        ax.set_ylabel(name)
    others = qc[qc["status"] != "ok"]
    if len(others):
        fig.text(0.01, -0.02, "not registered: " + ", ".join(f"{r.subject} ({r.status})" for r in others.itertuples()),
                 fontsize=8, wrap=True)
    fig.suptitle(title)
    _save(fig, path)

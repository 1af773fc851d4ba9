"""Cohort outputs of one dataset and method: the regional volume table, the QC table with automatic
outlier flags, and population maps in atlas space (mean warped brain, mean and SD of the log-Jacobian).

Every subject of the sheet has a row: ``ok`` (registered), ``failed`` (its input check failed; the
error is in the row) or ``excluded`` (listed under ``qc_exclude``). Nobody is dropped silently.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .native import subject_paths
from .nifti import atomic_path, load_volume, save_volume
from .plots import log_jacobian_png, overlay_png, qc_png
from .register import output_paths

OUTLIER_Z = 3.5  # robust z-score beyond which a subject is flagged (Iglewicz and Hoaglin)
MAX_FOLDING_PCT = 0.1  # a diffeomorphic registration should fold nowhere
MIN_SUBJECTS_FOR_Z = 5  # fewer registered subjects give no robust spread: z-scores stay empty
QC_COLUMNS = ["similarity", "similarity_affine", "folding_pct", "sdlogj", "affine_determinant", "seconds",
              "refine_seconds"]


def robust_z(x) -> np.ndarray:
    """``(x - median) / (1.4826 MAD)``, NaN-aware; the mean absolute deviation stands in when the MAD is 0."""
    x = np.asarray(x, dtype=np.float64)
    dev = np.abs(x - np.nanmedian(x)) if np.isfinite(x).any() else x
    scale = 1.4826 * np.nanmedian(dev) if np.isfinite(dev).any() else 0.0
    if not scale > 0:
        scale = 1.2533 * np.nanmean(dev) if np.isfinite(dev).any() else 0.0
    return (x - np.nanmedian(x)) / scale if scale > 0 else np.zeros_like(x)


def flag_outliers(qc: pd.DataFrame, z: float = OUTLIER_Z) -> pd.DataFrame:
    """Add robust z-scores over the registered subjects (at least :data:`MIN_SUBJECTS_FOR_Z`) and a
    ``flagged`` column with the reasons: low similarity to the atlas, rough (high SDlogJ) or folding
    deformations, an unusual affine scale."""
    qc = qc.copy()
    ok = qc["status"] == "ok"
    qc["z_similarity"] = np.nan
    qc["z_sdlogj"] = np.nan
    qc["z_log_affine_scale"] = np.nan
    if ok.sum() >= MIN_SUBJECTS_FOR_Z:
        qc.loc[ok, "z_similarity"] = robust_z(qc.loc[ok, "similarity"])
        qc.loc[ok, "z_sdlogj"] = robust_z(qc.loc[ok, "sdlogj"])
        qc.loc[ok, "z_log_affine_scale"] = robust_z(np.log(qc.loc[ok, "affine_determinant"].abs()))
    reasons = []
    for _, r in qc.iterrows():
        why = []
        if r["status"] == "ok":
            if r["z_similarity"] < -z:
                why.append("low similarity to the atlas")
            if r["z_sdlogj"] > z:
                why.append("rough deformation (SDlogJ)")
            if r["folding_pct"] > MAX_FOLDING_PCT:
                why.append(f"folding > {MAX_FOLDING_PCT}%")
            if abs(r["z_log_affine_scale"]) > z:
                why.append("unusual affine scale")
        reasons.append("; ".join(why))
    qc["flagged"] = [bool(w) for w in reasons]
    qc["flag_reason"] = reasons
    return qc


def read_checks(paths) -> pd.DataFrame:
    """The input-check tables of a dataset (see :func:`dccnnreg.preprocess.check_subjects`), sorted by subject."""
    tables = [pd.read_csv(p, sep="\t", dtype={"subject": str, "error": str}, keep_default_na=False) for p in paths]
    return pd.concat(tables, ignore_index=True).sort_values("subject", ignore_index=True)


def qc_table(checks: pd.DataFrame, qc: dict[str, dict], excluded=()) -> pd.DataFrame:
    """One row per subject: status (``ok`` / ``failed`` / ``excluded``), the input error, the QC numbers
    of :mod:`dccnnreg.native` and the outlier flags. ``checks`` is :func:`read_checks`' table."""
    rows = []
    for s, ok, error in zip(checks["subject"], checks["ok"], checks["error"]):
        rows.append({"subject": s, "status": "ok" if ok else "failed", "error": error,
                     **{k: qc.get(s, {}).get(k, np.nan) for k in QC_COLUMNS}})
    rows += [{"subject": s, "status": "excluded", "error": "qc_exclude", **dict.fromkeys(QC_COLUMNS, np.nan)}
             for s in excluded]
    return flag_outliers(pd.DataFrame(rows, columns=["subject", "status", "error", *QC_COLUMNS]))


def volumes_table(volumes: dict[str, pd.DataFrame], status: pd.Series) -> pd.DataFrame:
    """Subjects x structures (mm^3), one row per subject of ``status`` (subject -> status), empty unless ``ok``."""
    names = next(iter(volumes.values()))["name"].tolist() if volumes else []
    rows = [{"subject": s, "status": st, **(dict(zip(volumes[s]["name"], volumes[s]["volume_mm3"])) if s in volumes else {})}
            for s, st in status.items()]
    return pd.DataFrame(rows, columns=["subject", "status", *names])


def mean_and_sd(arrays) -> tuple[np.ndarray, np.ndarray]:
    """Voxel-wise mean and SD of volumes read one at a time (Welford), so a cohort never sits in memory."""
    n, mean, m2 = 0, None, None
    for a in arrays:
        a = np.asarray(a, dtype=np.float64)
        n += 1
        if mean is None:
            mean, m2 = np.zeros_like(a), np.zeros_like(a)
        delta = a - mean
        mean += delta / n
        m2 += delta * (a - mean)
    if n == 0:
        raise ValueError("no volumes to average")
    return mean.astype(np.float32), np.sqrt(m2 / max(n - 1, 1)).astype(np.float32)


def write_cohort_outputs(dataset: str, method: str, checks: list, dirs: dict[str, str], excluded,
                         atlas_brain, atlas_labels, out: dict) -> pd.DataFrame:
    """Read the dataset's input-check tables (``checks``) and, for the subjects that passed, the files in
    their registration folders (``dirs``: subject -> folder), then write ``out['volumes']``, ``out['qc']`` (TSV), the population
    maps ``out['mean_brain']``, ``out['logjac_mean']``, ``out['logjac_sd']`` (NIfTI) and their figures
    ``out['mean_brain_png']``, ``out['logjac_png']``, ``out['qc_png']``. Returns the QC table."""
    status = read_checks(checks)
    ok = list(status.loc[status["ok"], "subject"])
    products = {s: subject_paths(Path(dirs[s]) / s) for s in ok}
    qc = qc_table(status, {s: json.loads(products[s]["qc"].read_text()) for s in ok}, excluded)
    volumes = volumes_table({s: pd.read_csv(products[s]["volumes"], sep="\t") for s in ok},
                            qc.set_index("subject")["status"])
    for key, table in (("qc", qc), ("volumes", volumes)):
        with atomic_path(out[key]) as tmp:
            table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    atlas = load_volume(atlas_brain)
    labels = load_volume(atlas_labels, labels=True).data
    title = f"{dataset}, {method}: {len(ok)} subjects"
    if ok:
        mean_brain, _ = mean_and_sd(load_volume(output_paths(Path(dirs[s]) / s)["warped"]).data for s in ok)
        lj_mean, lj_sd = mean_and_sd(load_volume(products[s]["log_jacobian"]).data for s in ok)
    else:
        mean_brain = lj_mean = lj_sd = np.zeros(atlas.data.shape, np.float32)
    for key, vol in (("mean_brain", mean_brain), ("logjac_mean", lj_mean), ("logjac_sd", lj_sd)):
        save_volume(vol, atlas.affine, out[key], np.float32)
    overlay_png({"mean warped brain": mean_brain, "atlas": atlas.data}, labels, out["mean_brain_png"],
                f"{title}: population mean in atlas space, atlas labels", labels=True)
    log_jacobian_png(lj_mean, lj_sd, out["logjac_png"], f"{title}: log-Jacobian determinant in atlas space")
    qc_png(qc, out["qc_png"], f"{title}: QC (flagged in red)")
    return qc

"""File names in a registration folder: one prefix per subject (``folder/sub-01``), one suffix per file."""

from __future__ import annotations

from pathlib import Path

# written by dccnnreg.register.write_registration, for every registered pair
REGISTRATION = {
    "warped": "_warped.nii.gz",
    "warped_labels": "_warped_labels.nii.gz",
    "forward": "_fwd_warp.nii.gz",
    "inverse": "_inv_warp.nii.gz",
    "jacobian": "_jacobian.nii.gz",
    "timing": "_time.json",
}
# written by dccnnreg.native.write_subject_products, for every subject of the cohort
SUBJECT_PRODUCTS = {
    "affine": "_affine.mat",
    "native_labels": "_native_labels.nii.gz",
    "volumes": "_volumes.tsv",
    "log_jacobian": "_logjac.nii.gz",
    "qc": "_qc.json",
    "transforms": "_transforms.json",
}


def files(prefix, suffixes: dict[str, str]) -> dict[str, Path]:
    """``kind -> path`` for a subject's ``prefix`` (e.g. ``out/sub-01``)."""
    return {kind: Path(f"{prefix}{suffix}") for kind, suffix in suffixes.items()}

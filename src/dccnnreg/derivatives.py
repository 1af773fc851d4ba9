"""BIDS derivatives of a registered BIDS cohort: what users read, named as BIDS names it.

For each unit (a T1w image: ``sub-01_ses-2``) and cohort method (``desc-<method>``, e.g. ``desc-dccnnlstm``)
in ``sub-01/ses-2/anat/``, with ``<S>`` the template's ``space`` label:

* ``..._space-<S>_desc-<m>_T1w.nii.gz``: the brain warped to the template (JSON: skull stripped, reference);
* ``..._atlas-<S>_desc-<m>_dseg.nii.gz`` (+ ``.tsv`` lookup, ``.json``): template labels on the T1w grid;
* ``..._from-T1w_to-<S>_mode-image_desc-affine_xfm.mat``: the ANTs affine of preprocessing;
* ``..._from-T1w_to-<S>_mode-image_desc-<m>_xfm.nii.gz`` and ``..._from-<S>_to-T1w_...``: the ANTs
  displacement fields; each JSON spells the whole chain for ``antsApplyTransforms`` (``-t`` in order);
* ``..._space-<S>_desc-<m>_logjacobian.nii.gz``, ``..._atlas-<S>_desc-<m>_morph.tsv`` (regional volumes,
  mm^3) and ``..._desc-<m>_qc.json``;

and at the root ``dataset_description.json`` (GeneratedBy: version and config hash), ``README``, the
cohort tables ``desc-<m>_qc.tsv`` and ``atlas-<S>_desc-<m>_morph.tsv``, and ``.bidsignore`` for the
files BIDS has no name for yet (transforms, Jacobians, volume and QC tables). Data files are hard
links to the working files in ``results/`` (copies across file systems).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd

from . import __version__
from .bids import BIDS_VERSION, write_json
from .labels import label_name, label_values, read_label_names
from .native import ATLAS_TO_NATIVE, NATIVE_TO_ATLAS, chain, subject_paths

BIDSIGNORE = ["*_xfm.*", "*_logjacobian.nii.gz", "*_morph.tsv", "*_qc.json", "*_qc.tsv"]


def label(name: str) -> str:
    """A BIDS label (letters and digits) from a method or template name: ``dccnn_lstm`` -> ``dccnnlstm``."""
    return re.sub(r"[^A-Za-z0-9]", "", name)


def config_hash(config: dict) -> str:
    """SHA-256 of the config as canonical JSON (keys sorted): the same settings give the same hash."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def anat_dir(unit: str) -> Path:
    """``sub-01_ses-2_run-1`` -> ``sub-01/ses-2/anat``."""
    m = re.match(r"(sub-[A-Za-z0-9]+)(?:_(ses-[A-Za-z0-9]+))?", unit)
    if not m:
        raise ValueError(f"{unit!r} is not a BIDS unit id (sub-<label>[_ses-<label>]...)")
    return Path(m.group(1), m.group(2) or "", "anat")


def unit_files(unit: str, method: str, space: str) -> dict[str, Path]:
    """BIDS path (relative to the derivatives root) of each product of ``unit`` registered by ``method``."""
    d, m, s = anat_dir(unit), label(method), space
    names = {
        "warped": f"space-{s}_desc-{m}_T1w.nii.gz",
        "native_labels": f"atlas-{s}_desc-{m}_dseg.nii.gz",
        "affine": f"from-T1w_to-{s}_mode-image_desc-affine_xfm.mat",
        "forward": f"from-T1w_to-{s}_mode-image_desc-{m}_xfm.nii.gz",
        "inverse": f"from-{s}_to-T1w_mode-image_desc-{m}_xfm.nii.gz",
        "log_jacobian": f"space-{s}_desc-{m}_logjacobian.nii.gz",
        "volumes": f"atlas-{s}_desc-{m}_morph.tsv",
        "qc": f"desc-{m}_qc.json",
    }
    return {k: d / f"{unit}_{v}" for k, v in names.items()}


def _link(src, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # another file system, or no hard links there
        shutil.copy2(src, dst)


def _beside(path: Path, extension: str) -> Path:
    """The file of the same name with another extension: a NIfTI's ``.json`` sidecar or ``.tsv`` lookup."""
    return path.with_name(re.sub(r"\.nii(\.gz)?$", "", path.name) + extension)


def _chain(files: dict[str, Path], steps) -> list[dict]:
    """:func:`dccnnreg.native.chain` as file names (relative to the folder) with their invert flags."""
    transforms, invert = chain(files, steps)
    return [{"file": Path(f).name, "invert": inv} for f, inv in zip(transforms, invert)]


def write_unit(out: Path, unit: str, method: str, space: str, registration_dir, source: str, reference: str,
               label_table: pd.DataFrame) -> dict[str, Path]:
    """Link one unit's products of ``method`` (in ``registration_dir``) under BIDS names into ``out``, with
    sidecars. ``source`` is the T1w's BIDS URI, ``reference`` the template image the space refers to."""
    src = subject_paths(Path(registration_dir) / unit)
    rel = unit_files(unit, method, space)
    dst = {k: out / p for k, p in rel.items()}
    for k, p in dst.items():
        if not p.exists():  # the affine is shared by the methods
            _link(src[k], p)
    write_json(_beside(dst["warped"], ".json"), {
        "Description": f"brain registered to {space} by {method} (affine + deformable)",
        "SkullStripped": True, "SpatialReference": reference, "Sources": [source]})
    write_json(_beside(dst["native_labels"], ".json"), {
        "Description": f"{space} labels brought to the T1w by {method} (generic-label interpolation)",
        "SpatialReference": source, "Sources": [source]})
    label_table.to_csv(_beside(dst["native_labels"], ".tsv"), sep="\t", index=False)
    for key, steps, ref in (("forward", NATIVE_TO_ATLAS, space), ("inverse", ATLAS_TO_NATIVE, "T1w")):
        chain = _chain(dst, steps)
        write_json(_beside(dst[key], ".json"), {
            "Description": f"ANTs displacement field of {method}; apply the whole chain, in this order",
            "TransformChain": chain,
            "Command": f"antsApplyTransforms -r <{ref} image> -i <image> "
                       + " ".join(f"-t [{c['file']},1]" if c["invert"] else f"-t {c['file']}" for c in chain),
            "Sources": [source]})
    return dst


def dataset_description(source_root, config: dict) -> dict:
    """The derivatives' ``dataset_description.json``: GeneratedBy carries the version and the config hash."""
    return {
        "Name": "dccnnreg: registration to a template",
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "dccnnreg", "Version": __version__,
                         "Description": f"config sha256 {config_hash(config)}"}],
        "SourceDatasets": [{"URL": "bids:raw:"}],
        "DatasetLinks": {"raw": Path(source_root).resolve().as_uri()},
    }


def write_derivatives(out, source_root, config: dict, units: dict[str, dict[str, str]], images: dict[str, str],
                      qc_tables: list, volume_tables: list, template_labels, label_names, reference) -> int:
    """Write the derivatives tree ``out`` (see the module docstring); returns the number of units.

    ``units``: method -> {unit: registration folder}; ``images``: unit -> its T1w path; ``qc_tables`` and
    ``volume_tables``: the cohort tables of the methods, in the order of ``units``; ``template_labels`` and
    ``label_names`` give the dseg lookup; ``reference`` the template image of the space.
    """
    out = Path(out)
    space = config["template"].get("space", "template")
    root = Path(source_root)
    names = read_label_names(label_names)
    ids = label_values(template_labels)
    lookup = pd.DataFrame({"index": ids, "name": [label_name(k, names) for k in ids]})
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "dataset_description.json", dataset_description(source_root, config))
    (out / "README").write_text(
        "Outputs of dccnnreg (DCCNN-LSTM-Reg cohort registration); file names are described in "
        "the dccnnreg README ('BIDS derivatives').\n")
    (out / ".bidsignore").write_text("\n".join(BIDSIGNORE) + "\n")
    write_json(out / f"atlas-{space}_description.json", {
        "Name": space, "Description": f"the template's label map ({Path(template_labels).name}), in dccnnreg's template",
        "SpatialReference": str(reference)})
    for (method, dirs), qc, volumes in zip(units.items(), qc_tables, volume_tables, strict=True):
        for unit, folder in dirs.items():
            source = f"bids:raw:{Path(images[unit]).relative_to(root).as_posix()}"
            write_unit(out, unit, method, space, folder, source, str(reference), lookup)
        _link(qc, out / f"desc-{label(method)}_qc.tsv")
        _link(volumes, out / f"atlas-{space}_desc-{label(method)}_morph.tsv")
    return len({u for dirs in units.values() for u in dirs})

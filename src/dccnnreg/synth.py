"""Synthetic deformations, phantoms and T1-like heads from label maps, for the demo cohort, benchmarks and tests."""

from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import gaussian_filter, zoom

from .nifti import load_volume, save_volume
from .transforms import integrate_velocity


def random_diffeomorphism(shape, rng: np.random.Generator, amplitude: float, sigma: float, steps: int = 7):
    """Random smooth diffeomorphic displacement ``(3, *shape)`` (voxels) and its inverse.

    A Gaussian-smoothed random velocity, scaled so its largest component is ``amplitude`` voxels,
    exponentiated by scaling and squaring (so the map is invertible with positive Jacobian).
    """
    v = np.stack([gaussian_filter(rng.normal(size=shape), sigma) for _ in range(3)])
    v *= amplitude / max(np.abs(v).max(), 1e-12)
    vt = torch.as_tensor(v, dtype=torch.float32)[None]
    return integrate_velocity(vt, steps)[0].numpy(), integrate_velocity(-vt, steps)[0].numpy()


def phantom(shape, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A brain-like phantom: an ellipsoidal "brain" (label 1) holding ellipsoidal structures 2..6.

    Returns the image in [0, 1] (float32) and its label map (int32), both ``shape``.
    """
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij"))
    labels = np.zeros(shape, np.int32)
    inten = np.zeros(shape, np.float32)
    brain = ((grid / np.array([0.8, 0.85, 0.75])[:, None, None, None]) ** 2).sum(0) < 1
    labels[brain], inten[brain] = 1, 0.6
    structures = [((-0.35, 0.1, 0.0), (0.18, 0.25, 0.2), 0.25), ((0.35, 0.1, 0.0), (0.18, 0.25, 0.2), 0.25),
                  ((0.0, -0.4, 0.1), (0.3, 0.15, 0.2), 0.9), ((0.0, 0.35, -0.25), (0.15, 0.15, 0.15), 1.0),
                  ((0.0, 0.0, 0.4), (0.35, 0.3, 0.12), 0.8)]
    for k, (c, r, val) in enumerate(structures, start=2):
        inside = (((grid - np.array(c)[:, None, None, None]) / np.array(r)[:, None, None, None]) ** 2).sum(0) < 1
        labels[inside & brain], inten[inside & brain] = k, val
    inten = gaussian_filter(inten, 0.7) + 0.02 * gaussian_filter(rng.normal(size=shape), 1.0)
    return np.clip(inten, 0, 1).astype(np.float32), labels


# The 31 brain structures of FreeSurfer label maps scored in evaluation (left / midline, then right), and CSF.
BRAIN_STRUCTURES = (2, 3, 4, 5, 7, 8, 10, 11, 12, 13, 14, 15, 16, 17, 18, 26, 28,
                    41, 42, 43, 44, 46, 47, 49, 50, 51, 52, 53, 54, 58, 60)
CSF = 24

# Typical T1 intensities of FreeSurfer labels (white matter 1): the basis of T1-like heads from label maps.
T1_MEANS = {
    0.95: (2, 41, 7, 46, 16, 28, 60, 85),  # white matter, brain stem, ventral DC, optic chiasm
    0.55: (3, 42, 8, 47, 17, 53, 18, 54),  # cortex, cerebellar cortex, hippocampus, amygdala
    0.75: (10, 49, 13, 52),  # thalamus, pallidum
    0.65: (11, 50, 12, 51, 26, 58),  # caudate, putamen, accumbens
    0.15: (4, 43, 5, 44, 14, 15, 24, 72),  # ventricles and CSF
}


SKULL = 515  # in these maps the shell between the brain's CSF and the scalp (about 10 mm from the brain, 0.4 l)


def head_contrast(rng: np.random.Generator, n_labels: int = SKULL + 16) -> np.ndarray:
    """A cohort's intensity for each label (``(n_labels,)``, uniform in [0.05, 1]; the skull dark, [0.05, 0.3], as
    in every T1 scan; :func:`t1_from_labels` takes those outside the brain): one scanner's contrast, shared by the
    heads of a cohort."""
    lut = rng.uniform(0.05, 1.0, n_labels)
    lut[SKULL] = rng.uniform(0.05, 0.3)
    return lut


def t1_from_labels(labels: np.ndarray, rng: np.random.Generator, spacing_mm: float = 1.0,
                   contrast: np.ndarray | None = None) -> np.ndarray:
    """A T1-like head from a FreeSurfer label map ``(X, Y, Z)`` (SynthMorph-style): brain tissues at T1-typical
    intensities jittered per subject, every other label (vessels, skull, scalp, ...) at a random intensity (or at
    the cohort's ``contrast``, :func:`head_contrast`, jittered like the brain's), then partial-volume blur, a smooth
    multiplicative bias field and Rician noise. Float32, background 0."""
    count = int(labels.max()) + 1
    if contrast is None:
        lut = rng.uniform(0.05, 1.0, count)
    else:
        if len(contrast) < count:
            raise ValueError(f"contrast has {len(contrast)} labels, the map's largest is {count - 1}")
        lut = np.clip(contrast[:count] + rng.normal(0, 0.03, count), 0.02, 1.0)
    for mean, values in T1_MEANS.items():
        lut[list(values)] = mean + rng.normal(0, 0.03)
    lut[0] = 0.0
    image = gaussian_filter(lut[labels.astype(np.int64)], 0.6 / spacing_mm)
    bias = gaussian_filter(rng.normal(size=tuple(max(2, n // 32) for n in labels.shape)), 1.0)
    bias = np.exp(0.2 * bias / max(np.abs(bias).max(), 1e-12))
    image *= zoom(bias, np.array(labels.shape) / np.array(bias.shape), order=1)
    noise = 0.02 * rng.normal(size=(2, *labels.shape))
    return np.sqrt((image + noise[0]) ** 2 + noise[1] ** 2).astype(np.float32)


def write_labelmap_t1(labels_path, seed, step: int, out: dict, contrast: np.ndarray | None = None) -> None:
    """A T1-like head (:func:`t1_from_labels`, with the cohort's ``contrast`` if given) of the whole-head label map
    ``labels_path``, subsampled ``step`` times along each axis, in the map's own position: writes ``out['head']``
    (the raw head) and / or ``out['brain']`` (skull-stripped: 0 outside the brain), whichever ``out`` names, with
    ``out['mask']`` (the :data:`BRAIN_STRUCTURES` and :data:`CSF`) and ``out['labels']`` (the structures alone,
    every other label 0). ``seed`` seeds the intensities (any ``numpy.random.default_rng`` seed)."""
    lab = load_volume(labels_path, labels=True)
    labels = lab.data[::step, ::step, ::step]
    affine = lab.affine @ np.diag([step, step, step, 1.0])
    mask = np.isin(labels, (*BRAIN_STRUCTURES, CSF))
    head = t1_from_labels(labels, np.random.default_rng(seed), float(step), contrast)
    for key, image in (("head", head), ("brain", head * mask)):
        if key in out:
            save_volume(image, affine, out[key], np.float32)
    save_volume(mask.astype(np.uint8), affine, out["mask"], np.uint8)
    save_volume(np.where(np.isin(labels, BRAIN_STRUCTURES), labels, 0), affine, out["labels"], np.int32)

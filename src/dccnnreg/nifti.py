"""Reading and writing NIfTI volumes with loud validation and atomic writes."""

from __future__ import annotations

import contextlib
import gzip
import os
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

MIN_SPACING_MM = 0.05
MAX_SPACING_MM = 20.0


class InputError(ValueError):
    """A file that cannot be used; the message names the file and the problem."""


@contextlib.contextmanager
def subject_errors(dataset: str, subject: str):
    """Re-raise input problems with the dataset and subject named first."""
    try:
        yield
    except InputError as e:
        raise InputError(f"subject {dataset}/{subject}: {e}") from None


@dataclass(frozen=True)
class Volume:
    """A 3D volume ``data[i, j, k]`` with its voxel-to-world (RAS, mm) ``affine`` ``(4, 4)``."""

    data: np.ndarray
    affine: np.ndarray

    @property
    def spacing(self) -> np.ndarray:
        return nib.affines.voxel_sizes(self.affine)


def voxel_volume_mm3(affine: np.ndarray) -> float:
    """Volume of one voxel of the grid ``affine`` (4x4, mm), in mm^3."""
    return abs(float(np.linalg.det(affine[:3, :3])))


def _fail(path, problem: str):
    raise InputError(f"{path}: {problem}")


def load_volume(path: str | os.PathLike, labels: bool = False) -> Volume:
    """Load a 3D NIfTI image (float32) or label map (int32, ``labels=True``), validating it.

    Raises :class:`InputError` naming ``path`` for: a missing or unreadable/truncated file, a
    volume that is not 3D (a trailing axis of length 1 is dropped), NaN/Inf voxels, a constant
    image, absurd voxel sizes, a singular orientation, and non-integer label values.
    """
    path = Path(path)
    if not path.is_file():
        _fail(path, "file not found")
    try:
        img = nib.load(str(path))
        data = np.asarray(img.dataobj)
    except (OSError, EOFError, ValueError, zlib.error, gzip.BadGzipFile, nib.filebasedimages.ImageFileError) as e:
        _fail(path, f"unreadable or truncated NIfTI ({type(e).__name__}: {e})")
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        _fail(path, f"expected a 3D volume, got shape {data.shape}")
    affine = np.asarray(img.affine, dtype=np.float64)
    if not np.all(np.isfinite(affine)) or voxel_volume_mm3(affine) < 1e-9:
        _fail(path, "orientation (affine) is singular or not finite")
    spacing = nib.affines.voxel_sizes(affine)
    if np.any(spacing < MIN_SPACING_MM) or np.any(spacing > MAX_SPACING_MM):
        _fail(path, f"absurd voxel size {np.round(spacing, 4).tolist()} mm")
    if labels:
        if not np.all(np.isfinite(data)) or not np.array_equal(data, np.round(data)):
            _fail(path, "label map has non-integer values")
        return Volume(data.astype(np.int32), affine)
    data = data.astype(np.float32)
    n_bad = int(np.size(data) - np.count_nonzero(np.isfinite(data)))
    if n_bad:
        _fail(path, f"{n_bad} NaN/Inf voxels")
    if float(data.max()) == float(data.min()):
        _fail(path, f"constant image (every voxel is {float(data.min())})")
    return Volume(data, affine)


GRID_ATOL_MM = 1e-3  # affines that differ by less are one grid


def same_grid(shape_a, affine_a: np.ndarray, shape_b, affine_b: np.ndarray) -> bool:
    """Whether two volumes share a grid: the same shape and affines equal within :data:`GRID_ATOL_MM`."""
    return tuple(shape_a) == tuple(shape_b) and np.allclose(affine_a, affine_b, atol=GRID_ATOL_MM)


def check_same_grid(image: Volume, labels: Volume, image_path, labels_path) -> None:
    """Raise :class:`InputError` if a label map's grid differs from its image's."""
    if not same_grid(image.data.shape, image.affine, labels.data.shape, labels.affine):
        raise InputError(
            f"{labels_path}: label grid (shape {labels.data.shape}) differs from its image {image_path} "
            f"(shape {image.data.shape}); affines\n{labels.affine}\nvs\n{image.affine}"
        )


def atomic_path(path: str | os.PathLike) -> "_AtomicPath":
    """Context manager giving a temporary path next to ``path``, renamed onto it only on success."""
    return _AtomicPath(Path(path))


class _AtomicPath:
    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        suffix = "".join(self.path.suffixes)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self.tmp, 0o666 & ~umask)  # as open() would create it (mkstemp makes it owner-only)
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)
        return False


def save_like(data: np.ndarray, reference, path: str | os.PathLike, dtype) -> None:
    """Write ``data`` on the grid of the NIfTI file ``reference`` (its header: shape, qform and sform kept), atomically."""
    ref = nib.load(str(reference))
    arr = np.asarray(data, dtype=dtype)
    if arr.shape != ref.shape[:3]:
        raise ValueError(f"data of shape {arr.shape} does not fit the grid {ref.shape[:3]} of {reference}")
    header = ref.header.copy()
    header.set_data_dtype(dtype)
    img = nib.Nifti1Image(arr, ref.affine, header=header)
    img.header.set_slope_inter(1.0, 0.0)
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))


def save_volume(data: np.ndarray, affine: np.ndarray, path: str | os.PathLike, dtype=None) -> None:
    """Write ``data`` with ``affine`` as NIfTI, atomically (an interrupted write leaves no file)."""
    arr = np.asarray(data if dtype is None else data.astype(dtype))
    img = nib.Nifti1Image(arr, affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    img.header.set_xyzt_units("mm")
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))

"""World-space (ANTs/ITK) view of dccnnreg's voxel displacement fields.

nibabel affines map voxel indices ``(i, j, k)`` to RAS millimetres; ITK and ANTs work in LPS
millimetres (``x_lps = diag(-1, -1, 1) x_ras``). An ANTs displacement field stores, at each
point ``p`` of the fixed grid, the vector ``d(p)`` in LPS mm such that the moving image is
sampled at ``p + d(p)``: the same pull-back convention as :mod:`dccnnreg.transforms`, so the
conversion is the linear part of the LPS affine applied to each voxel displacement.
"""

from __future__ import annotations

import os

import numpy as np
import SimpleITK as sitk

from .nifti import atomic_path

RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def itk_geometry(affine: np.ndarray) -> tuple[tuple, tuple, tuple]:
    """ITK ``(origin, spacing, direction)`` (LPS) of a nibabel RAS ``affine`` ``(4, 4)``."""
    lps = RAS_TO_LPS @ affine
    spacing = np.sqrt((lps[:3, :3] ** 2).sum(axis=0))
    direction = lps[:3, :3] / spacing
    return tuple(lps[:3, 3]), tuple(spacing), tuple(direction.ravel())


def affine_from_itk(origin, spacing, direction) -> np.ndarray:
    """Inverse of :func:`itk_geometry`: a nibabel RAS affine ``(4, 4)``."""
    lps = np.eye(4)
    lps[:3, :3] = np.asarray(direction, dtype=float).reshape(3, 3) * np.asarray(spacing, dtype=float)
    lps[:3, 3] = origin
    return RAS_TO_LPS @ lps


def to_ants(data: np.ndarray, affine: np.ndarray):
    """A numpy volume ``(X, Y, Z)`` on the nibabel grid ``affine`` as an ANTsImage (float32) in the same world space."""
    import ants

    origin, spacing, direction = itk_geometry(affine)
    return ants.from_numpy(np.ascontiguousarray(data, dtype=np.float32), origin=list(origin), spacing=list(spacing),
                           direction=np.asarray(direction).reshape(3, 3))


def from_ants(img) -> tuple[np.ndarray, np.ndarray]:
    """An ANTsImage as ``(numpy volume, nibabel RAS affine)``."""
    return img.numpy(), affine_from_itk(img.origin, img.spacing, np.asarray(img.direction).ravel())


def voxel_to_world(u: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Voxel displacement ``(3, X, Y, Z)`` -> LPS mm displacement ``(X, Y, Z, 3)``."""
    lin = (RAS_TO_LPS @ affine)[:3, :3]
    return np.einsum("wc,cxyz->xyzw", lin, u)


def world_to_voxel(d: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """LPS mm displacement ``(X, Y, Z, 3)`` -> voxel displacement ``(3, X, Y, Z)``."""
    inv = np.linalg.inv((RAS_TO_LPS @ affine)[:3, :3])
    return np.einsum("cw,xyzw->cxyz", inv, d)


def subdivided_affine(affine: np.ndarray, k: int) -> np.ndarray:
    """The affine of the grid ``k`` times finer than ``affine``'s over the same extent
    (:func:`~dccnnreg.transforms.subdivided_shape`): same first voxel, spacing divided by ``k``."""
    return affine @ np.diag([1.0 / k, 1.0 / k, 1.0 / k, 1.0])


def displacement_mm(u: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Length in mm of a voxel displacement ``(3, X, Y, Z)`` -> ``(X, Y, Z)``."""
    return np.linalg.norm(voxel_to_world(u, affine), axis=-1)


def write_ants_field(u: np.ndarray, affine: np.ndarray, path: str | os.PathLike) -> None:
    """Write a voxel displacement ``(3, X, Y, Z)`` on the grid ``affine`` as an ANTs-readable field.

    The file is a NIfTI vector image (float32) in LPS mm, usable in ``antsApplyTransforms -t path`` and
    ``ants.apply_transforms(..., transformlist=[path])``. Written atomically.
    """
    d = voxel_to_world(np.asarray(u, dtype=np.float64), affine)
    img = sitk.GetImageFromArray(np.ascontiguousarray(d.transpose(2, 1, 0, 3), dtype=np.float32), isVector=True)
    origin, spacing, direction = itk_geometry(affine)
    img.SetOrigin(origin)
    img.SetSpacing(spacing)
    img.SetDirection(direction)
    with atomic_path(path) as tmp:
        sitk.WriteImage(sitk.Cast(img, sitk.sitkVectorFloat32), str(tmp))


def read_ants_field(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read an ANTs displacement field: returns the voxel displacement ``(3, X, Y, Z)`` and its RAS affine."""
    img = sitk.ReadImage(str(path))
    if img.GetNumberOfComponentsPerPixel() != 3 or img.GetDimension() != 3:
        raise ValueError(f"{path}: not a 3D displacement field with 3 components")
    d = sitk.GetArrayFromImage(img).transpose(2, 1, 0, 3).astype(np.float64)
    affine = affine_from_itk(img.GetOrigin(), img.GetSpacing(), img.GetDirection())
    return world_to_voxel(d, affine), affine

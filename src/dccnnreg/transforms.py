"""Dense spatial transforms: the one transform convention of dccnnreg.

Convention (every function in the package follows it):

* Volumes are tensors ``(B, C, D, H, W)`` whose spatial axes are the array axes ``(i, j, k)``
  of the NIfTI volume as nibabel returns it (``img.get_fdata()[i, j, k]``).
* A displacement field ``u`` is a tensor ``(B, 3, D, H, W)`` in **voxel units**; channel ``c``
  is the displacement along array axis ``c`` (channel 0 along ``i``, 1 along ``j``, 2 along ``k``).
* Fields are **pull-backs**: ``phi(x) = x + u(x)`` maps a point ``x`` of the *fixed* grid into
  the *moving* image, and warping computes ``warped(x) = moving(x + u(x))``. This is the
  convention of ANTs displacement fields (see :mod:`dccnnreg.world` for the conversion to
  world space, LPS millimetres, that ANTs reads).
* Composition ``compose(u, v)`` is the field of ``phi_u o phi_v``, i.e.
  ``x -> phi_u(phi_v(x)) = x + v(x) + u(x + v(x))``: warping by it equals warping by ``u``
  first and then by ``v`` (``warp(warp(m, u), v) ~= warp(m, compose(u, v))``).
* Sampling uses ``align_corners=True``: voxel centres sit on the grid points ``0 .. n-1``.
* A field may be written on a grid ``k`` times finer than the images' (:func:`subdivided_shape`:
  ``k (n - 1) + 1`` points over the same extent, so every image voxel is a grid point of it, at index
  ``k i``), in the finer grid's voxel units; :func:`at_grid_points` gives its values at the image voxels.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def identity_grid(shape: tuple[int, int, int], device=None, dtype=torch.float32) -> Tensor:
    """Voxel coordinates of a grid, ``(1, 3, D, H, W)``; channel ``c`` holds the index along axis ``c``."""
    axes = [torch.arange(n, device=device, dtype=dtype) for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij")).unsqueeze(0)


def _sampling_grid(u: Tensor) -> Tensor:
    """Convert a voxel displacement ``(B, 3, D, H, W)`` to grid_sample's ``(B, D, H, W, 3)`` in [-1, 1], xyz order."""
    coords, parts = [], u.unbind(1)  # unbind, not three selects: its gradient is one stack, not three zero fills
    for axis in (2, 1, 0):  # x, y, z: grid_sample's order
        n = u.shape[2 + axis]
        scale = 2.0 / max(n - 1, 1)
        view = [1, 1, 1]
        view[axis] = n
        start = (torch.arange(n, device=u.device, dtype=torch.float64) * scale - 1.0).to(u.dtype).view(1, *view)
        coords.append(torch.add(start, parts[axis], alpha=scale))  # one pass per axis, no full identity grid
    return torch.stack(coords, dim=-1)


def warp(image: Tensor, u: Tensor, mode: str = "bilinear", padding_mode: str = "zeros") -> Tensor:
    """Pull ``image`` ``(B, C, D, H, W)`` back through ``u`` ``(B, 3, D', H', W')``; returns ``(B, C, D', H', W')``.

    ``mode='bilinear'`` is trilinear interpolation for intensities; use :func:`warp_labels` for label maps.
    The image and the field may have different grids only if the field is expressed in the
    image's voxel units (the usual case is the same grid).
    """
    if u.shape[2:] != image.shape[2:]:
        raise ValueError(f"field grid {tuple(u.shape[2:])} differs from image grid {tuple(image.shape[2:])}")
    grid = _sampling_grid(u.to(image.dtype) if image.is_floating_point() else u)
    return F.grid_sample(image, grid, mode=mode, padding_mode=padding_mode, align_corners=True)


def warp_labels(labels: Tensor, u: Tensor, mode: str = "nearest") -> Tensor:
    """Warp an integer label map ``(B, 1, D, H, W)``; returns the input dtype. Never mixes label values.

    ``mode='nearest'``: nearest-neighbour sampling. ``mode='generic'``: each label's indicator is
    interpolated trilinearly and every voxel takes the label of the largest one (ANTs' ``genericLabel``
    idea: boundaries move smoothly, so less is lost at coarse voxels; a tie goes to the smaller label).
    Outside the image the label is background (0). A voxel whose sample point has one label at all eight
    neighbouring grid points takes it; only the others are interpolated, one label at a time
    (:func:`_generic_at`).
    """
    if mode == "nearest":
        return warp(labels.to(u.dtype), u, mode="nearest", padding_mode="zeros").round().to(labels.dtype)
    if mode != "generic":
        raise ValueError(f"label interpolation must be 'nearest' or 'generic', got {mode!r}")
    if u.shape[2:] != labels.shape[2:]:
        raise ValueError(f"field grid {tuple(u.shape[2:])} differs from label grid {tuple(labels.shape[2:])}")
    grid = _sampling_grid(u)
    out = torch.empty_like(labels, memory_format=torch.contiguous_format)
    for b in range(labels.shape[0]):
        points, flat = grid[b].reshape(-1, 3), out[b, 0].view(-1)
        padded = F.pad(labels[b, 0], (1, 1, 1, 1, 1, 1))  # background around the map: neighbours outside it
        mixed, mixed_corners = [], []
        for start in range(0, points.shape[0], SLAB_POINTS):
            corners = _corner_labels(padded, points[start:start + SLAB_POINTS])
            flat[start:start + corners.shape[0]] = corners[:, 0]
            where = torch.nonzero((corners != corners[:, :1]).any(1)).view(-1)
            mixed.append(where + start)
            mixed_corners.append(corners[where])
        mixed = torch.cat(mixed)
        if mixed.numel():
            flat[mixed] = _generic_at(labels[b, 0], points[mixed], torch.cat(mixed_corners))
    return out


def _corner_labels(padded: Tensor, points: Tensor) -> Tensor:
    """The labels ``(N, 8)`` of the eight grid points around each sample point ``(N, 3)`` (grid_sample's normalised
    xyz, ``align_corners=True``) in a label map ``(D, H, W)`` padded by one voxel of background ``padded``
    ``(D + 2, H + 2, W + 2)``, the lowest first. A point farther outside gets the nearest neighbours that include
    the padding: all background, or mixed labels that send it to the exact interpolation."""
    size, stride = [n - 2 for n in padded.shape], padded.stride()
    base = torch.zeros(points.shape[0], dtype=torch.long, device=points.device)
    for a in range(3):
        low = ((points[:, 2 - a] + 1) / 2 * (size[a] - 1)).floor()  # grid_sample's unnormalising
        base += (low.clamp(-1, size[a] - 1).long() + 1) * stride[a]
    offsets = torch.tensor([i * stride[0] + j * stride[1] + k for i in (0, 1) for j in (0, 1) for k in (0, 1)],
                           device=points.device)
    return padded.view(-1).index_select(0, (base[:, None] + offsets).view(-1)).view(-1, 8)


def _generic_at(labels: Tensor, points: Tensor, corners: Tensor) -> Tensor:
    """The generic-label interpolation of ``labels`` ``(D, H, W)`` at sample points ``(N, 3)`` (normalised xyz)
    whose neighbouring labels are ``corners`` ``(N, 8)`` (:func:`_corner_labels`): each label's indicator is
    sampled where it is a neighbour (elsewhere it is 0 and cannot be the largest)."""

    def indicator(mask: Tensor, at: Tensor) -> Tensor:
        return F.grid_sample(mask.to(at.dtype)[None, None], at.view(1, -1, 1, 1, 3), align_corners=True).view(-1)

    best = 1.0 - indicator(labels != 0, points)  # background, 1 outside the image
    out = torch.zeros(points.shape[0], dtype=labels.dtype, device=labels.device)
    for k in torch.unique(corners):
        if k == 0:
            continue
        at = torch.nonzero((corners == k).any(1)).view(-1)
        p = indicator(labels == k, points[at])
        better = p > best[at]
        out[at[better]] = k
        best[at] = torch.where(better, p, best[at])
    return out


def apply_field(image: np.ndarray | None, labels: np.ndarray | None, u: np.ndarray, label_mode: str = "nearest"):
    """:func:`warp` (trilinear) for a numpy image ``(X, Y, Z)`` and :func:`warp_labels` (``label_mode``) for a numpy
    label map, by a numpy voxel field ``(3, X, Y, Z)``; either may be ``None``. Returns ``(image, labels)``."""
    ut = torch.as_tensor(u, dtype=torch.float32)[None]
    out_img = out_lab = None
    if image is not None:
        out_img = warp(torch.as_tensor(image, dtype=torch.float32)[None, None], ut)[0, 0].numpy()
    if labels is not None:
        out_lab = warp_labels(torch.as_tensor(labels.astype(np.int32))[None, None], ut, label_mode)[0, 0].numpy()
    return out_img, out_lab


def compose(u: Tensor, v: Tensor) -> Tensor:
    """Field of ``phi_u o phi_v``: ``v(x) + u(x + v(x))`` on the grid of ``v`` (both ``(B, 3, ...)``). ``u`` may lie
    on a coarser grid over the same extent: it is sampled (trilinearly) at ``v``'s points, in ``v``'s voxel units."""
    if u.shape[2:] == v.shape[2:]:
        return v + warp(u, v, padding_mode="border")
    sampled = F.grid_sample(u, _sampling_grid(v.to(u.dtype)), mode="bilinear", padding_mode="border", align_corners=True)
    scale = [(n - 1) / max(m - 1, 1) for n, m in zip(v.shape[2:], u.shape[2:])]
    return v + sampled * torch.tensor(scale, device=u.device, dtype=u.dtype).view(1, 3, 1, 1, 1)


def paired(fn, first: tuple[Tensor, Tensor], second: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """``fn(*first), fn(*second)`` for :func:`warp` or :func:`compose` (batches of equal size and grids) as one call
    on the two stacked batches: torch parallelises grid sampling on a CPU over the batch alone, so one batch
    leaves a core idle and two take about the time of one."""
    b = first[0].shape[0]
    out = fn(torch.cat([first[0], second[0]]), torch.cat([first[1], second[1]]))
    return out[:b], out[b:]


def subdivided_shape(shape: tuple[int, ...], k: int) -> tuple[int, ...]:
    """The grid ``k`` times finer than ``shape`` over the same extent: ``k (n - 1) + 1`` points per axis."""
    return tuple(k * (n - 1) + 1 for n in shape)


def grid_subdivision(field_shape: tuple[int, ...], grid_shape: tuple[int, ...]) -> int:
    """``k`` such that ``field_shape`` is :func:`subdivided_shape` ``(grid_shape, k)``; ValueError if none is."""
    k = max([(f - 1) // (n - 1) for f, n in zip(field_shape, grid_shape) if n > 1] or [1])
    if k >= 1 and subdivided_shape(grid_shape, k) == tuple(field_shape):
        return k
    raise ValueError(f"a field on a {tuple(field_shape)} grid is not a subdivision of the {tuple(grid_shape)} grid")


def at_grid_points(u, grid_shape: tuple[int, ...]):
    """The values of a field ``u`` ``(..., 3, X', Y', Z')`` (numpy or torch), written on a grid
    :func:`subdivided_shape` ``(grid_shape, k)``, at the points of ``grid_shape``, in that grid's voxel units
    (``u`` itself when ``k`` is 1)."""
    k = grid_subdivision(tuple(u.shape[-3:]), tuple(grid_shape))
    return u if k == 1 else u[..., ::k, ::k, ::k] / k


def integrate_velocity(v: Tensor, steps: int) -> Tensor:
    """Exponential of a stationary velocity field by scaling and squaring: ``(B, 3, D, H, W)`` -> same.

    ``steps`` squarings: the field is divided by ``2**steps`` and composed with itself ``steps`` times.
    ``steps=0`` returns ``v`` (a single Euler step).
    """
    u = v / (2**steps)
    for _ in range(steps):
        u = compose(u, u)
    return u


def integrate_sequence(velocities: list[Tensor], steps: int) -> tuple[Tensor, Tensor]:
    """Integrate a time-varying velocity (the ODE view): ``phi = exp(v_1/T) o ... o exp(v_T/T)``.

    Each velocity is ``(B, 3, D, H, W)``; each step is a diffeomorphism from :func:`integrate_velocity`.
    Returns ``(u, u_inv)``: the displacement of ``phi`` and of its inverse (built from ``exp(-v_t/T)``
    composed in reverse order), so forward and inverse come from the same velocities.
    Steps are applied in the order of the list: later increments act in the already-warped space
    (``phi_new = phi_old o exp(v_t/T)``).
    """
    if not velocities:
        raise ValueError("integrate_sequence needs at least one velocity field")
    n = len(velocities)
    u = u_inv = torch.zeros_like(velocities[0])
    for v in velocities:
        u, u_inv = append_increment(u, u_inv, integrate_velocity(v / n, steps), integrate_velocity(-v / n, steps))
    return u, u_inv


def append_increment(u: Tensor, u_inv: Tensor, inc: Tensor, inc_inv: Tensor) -> tuple[Tensor, Tensor]:
    """One step of :func:`integrate_sequence`: the map ``phi`` (field ``u``) and its inverse (``u_inv``) after
    the increment ``inc`` with inverse ``inc_inv`` (all ``(B, 3, D, H, W)``): ``phi o inc`` and
    ``inc^-1 o phi^-1``."""
    return compose(u, inc), compose(inc_inv, u_inv)


def invert_field(u: Tensor, init: Tensor, iterations: int, damping: float = 0.5) -> Tensor:
    """Polish ``init``, an approximate inverse of the map of ``u`` (both ``(B, 3, D, H, W)``), into the field
    ``v`` with ``phi_u o phi_v = id`` (``compose(u, v) = 0``) by damped fixed-point iteration,
    ``v <- v - damping * compose(u, v)`` (as ANTs' InvertDisplacementFieldImageFilter). Near the solution the
    error shrinks by ``I - damping * Du`` per iteration: with ``damping`` 0.5 it converges where the map
    stretches by less than 4, where the undamped iteration needs less than 2."""
    v = init
    for _ in range(iterations):
        v = v - damping * compose(u, v)
    return v


def mutual_inverse_step(u: Tensor, v: Tensor, damping: float = 0.5) -> tuple[Tensor, Tensor]:
    """One step drawing the maps of ``u`` and ``v`` (both ``(B, 3, D, H, W)``) towards being each other's inverse,
    both alike: ``u <- u - damping * compose(v, u)``, ``v <- v - damping * compose(u, v)``; exchanging ``u`` and
    ``v`` exchanges the results. Near consistency the residual ``compose(u, v)`` is multiplied by
    ``I - damping (J + J^-1)`` (``J`` the Jacobian of ``phi_u``): with 0.5 it vanishes to first order where the
    maps are locally translations (two translations off by a constant become exact inverses) and shrinks where
    they stretch by between 0.27 and 3.7."""
    vu, uv = paired(compose, (v, u), (u, v))
    return u - damping * vu, v - damping * uv


def unfold(u: Tensor, passes: int = 10) -> tuple[Tensor, int, int]:
    """Remove the grid folds that composing fold-free fields can leave in ``u`` ``(B, 3, D, H, W)`` (trilinear
    interpolation of sharply bending fields): while a voxel's :func:`jacobian_determinant` is non-positive, the
    field at and beside each such voxel (3x3x3) takes its :func:`box_mean` over 3x3x3 voxels, at most ``passes``
    times. Voxels farther from every fold keep their values exactly. Returns the field, how many voxels changed and
    how many still fold.

    Each pass changes voxels at most one voxel farther from the first folds, so the passes work on the box around
    them with a margin of ``passes + 2`` voxels (large subdivided fields with a few folds); the box's outer shell,
    where its central differences would be one-sided, is never one of them."""
    folds = jacobian_determinant(u) <= 0
    if not folds.any():
        return u, 0, 0
    where = folds.nonzero()[:, 1:]
    margin = passes + 2
    box = [slice(max(int(lo) - margin, 0), min(int(hi) + margin + 1, n))
           for lo, hi, n in zip(where.min(0).values, where.max(0).values, u.shape[2:])]
    part = u[(slice(None), slice(None), *box)]
    shell = torch.zeros(part.shape[2:], dtype=torch.bool, device=u.device)
    for axis, (s, n) in enumerate(zip(box, u.shape[2:])):
        edge = [slice(None)] * 3
        if s.start > 0:
            shell[tuple(edge[:axis] + [0] + edge[axis + 1:])] = True
        if s.stop < n:
            shell[tuple(edge[:axis] + [-1] + edge[axis + 1:])] = True
    changed = torch.zeros(u.shape[0], 1, *part.shape[2:], dtype=torch.bool, device=u.device)
    for done in range(passes + 1):
        folds = ((jacobian_determinant(part) <= 0) & ~shell)[:, None]
        if done == passes or not folds.any():
            break
        near = F.max_pool3d(folds.to(u.dtype), 3, stride=1, padding=1) > 0
        part = torch.where(near, box_mean(part, 3), part)
        changed |= near
    out = u.clone()
    out[(slice(None), slice(None), *box)] = part
    return out, int(changed.sum()), int(folds.sum())


def box_mean(t: Tensor, window: int) -> Tensor:
    """Mean of ``t`` ``(B, C, D, H, W)`` over cubic windows of ``window`` voxels clipped at the border (for odd
    ``window``, ``avg_pool3d(..., count_include_pad=False)``; an even one has one voxel more before the centre than
    after), as three 1-D passes of running sums: a clipped box is a product of clipped intervals, so the sums and
    the voxel counts factor by axis, and each interval's sum is a difference of two cumulative sums (work per
    voxel independent of ``window``; about 3x faster than ``avg_pool3d`` on a CPU)."""
    before, after = window // 2, (window - 1) // 2
    for axis in (2, 3, 4):
        n = t.shape[axis]
        c = F.pad(t.movedim(axis, -1), (before + 1, after)).cumsum(-1)  # c[i + window] - c[i]: voxels i-before..i+after
        i = torch.arange(n, device=t.device)
        count = ((i + after).clamp(max=n - 1) - (i - before).clamp(min=0) + 1).to(t.dtype)
        t = ((c[..., window:] - c[..., :n]) / count).movedim(-1, axis)
    return t


class _SymmetricConv(torch.autograd.Function):
    """Depthwise ``F.conv3d(x, kernel, padding=pad, groups=C)`` for a ``kernel`` ``(C, 1, a, b, c)`` that is
    symmetric about its centre: its adjoint is the same convolution with padding ``size - 1 - pad`` per axis,
    which on a CPU runs about twice as fast as torch's generic convolution backward."""

    @staticmethod
    def forward(ctx, x: Tensor, kernel: Tensor, pad: tuple[int, int, int]) -> Tensor:
        ctx.kernel, ctx.pad = kernel, pad
        return F.conv3d(x, kernel.to(x.dtype), padding=pad, groups=x.shape[1])  # backward runs outside autocast

    @staticmethod
    def backward(ctx, grad: Tensor):
        adjoint = tuple(n - 1 - p for n, p in zip(ctx.kernel.shape[2:], ctx.pad))
        return _SymmetricConv.apply(grad, ctx.kernel, adjoint), None, None


def gaussian_smooth(x: Tensor, sigma: float, border: str = "zeros") -> Tensor:
    """Each channel of ``x`` ``(B, C, D, H, W)`` convolved with a Gaussian of ``sigma`` voxels (truncated at
    3 sigma), as three 1-D passes; past the grid the values are 0 (``border='zeros'``) or the edge's
    (``'replicate'``). ``sigma`` 0 returns ``x``."""
    if sigma <= 0:
        return x
    if border not in ("zeros", "replicate"):
        raise ValueError(f"border must be 'zeros' or 'replicate', got {border!r}")
    r = max(1, int(3 * sigma + 0.5))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, device=x.device, dtype=x.dtype) / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    for axis in range(3):
        shape = [1, 1, 1]
        shape[axis] = 2 * r + 1
        pad = [0, 0, 0]
        pad[axis] = r
        if border == "replicate":
            edges = [0] * 6
            edges[4 - 2 * axis:6 - 2 * axis] = r, r  # F.pad lists the last axis first
            x, pad = F.pad(x, edges, mode="replicate"), [0, 0, 0]
        x = _SymmetricConv.apply(x, k.view(1, 1, *shape).expand(c, 1, *shape), tuple(pad))
    return x


def resize_field(u: Tensor, shape: tuple[int, int, int]) -> Tensor:
    """Resample a voxel displacement ``(B, 3, D, H, W)`` to a grid of ``shape`` covering the same extent.

    Values are rescaled to the new voxel units: with ``align_corners=True`` one old voxel is
    ``(new - 1) / (old - 1)`` new voxels along each axis.
    """
    old = u.shape[2:]
    if tuple(old) == tuple(shape):
        return u
    out = F.interpolate(u, size=tuple(shape), mode="trilinear", align_corners=True)
    scale = torch.tensor([(n - 1) / max(o - 1, 1) for n, o in zip(shape, old)], device=u.device, dtype=u.dtype)
    return out * scale.view(1, 3, 1, 1, 1)


SLAB_POINTS = 2**18  # grid points per slab of jacobian_determinant without gradients (4-5x faster on large fields)


def jacobian_determinant(u: Tensor, stride: int = 1) -> Tensor:
    """Determinant of the Jacobian of ``x -> x + u(x)``: ``(B, 3, D, H, W)`` -> ``(B, D, H, W)``.

    Derivatives are central differences (one-sided at the border), in voxel units. The
    determinant is the same in world units, since it is invariant to the (constant) voxel-to-world
    linear map. With ``stride`` ``k`` only the points ``(k i, k j, k l)`` are evaluated (the same values as
    the whole grid's there; for a field on a grid subdivided ``k`` times, the image voxels).

    Without gradients to record, the whole grid is taken in slabs of about :data:`SLAB_POINTS` points along ``D``
    (each with its neighbouring planes): the nine derivatives of a slab stay in cache, where those of a large field
    would not (with gradients, each slab's backward pass would fill a zero field of ``u``'s size).
    """
    if stride > 1:
        return _determinant(_strided_differences(u, stride))
    # d[a][c] = d u_c / d x_a; unbind, not indexing: one stack in the backward pass, not a zero-filled
    # full-size gradient per entry
    whole = lambda v: _determinant([g.unbind(1) for g in torch.gradient(v, dim=(2, 3, 4))])
    planes, n = max(1, SLAB_POINTS // (u.shape[3] * u.shape[4])), u.shape[2]
    if planes >= n or (u.requires_grad and torch.is_grad_enabled()):
        return whole(u)
    out = []
    for s in range(0, n, planes):
        lo, hi = max(s - 1, 0), min(s + planes + 1, n)
        out.append(whole(u[:, :, lo:hi])[:, s - lo:s - lo + min(planes, n - s)])
    return torch.cat(out, dim=1)


def _strided_differences(u: Tensor, k: int) -> list[tuple[Tensor, ...]]:
    """``d[a][c]`` = ``d u_c / d x_a`` at the points ``(k i, k j, k l)`` of ``u`` ``(B, 3, D, H, W)``, by the
    differences of ``torch.gradient`` (central, one-sided at the border)."""
    d = []
    for axis in range(3):
        n = u.shape[2 + axis]
        at = torch.arange(0, n, k, device=u.device)
        plus, minus = (at + 1).clamp(max=n - 1), (at - 1).clamp(min=0)
        rest = [slice(None, None, k)] * 3
        rest[axis] = slice(None)
        sub = u[(slice(None), slice(None), *rest)]
        step = (plus - minus).to(u.dtype).view([-1 if a == axis else 1 for a in range(3)])
        d.append(((sub.index_select(2 + axis, plus) - sub.index_select(2 + axis, minus)) / step).unbind(1))
    return d


def _determinant(d) -> Tensor:
    """The determinant of ``I + du``, ``d[a][c]`` = ``d u_c / d x_a`` (each ``(B, D, H, W)``)."""
    j = [[d[a][c] + 1.0 if a == c else d[a][c] for a in range(3)] for c in range(3)]  # j[c][a]
    return (
        j[0][0] * (j[1][1] * j[2][2] - j[1][2] * j[2][1])
        - j[0][1] * (j[1][0] * j[2][2] - j[1][2] * j[2][0])
        + j[0][2] * (j[1][0] * j[2][1] - j[1][1] * j[2][0])
    )

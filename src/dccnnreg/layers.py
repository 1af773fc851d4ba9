"""Building blocks of the networks: padding to the U-Nets' multiple and back, a 3D U-Net feature pyramid and a
convolutional LSTM cell."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

Tensor = torch.Tensor


def pad_to_multiple(x: Tensor, multiple: int) -> tuple[Tensor, tuple[int, int, int]]:
    """Zero-pad ``x`` ``(B, C, D, H, W)`` at the end of each spatial axis to a multiple of ``multiple``;
    returns the padded tensor and the original spatial shape (for :func:`crop`)."""
    shape = tuple(x.shape[2:])
    pad = [(-n) % multiple for n in shape]
    return F.pad(x, (0, pad[2], 0, pad[1], 0, pad[0])), shape


def crop(x: Tensor, shape: tuple[int, int, int]) -> Tensor:
    """The first ``shape`` voxels of ``x`` ``(B, C, D', H', W')``: undoes :func:`pad_to_multiple`."""
    return x[:, :, : shape[0], : shape[1], : shape[2]]


def conv_block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """3x3x3 convolution + LeakyReLU(0.2): ``(B, cin, D, H, W)`` -> ``(B, cout, D/stride, ...)``."""
    return nn.Sequential(nn.Conv3d(cin, cout, 3, stride=stride, padding=1), nn.LeakyReLU(0.2))


class UNetPyramid(nn.Module):
    """U-Net whose decoder returns one feature map per level.

    ``forward(x)`` with ``x`` ``(B, in_ch, D, H, W)`` (sizes divisible by ``2**(levels-1)``) returns
    a list, finest first: level ``l`` is ``(B, channels[l], D/2**l, H/2**l, W/2**l)``. With ``finest`` > 0 the
    levels finer than ``finest`` are not decoded (``None``): a caller that uses no features there does not pay
    for the decoder's largest convolutions (at full resolution, most of the network's time).
    """

    def __init__(self, channels: list[int], in_ch: int = 1):
        super().__init__()
        self.enc = nn.ModuleList(
            [conv_block(in_ch, channels[0])]
            + [conv_block(channels[l - 1], channels[l], stride=2) for l in range(1, len(channels))]
        )
        self.dec = nn.ModuleList(
            [conv_block(channels[l] + channels[l + 1], channels[l]) for l in range(len(channels) - 1)]
        )
        self.up = nn.Upsample(scale_factor=2, mode="trilinear", align_corners=False)

    def forward(self, x: Tensor, finest: int = 0) -> list[Tensor | None]:
        skips = []
        for block in self.enc:
            x = block(x)
            skips.append(x)
        feats = [skips[-1]]
        for l in range(len(self.dec) - 1, finest - 1, -1):
            feats.insert(0, self.dec[l](torch.cat([self.up(feats[0]), skips[l]], dim=1)))
        return [None] * finest + feats


class ConvLSTMCell(nn.Module):
    """Convolutional LSTM cell (Shi et al., 2015) on 3D grids.

    ``forward(x, state)``: ``x`` ``(B, in_ch, D, H, W)``, ``state`` ``(h, c)`` each
    ``(B, hidden, D, H, W)`` or ``None`` (zeros: the gates then convolve ``x`` alone, skipping the zero
    hidden channels and the forget gate); returns the new ``(h, c)``.
    """

    def __init__(self, in_ch: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Conv3d(in_ch + hidden, 4 * hidden, 3, padding=1)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None) -> tuple[Tensor, Tensor]:
        if state is None:  # no forget gate either: it would multiply the zero cell state
            n, w, b = self.hidden, self.gates.weight[:, : x.shape[1]], self.gates.bias
            weight, bias = torch.cat([w[:n], w[2 * n :]]), torch.cat([b[:n], b[2 * n :]])
            i, o, g = F.conv3d(x, weight, bias, padding=1).split(n, dim=1)
            c = torch.sigmoid(i) * torch.tanh(g)
        else:
            h, c = state
            i, f, o, g = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c

"""Building blocks of the MRZ reader: a CNN encoder, per-line pooling, a sequence model, a CTC head.

The band (all its lines at once) goes through a small CNN that keeps width and cuts
height. :class:`LinePooling` then makes one sequence per MRZ line: at every column it
softmax-weights the rows, with one set of weights per line slot, so a line that
slants across rows is still followed column by column. Each slot's sequence goes
through a bidirectional LSTM and a linear layer to per-step character logits for CTC.
A two-line MRZ leaves the third slot empty (all blanks).

    band 1 x H x W -> CNN -> C x H/8 x W/4 -> LinePooling -> 3 x C x W/4 -> BiLSTM -> 3 x W/4 x classes
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn as nn

from otter import MODELS, OtterConfigError

__all__ = ["BandEncoder", "LinePooling", "SequenceHead", "PageEncoder"]


def _conv(cin: int, cout: int, stride=1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class _ContextBlock(nn.Module):
    """Residual pair of 1-D convolutions: 3x1 across rows (dilated, to reach the other lines), then 1x3 along the line.

    Plain (not depthwise) convolutions: on CPU they run several times faster per
    multiply-add than depthwise ones, and splitting 3x3 in two costs a third of it.
    """

    def __init__(self, channels: int, dilation: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, (3, 1), 1, (dilation, 0), dilation=(dilation, 1), bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, (1, 3), 1, (0, 1), bias=False),
            nn.BatchNorm2d(channels),
        )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


@MODELS.register()
class BandEncoder(nn.Module):
    """A small CNN from a grey band to a map at 1/8 height and 1/4 width.

    Width is cut only twice, so each line keeps ``W/4`` CTC steps (two per character
    and more: a run of fillers ``<<<`` needs a blank between repeats). Height goes to
    1/8, and height-dilated blocks there see every line of the band at once, which
    tells the line slots apart.

    Args:
        channels: Output channels of the three convolutions (strides 2, 2, (2, 1)).
        blocks: Context blocks at the last resolution (dilated 1, 2, 4 in height in turn).
        in_channels: 1 for grey bands.

    >>> tuple(BandEncoder()(torch.zeros(1, 1, 64, 512)).shape)
    (1, 64, 8, 128)
    """

    def __init__(self, channels: Sequence[int] = (16, 32, 64), blocks: int = 3, in_channels: int = 1):
        super().__init__()
        if len(channels) != 3:
            raise OtterConfigError(f"needs 3 channel counts (one per convolution), got {list(channels)}", key="model.encoder.options.channels")
        c1, c2, c3 = channels
        self.stem = nn.Sequential(_conv(in_channels, c1, 2), _conv(c1, c2, 2), _conv(c2, c3, (2, 1)))
        self.context = nn.Sequential(*[_ContextBlock(c3, dilation=(1, 2, 4)[i % 3]) for i in range(blocks)])
        self.out_channels = c3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.context(self.stem(x))


class LinePooling(nn.Module):
    """One sequence per line slot: per column, a softmax over rows for each slot.

    The attention logits are a 1x1 conv of the features plus a learned per-slot, per-row
    bias that starts as a prior (slot 0 looks near the top, the last slot near the
    bottom). Without it the slots start identical and training spends its first
    thousands of samples emitting only blanks while they drift apart.

    Args:
        channels: Channels of the encoder map.
        slots: Line slots (3: the most lines an MRZ has).
        rows: Rows of the encoder map (the band height / 8).
        prior: Strength of the initial position prior.
    """

    def __init__(self, channels: int, slots: int = 3, rows: int = 6, prior: float = 6.0):
        super().__init__()
        self.slots = slots
        self.attention = nn.Conv2d(channels, slots, 1)
        centre = torch.linspace(0, 1, slots)[:, None]
        where = torch.linspace(0, 1, rows)[None, :]
        self.row_bias = nn.Parameter((-prior * (where - centre) ** 2)[None, :, :, None])  # 1 x S x H x 1
        self.slot_embedding = nn.Parameter(torch.randn(1, slots, channels, 1) * 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``B x C x H x W`` -> ``B x slots x C x W``."""
        weights = torch.softmax(self.attention(x) + self.row_bias, dim=2)  # B x S x H x W
        pooled = torch.einsum("bshw,bchw->bscw", weights, x)
        return pooled + self.slot_embedding


@MODELS.register()
class SequenceHead(nn.Module):
    """Per-slot BiLSTM (weights shared by the slots) and a linear layer to character logits.

    Args:
        in_channels: Channels of the pooled sequences (filled in by the model).
        hidden: LSTM hidden size per direction; 0 skips the LSTM (a 1-D conv instead).
        num_classes: CTC classes, blank included (filled in by the model).
        slots: Line slots.
        dropout: Dropout before the linear layer.
        rows: Rows of the encoder map (filled in by the model).
        upsample: Steps per encoder column: 2 gives CTC two frames where a character
            needs one, and learning leaves the all-blank phase much sooner.
    """

    OTTER_DERIVED = ("in_channels", "num_classes", "rows")

    def __init__(
        self, in_channels: int = 64, hidden: int = 64, num_classes: int = 38, slots: int = 3, dropout: float = 0.1, rows: int = 6, upsample: int = 2
    ):
        super().__init__()
        self.pool = LinePooling(in_channels, slots, rows)
        self.upsample = int(upsample)
        self.slots = slots
        self.hidden = hidden
        if hidden > 0:
            self.rnn: Optional[nn.LSTM] = nn.LSTM(in_channels, hidden, batch_first=True, bidirectional=True)
            out = 2 * hidden
            self.conv = None
        else:
            self.rnn = None
            self.conv = nn.Sequential(nn.Conv1d(in_channels, in_channels, 5, padding=2), nn.ReLU(inplace=True))
            out = in_channels
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(out, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``B x C x H x W`` map -> ``B x slots x W x classes`` logits."""
        seq = self.pool(x)  # B x S x C x W
        b, s, c, w = seq.shape
        seq = seq.reshape(b * s, c, w)
        if self.upsample > 1:
            seq = seq.unsqueeze(-1).expand(b * s, c, w, self.upsample).reshape(b * s, c, w * self.upsample)
        if self.rnn is not None:
            out, _ = self.rnn(seq.transpose(1, 2))
        else:
            out = self.conv(seq).transpose(1, 2)
        logits = self.fc(self.dropout(out))
        return logits.reshape(b, s, w * self.upsample, -1)


@MODELS.register()
class PageEncoder(nn.Module):
    """A small CNN over a grey page photo for the band finder: maps at strides 4, 8, 16, 32.

    Plain 3x3 convolutions (fast on CPU); an FPN neck (``otter.corners.FPNNeck``)
    fuses the maps for the corner heatmaps.

    Args:
        channels: Channels at strides 2, 4, 8, 16, 32.

    Attributes:
        channels: Channels of the returned maps (strides 4, 8, 16, 32).
        reductions: Their strides.

    >>> [tuple(f.shape[-2:]) for f in PageEncoder()(torch.zeros(1, 1, 192, 256))]
    [(48, 64), (24, 32), (12, 16), (6, 8)]
    """

    def __init__(self, channels: Sequence[int] = (16, 24, 32, 48, 64), in_channels: int = 1):
        super().__init__()
        if len(channels) != 5:
            raise OtterConfigError(f"needs 5 channel counts (strides 2 to 32), got {list(channels)}", key="model.encoder.options.channels")
        c = [in_channels, *channels]
        self.stages = nn.ModuleList(
            nn.Sequential(_conv(c[i], c[i + 1], 2), _conv(c[i + 1], c[i + 1])) if i > 0 else _conv(c[0], c[1], 2) for i in range(5)
        )
        self.channels = list(channels[1:])
        self.reductions = [4, 8, 16, 32]

    def forward(self, x: torch.Tensor) -> list:
        maps = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i > 0:
                maps.append(x)
        return maps

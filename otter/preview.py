"""Preview helpers for the images and plots a run writes to ``<run>/preview/epoch_N/``.

matplotlib is imported inside the functions, with the ``Agg`` backend: training
jobs have no display. Images may be torch tensors (``C x H x W``, floats in
``[0, 1]``) or numpy arrays (``H x W x C``, floats in ``[0, 1]`` or ``uint8``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

__all__ = ["pyplot", "save_figure", "image_grid", "to_display"]

PathLike = Union[str, Path]


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the ``Agg`` backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: PathLike, dpi: int = 100) -> Path:
    """Lay out, save and close ``fig``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return path


def to_display(image: Any) -> Any:
    """An ``H x W x C`` (or ``H x W``) numpy array that ``imshow`` shows as it is."""
    import numpy as np

    if hasattr(image, "detach"):  # a torch tensor, C x H x W
        image = image.detach().float().cpu()
        image = image.permute(1, 2, 0) if image.ndim == 3 else image
        image = image.clamp(0, 1).numpy()
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    return image


def image_grid(
    images: Sequence[Any],
    path: PathLike,
    titles: Optional[Sequence[str]] = None,
    cols: int = 8,
    overlay: Optional[Callable[[Any, int], None]] = None,
    cell: float = 1.5,
) -> Path:
    """Save up to ``rows x cols`` images as one figure.

    Args:
        images: Tensors or arrays (see the module docstring).
        path: The ``.png`` to write.
        titles: One short title per image.
        cols: Images per row.
        overlay: Called as ``overlay(ax, i)`` after image ``i`` is drawn, to draw on top
            (predicted corners, boxes, text).
        cell: Inches per image.

    Returns:
        ``path``.

    >>> import numpy as np
    >>> image_grid([np.zeros((8, 8, 3))] * 3, "/tmp/otter-grid-doctest.png", titles=["a", "b", "c"]).name
    'otter-grid-doctest.png'
    """
    plt = pyplot()
    count = max(1, len(images))
    cols = max(1, min(cols, count))
    rows = (count + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(cols * cell, rows * (cell + 0.2)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= len(images):
            continue
        image = to_display(images[i])
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
        if titles is not None and i < len(titles):
            ax.set_title(str(titles[i]), fontsize=5)
        if overlay is not None:
            overlay(ax, i)
    return save_figure(fig, path)

"""Checking a folder of images before training: every file decodes, or the run says which do not.

For the real-data datasets of every task (classifier, aligner, MRZ): call
:func:`check_images` on the files a dataset found. One unreadable, truncated or
empty file is reported in one line (exit code 2) before anything trains, or, with
``on_bad: skip``, left out and counted in a warning.

>>> good = check_images(find_images("data/train"), on_bad="skip", key="dataset.train_options.options.root")  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

from .errors import OtterConfigError

__all__ = ["IMAGE_EXTENSIONS", "ON_BAD_IMAGE", "find_images", "unreadable_images", "check_images"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
#: What a dataset does with files that do not decode: stop with one line, or leave them out with a warning.
ON_BAD_IMAGE = ("error", "skip")


class ImageCheckWarning(UserWarning):
    """Images were left out because they do not decode (``on_bad: skip``)."""


def find_images(root: Union[str, Path], extensions: Sequence[str] = IMAGE_EXTENSIONS) -> List[Path]:
    """Image files under ``root`` (recursive, by extension, case-insensitive), sorted by path."""
    suffixes = {e.lower() for e in extensions}
    return sorted(p for p in Path(root).rglob("*") if p.suffix.lower() in suffixes and p.is_file())


def _problem(path: Path) -> Optional[str]:
    from PIL import Image

    try:
        if path.stat().st_size == 0:
            return "empty file"
        with Image.open(path) as im:
            im.load()  # decodes every pixel: a truncated file fails here, not in the middle of training
            if im.width < 1 or im.height < 1:
                return "no pixels"
    except Exception as e:  # PIL raises many types (OSError, SyntaxError, ValueError...) for bad files
        return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'cannot decode'}"
    return None


def unreadable_images(paths: Sequence[Union[str, Path]]) -> List[Tuple[Path, str]]:
    """``(path, reason)`` for each file that is empty or does not decode completely."""
    found = []
    for p in paths:
        reason = _problem(Path(p))
        if reason:
            found.append((Path(p), reason))
    return found


def check_images(
    paths: Sequence[Union[str, Path]],
    on_bad: str = "error",
    key: Optional[str] = None,
    file: Optional[str] = None,
) -> List[Path]:
    """Decode every image; report or leave out those that fail.

    Args:
        paths: The dataset's image files.
        on_bad: ``"error"``: raise naming them; ``"skip"``: return the others and warn with the count.
        key: The config key the folder came from, for the error line.
        file: The config file, for the error line.

    Returns:
        The paths that decode, in the given order.

    Raises:
        OtterConfigError: ``on_bad`` is ``"error"`` and some files do not decode, or ``on_bad`` is unknown.
    """
    if on_bad not in ON_BAD_IMAGE:
        raise OtterConfigError(f"on_bad_image must be one of {', '.join(ON_BAD_IMAGE)}, got {on_bad!r}", file=file, key=key)
    bad = unreadable_images(paths)
    if not bad:
        return [Path(p) for p in paths]
    shown = "; ".join(f"{p} ({reason})" for p, reason in bad[:3])
    more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
    if on_bad == "error":
        raise OtterConfigError(
            f"{len(bad)} of {len(paths)} images cannot be read: {shown}{more}; "
            "remove or replace them, or set on_bad_image: skip to leave them out",
            file=file,
            key=key,
        )
    warnings.warn(f"skipped {len(bad)} of {len(paths)} images that cannot be read: {shown}{more}", ImageCheckWarning, stacklevel=2)
    bad_set = {p for p, _ in bad}
    return [Path(p) for p in paths if Path(p) not in bad_set]

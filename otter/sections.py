"""Reading values out of a config, one rule each, for otter and the projects alike.

Plain mappings in, plain values out: works on a loaded :class:`otter.config.Config`
and on the raw dict that validation sees. Imports nothing of otter.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

__all__ = ["value_of", "options_of", "dataset_options", "image_size", "DATASET_SPLITS"]

DATASET_SPLITS = ("train", "valid", "test")


def value_of(section: Any, key: str, default: Any = None) -> Any:
    """``section[key]`` where ``section`` is a mapping that has it, else ``default`` (a section may be missing or null).

    >>> value_of({"loss": {"s": 10}}, "loss"), value_of(None, "loss", 0), value_of({"loss": None}, "loss")
    ({'s': 10}, 0, None)
    """
    return section.get(key, default) if isinstance(section, Mapping) else default


def options_of(entry: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """A copy of a ``name`` + ``options`` entry's options (``{}`` when there are none)."""
    return dict(value_of(entry, "options") or {})


def dataset_options(cfg: Mapping[str, Any], split: str) -> Dict[str, Any]:
    """The keyword arguments the ``split`` dataset is built with.

    ``dataset.<split>_options.options`` with ``global_settings`` merged over them:
    a value in ``global_settings`` (an image size shared by every dataset) wins.

    >>> dataset_options({"global_settings": {"image_size": [64, 64]},
    ...                  "dataset": {"train_options": {"name": "D", "options": {"image_size": 32, "n": 5}}}}, "train")
    {'image_size': [64, 64], 'n': 5}
    """
    entry = value_of(value_of(cfg, "dataset"), f"{split}_options")
    return {**options_of(entry), **dict(value_of(cfg, "global_settings") or {})}


def image_size(cfg: Mapping[str, Any]) -> Optional[Tuple[int, int]]:
    """The model's input size ``(height, width)``: what the training images are made at.

    The rule: the ``image_size`` the training dataset is built with (its options,
    with ``global_settings.image_size`` taking precedence, see :func:`dataset_options`),
    else ``common.image_size``. An int means a square. ``None`` when neither is set.

    >>> image_size({"common": {"image_size": 64}})
    (64, 64)
    >>> image_size({"common": {"image_size": 64}, "global_settings": {"image_size": [32, 48]}})
    (32, 48)
    """
    size = dataset_options(cfg, "train").get("image_size") or value_of(value_of(cfg, "common"), "image_size")
    if not size:
        return None
    height, width = (size, size) if isinstance(size, int) else size
    return int(height), int(width)

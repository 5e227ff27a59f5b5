"""The callback that writes the run folder: made when fitting starts, completed once the model is known.

Added by :func:`otter.build_trainer`; only rank 0 writes. Writing at fit start
(as Lightning's ``SaveConfigCallback`` does) keeps building free of side effects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Union

from lightning.pytorch.callbacks import Callback

from .config import dump_config
from .runinfo import config_header, create_run_folder, model_meta_data, write_json

__all__ = ["RunRecorder"]


class RunRecorder(Callback):
    """Creates the run folder at set-up and records the model and the config with derived values.

    Args:
        cfg: The loaded config (``cfg.name``, ``cfg.name_ind`` set).
        run_dir: ``<root>/runs/<cfg_name>/<run_id>``.
        new_folder: Create the folder (a new run). False when a run continues in its own folder.
    """

    def __init__(self, cfg: Any, run_dir: Union[str, Path], new_folder: bool = True):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.new_folder = new_folder
        self._created = False

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if stage == "fit" and self.new_folder and trainer.is_global_zero and not self._created:
            create_run_folder(self.run_dir, self.cfg)
            self._created = True

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.is_global_zero:
            return
        write_json(model_meta_data(pl_module, self.cfg), self.run_dir / "model_meta_data.json")
        if self.new_folder:
            # The scheduler's -1 values are derived by now; the saved config shows them.
            dump_config(self.cfg, self.run_dir / "config.yaml", header=config_header(self.cfg))

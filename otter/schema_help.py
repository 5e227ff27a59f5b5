"""The one-line meaning of every key of a config, as the config reference shows it.

:mod:`otter.schema` gives each field its text from here (``Field(description=...)``), so the
schema stays about shapes and rules. Keys are ``<model>.<field>`` of the models in
:mod:`otter.schema`; ``tests/test_docs.py`` fails when a field has no text.
"""

from __future__ import annotations

from typing import Dict

__all__ = ["KEY_HELP"]

#: ``"<model>.<field>"`` -> what the key means, one line.
KEY_HELP: Dict[str, str] = {
    "RootConfig.common": "Settings of the whole run: batch size, input size, seed, and what to restore from.",
    "RootConfig.global_settings": ("Merged over the options of every dataset (and wins), e.g. an `image_size` they share."),
    "RootConfig.trainer": ("Keyword arguments of `lightning.Trainer`; `logger`, `callbacks` and `default_root_dir` come from Otter."),
    "RootConfig.model": "The project's LightningModule and its parts (backbone, head, loss, ...).",
    "RootConfig.onnx": ("What `to_onnx` exports and how; its problems are warnings for `check` and `train`, errors for `to_onnx`."),
    "RootConfig.dataset": "The training, validation and test datasets, each built by name.",
    "RootConfig.dataloader": "`DataLoader` keyword arguments per split.",
    "RootConfig.optimizer": "Any `torch.optim` optimizer, or one the project registers; `params` are the model's.",
    "RootConfig.lr_scheduler": (
        "A `torch.optim.lr_scheduler` scheduler, `PolynomialLRWarmup`, or one the project registers; none: a constant rate."
    ),
    "RootConfig.callbacks": ("Lightning callbacks; a `ModelCheckpoint` writing to the run's `checkpoint/` is added when none is listed."),
    "RootConfig.logger": ("One logger or a list; default `TensorBoardLogger`; a relative `save_dir` lies in the run folder (`logs`)."),
    "CommonSection.batch_size": (
        "Images per batch; a dataloader's `batch_size` (absent or `-1`) and the progress bar's `unit_scale: -1` take it."
    ),
    "CommonSection.image_size": (
        "`[height, width]` of the model's input, used (FLOP count, export) when the training dataset's options give none."
    ),
    "CommonSection.is_restore": ("Start from the weights of an earlier run: the latest one of this config unless set below."),
    "CommonSection.restore_ind": "The run id to restore (a folder in `runs/<cfg_name>/`); empty: the latest run.",
    "CommonSection.restore_ckpt": ("A checkpoint file in that run's `checkpoint/`; empty: `last.ckpt` to restore, the best one to export."),
    "CommonSection.restore_cfg": "Restore from a run of this other config (finetuning); empty: this config's runs.",
    "CommonSection.restore_all_states": (
        "Continue the run itself, in its own folder: optimizer, scheduler, epoch and step, not only the weights."
    ),
    "CommonSection.restore_strict": "Every weight must match the model; `false` loads what matches (e.g. a new head).",
    "CommonSection.preview_batch": (
        "Kept from the original project's configs, which sized their previews with it; Otter does not read it."
    ),
    "CommonSection.seed": (
        "Seeds Python, NumPy, torch and the data order; when absent one is drawn and recorded in the run's `config.yaml`."
    ),
    "ModelSection.name": ("The LightningModule: a name in `MODELS` or a class in the project's model module; it takes `cfg`."),
    "DatasetSection.train_options": "The training dataset.",
    "DatasetSection.valid_options": "The validation dataset; without it there is no validation.",
    "DatasetSection.test_options": (
        'A test dataset: checked like the others, not used by training (`otter.build.make_dataset(cfg, "test")`).'
    ),
    "DataloaderSection.train_options": ("For training: `batch_size` (`-1` or absent: `common.batch_size`), `shuffle`, `num_workers`, ..."),
    "DataloaderSection.valid_options": "For validation, as `train_options`.",
    "DataloaderSection.test_options": "For the test split, as `train_options` (for the project's own use).",
    "NamedEntry.name": ("What to build: a name in Otter's registry for this section, or a class in the project's modules."),
    "NamedEntry.options": ("Keyword arguments it is built with, checked against its signature (names, required ones, types)."),
    "SchedulerEntry.pl_options": (
        "Lightning's scheduler settings: `interval` (`step` or `epoch`), `frequency`, `monitor`, `strict`, `name`."
    ),
    "OnnxSection.name": "The ONNX wrapper (a name in `ONNX_WRAPPERS` or the project's): the model's inference path.",
    "OnnxSection.input_shape": "Each input name -> `{shape, dtype}`: the example inputs the export runs.",
    "OnnxSection.input_names": "The graph's input names, in the wrapper's argument order; each needs an `input_shape`.",
    "OnnxSection.output_names": "The graph's output names, in the wrapper's return order; distinct from the inputs.",
    "OnnxSection.dynamic_axes": ("An input or output name -> `{axis: label}`: axes that may change size, e.g. `{0: batch_size}`."),
    "OnnxSection.options": ("Keyword arguments of `torch.onnx.export` (`opset_version`, `dynamo`, ...), but those Otter sets itself."),
    "OnnxSection.additional_meta_info": ("Strings, numbers or booleans stored in the file's metadata; Otter's own keys are reserved."),
    "OnnxInput.shape": "The example input's shape, positive ints, e.g. `[1, 3, 224, 224]`.",
    "OnnxInput.dtype": ("Its dtype: one of `float32`, `float16`, `float64`, `int64`, `int32`, `int16`, `int8`, `uint8`, `bool`."),
}

"""Build every training object from one config.

The public functions keep the names and call signatures the original Otter
projects use (``load_model_from_config``, ``build_dataset``, ``build_trainer``...).
Each builds and returns; every ``name`` + ``options`` entry goes through
:func:`otter.registry.build`. The run folder is written by the run-record code
(:class:`otter.recorder.RunRecorder`) once fitting starts.
"""

from __future__ import annotations

import random
from pathlib import Path
from types import ModuleType
from typing import Any, List, Optional, Sequence, Tuple, Union

from .checkpoint import load_weights
from .config import Config, config_name, find_config, load_config
from .errors import OtterConfigError, OtterError
from .registry import CALLBACKS, DATASETS, LOGGERS, MODELS, build
from .runinfo import find_checkpoint, new_run_id, run_folder_free, runs_root
from .sections import DATASET_SPLITS, dataset_options
from .validate import Scope, check_datasets

__all__ = [
    "load_model_from_config",
    "load_project_config",
    "build_model",
    "make_dataset",
    "build_dataset",
    "build_callback",
    "build_logger",
    "build_trainer",
    "load_weights",
]

PathLike = Union[str, Path]


def _root(root: Optional[PathLike]) -> Path:
    return Path(root) if root is not None else Path.cwd()


def config_file(cfg: Config) -> Optional[str]:
    """The file a config was loaded from, for error messages."""
    return getattr(cfg, "__file__", None)


def load_project_config(
    cfg_name: PathLike,
    root: Optional[PathLike] = None,
    stem: PathLike = "config",
    modules: Sequence[Optional[ModuleType]] = (),
    overrides: Sequence[str] = (),
    mode: str = "train",
) -> Config:
    """Find ``<root>/<stem>/<cfg_name>.yaml``, load and validate it inside a project.

    Names are resolved in the registries and then in ``modules``; an unknown name is an error.
    Adds ``cfg.name`` (the config name).
    """
    path = find_config(cfg_name, _root(root), stem)
    # A dataset may live in the module given later to build_dataset (the seed's way): checked there.
    scope = Scope(modules=[m for m in modules if m is not None], strict=True, defer_datasets=True)
    cfg = load_config(path, overrides, mode=mode, scope=scope)
    cfg.name = config_name(path)
    return cfg


def _seed(cfg: Config) -> None:
    from lightning.pytorch import seed_everything

    if cfg.common.get("seed") is None:
        # Recorded in the saved config, so the run can be repeated.
        cfg.common.seed = random.randint(0, 2**31 - 1)
    seed_everything(int(cfg.common.seed), workers=True, verbose=False)


def build_model(cfg: Config, *modules: Optional[ModuleType]) -> Any:
    """Build ``model.name`` with the whole config (``Model(cfg=cfg)``).

    Args:
        cfg: A loaded config.
        *modules: Project modules searched after the ``MODELS`` registry.

    Raises:
        OtterConfigError: unknown name, or parts the model finds do not fit, placed in the config file.
    """
    try:
        return build({"name": cfg.model.name}, MODELS, *modules, key="model", cfg=cfg)
    except OtterConfigError as e:
        # A model that finds its parts do not fit together names the key; add the file.
        raise e.located(config_file(cfg)) from None


def load_model_from_config(
    cfg_name: PathLike,
    root: Optional[PathLike] = None,
    stem: PathLike = "config",
    network: Optional[ModuleType] = None,
    overrides: Sequence[str] = (),
    modules: Sequence[ModuleType] = (),
) -> Tuple[Any, Config]:
    """Load a config and build its model, restoring weights when ``common.is_restore`` says so.

    Args:
        cfg_name: A config name in ``<root>/<stem>/`` (or a path to a YAML file).
        root: The project folder; runs go to ``<root>/runs/<cfg_name>/<run_id>/``. Default: the working folder.
        stem: The config folder inside ``root``.
        network: A project module searched by class name for ``model.name`` (after the ``MODELS`` registry).
        overrides: ``key.path=value`` strings.
        modules: More project modules to resolve names in (datasets, ONNX wrappers).

    Returns:
        ``(model, cfg)``; ``cfg.name`` is the config name and ``cfg.name_ind`` the run id.

    Raises:
        OtterConfigError: the config is invalid (nothing has been created).
        OtterError: the checkpoint to restore is unreadable or does not match.

    >>> model, cfg = load_model_from_config("default", root="MyProj", network=net)  # doctest: +SKIP
    """
    root = _root(root)
    cfg = load_project_config(cfg_name, root, stem, [network, *modules], overrides)
    ckpt = None
    try:
        if cfg.common.is_restore:
            # A finetune config starts from another config's run (common.restore_cfg).
            source = str(cfg.common.get("restore_cfg") or cfg.name)
            run_dir, ckpt = find_checkpoint(
                root, source, str(cfg.common.get("restore_ind") or ""), str(cfg.common.get("restore_ckpt") or ""), prefer="last"
            )
            if cfg.common.restore_all_states:
                if source != cfg.name:
                    raise OtterConfigError(
                        "restore_all_states continues a run in its own folder; it cannot take another config's run",
                        key="common.restore_all_states",
                    )
                cfg.name_ind = run_dir.name
                cfg.common.checkpoint_path = str(ckpt)
    except OtterConfigError as e:
        raise e.located(config_file(cfg)) from None
    _seed(cfg)
    model = build_model(cfg, network, *modules)
    if ckpt is not None:
        load_weights(model, ckpt, strict=cfg.common.get("restore_strict", True))
    if "name_ind" not in cfg:
        # Chosen (and its folder reserved) once the model is built: a model or checkpoint
        # that fails leaves nothing behind.
        cfg.name_ind = new_run_id(root, cfg.name)
    return model, cfg


def make_dataset(cfg: Config, split: str, *modules: Optional[ModuleType]) -> Any:
    """Build the ``split`` dataset (``"train"``, ``"valid"``, ``"test"``) of ``dataset.<split>_options``.

    Its options are :func:`otter.sections.dataset_options`: ``global_settings`` merged over them.

    Returns:
        The dataset, or ``None`` when the config has no such entry.
    """
    entry = (cfg.get("dataset") or {}).get(f"{split}_options")
    if not entry:
        return None
    try:
        return build({"name": entry["name"], "options": dataset_options(cfg, split)}, DATASETS, *modules, key=f"dataset.{split}_options")
    except OtterConfigError as e:
        raise e.located(config_file(cfg)) from None


def build_dataset(cfg: Config, ds: Optional[ModuleType] = None) -> Tuple[Any, Any]:
    """Build the train and valid DataLoaders from ``dataset`` and ``dataloader``.

    Dataset classes are looked up in ``DATASETS``, then in the module ``ds`` by class
    name; ``global_settings`` is merged into both datasets' options.

    Returns:
        ``(train_loader, valid_loader)``; ``valid_loader`` is ``None`` without ``dataset.valid_options``.
    """
    from .resume import make_loader  # torch and Lightning: imported when data is built

    # Names and options of the datasets, now that their module is here; before any run folder exists.
    check_datasets(cfg, ds, file=config_file(cfg))
    loaders = []
    for split in DATASET_SPLITS[:2]:
        dataset = make_dataset(cfg, split, ds)
        if dataset is None:
            loaders.append(None)
            continue
        options = dict((cfg.get("dataloader") or {}).get(f"{split}_options") or {})
        options.setdefault("batch_size", cfg.common.get("batch_size") or 1)
        # Resumable mid-epoch: the order and each sample's random draws follow from the seed.
        loaders.append(make_loader(dataset, options, seed=int(cfg.common.get("seed") or 0)))
    return loaders[0], loaders[1]


def _run_dir(cfg: Config) -> Path:
    if "root_dir" not in cfg:
        raise OtterError("cfg.root_dir is not set; call build_trainer(cfg, root=...) first")
    return Path(cfg.root_dir)


def build_callback(cfg: Config) -> List[Any]:
    """The ``callbacks`` section as Lightning callbacks, placed in the run folder.

    ``ModelCheckpoint`` writes its top-k files to ``<run>/checkpoint`` (``last.ckpt`` is
    :class:`otter.ckpt_save.LastCheckpoint`'s, added by ``build_trainer``); ``CustomTQDMProgressBar(unit_scale=-1)`` counts ``common.batch_size`` images a batch.
    """
    ckpt_dir = str(_run_dir(cfg) / "checkpoint")
    entries = [dict(e) for e in cfg.get("callbacks") or []]
    if not any(e["name"] == "ModelCheckpoint" for e in entries):
        entries.append({"name": "ModelCheckpoint"})
    callbacks = []
    for i, entry in enumerate(entries):
        options = dict(entry.get("options") or {})
        if entry["name"] == "ModelCheckpoint":
            options = {"dirpath": ckpt_dir, **options}
        if entry["name"] == "CustomTQDMProgressBar" and options.get("unit_scale") == -1:
            options["unit_scale"] = cfg.common.get("batch_size") or 1
        callbacks.append(build({"name": entry["name"], "options": options}, CALLBACKS, key=f"callbacks.{i}"))
    return callbacks


def build_logger(cfg: Config) -> Any:
    """The ``logger`` section (one entry or a list) with ``save_dir`` inside the run folder.

    A relative ``save_dir`` is taken inside the run folder; the default is ``logs``.
    Without a ``logger`` section, TensorBoard logs go to ``<run>/logs``.
    """
    section = cfg.get("logger")
    entries = section if isinstance(section, list) else [section or {"name": "TensorBoardLogger"}]
    loggers = []
    for entry in entries:
        options = dict(entry.get("options") or {})
        save_dir = Path(options.get("save_dir") or "logs")
        options["save_dir"] = str(save_dir if save_dir.is_absolute() else _run_dir(cfg) / save_dir)
        if entry["name"] in ("TensorBoardLogger", "CSVLogger"):
            # Write straight into save_dir instead of <save_dir>/lightning_logs/version_N.
            options.setdefault("name", "")
            options.setdefault("version", "")
        try:
            loggers.append(build({"name": entry["name"], "options": options}, LOGGERS))
        except ModuleNotFoundError as e:
            # Lightning's loggers for hosted services need their client package.
            raise OtterConfigError(
                f"{entry['name']} needs a package that is not installed ({str(e).splitlines()[0]}); pip install it",
                file=config_file(cfg),
                key="logger.name",
            ) from None
    return loggers if isinstance(section, list) else loggers[0]


def build_trainer(cfg: Config, root: Optional[PathLike] = None) -> Any:
    """Build the Lightning ``Trainer`` for the run ``<root>/runs/<cfg.name>/<cfg.name_ind>/``.

    Nothing is written here: the run folder is made by :class:`otter.recorder.RunRecorder`
    when fitting starts (rank 0 only), so a bad setting leaves no folder. A run restored
    with ``restore_all_states`` continues in its own folder.

    Returns:
        A ``lightning.Trainer``; with ``restore_all_states`` its ``ckpt_path`` is set, so
        ``trainer.fit(model, ...)`` resumes optimizer, scheduler, epoch and step.

    Raises:
        OtterConfigError: Lightning refuses a trainer setting.
        OtterError: the run folder exists already (a run folder is never overwritten).
    """
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from lightning.pytorch import Trainer

    # Lightning callbacks: imported when a trainer is built, so `import otter.build` stays light.
    from .recorder import RunRecorder
    from .resume import run_guards

    if "name" not in cfg or "name_ind" not in cfg:
        raise OtterError("build_trainer needs a config from load_model_from_config (cfg.name and cfg.name_ind)")
    run_dir = runs_root(_root(root), cfg.name) / str(cfg.name_ind)
    resuming = bool(cfg.common.get("is_restore") and cfg.common.get("restore_all_states"))
    cfg.root_dir = str(run_dir)

    # last.ckpt always fresh, atomic saves, exit codes on signals, exact resume.
    callbacks, plugins = run_guards(cfg, build_callback(cfg), run_dir)
    callbacks.append(RunRecorder(cfg, run_dir, new_folder=not resuming))
    try:
        trainer = Trainer(
            **(cfg.get("trainer") or {}),
            logger=build_logger(cfg),
            callbacks=callbacks,
            plugins=plugins,
            default_root_dir=str(run_dir),
        )
    except MisconfigurationException as e:
        # Lightning's own checks (accelerator not present, conflicting flags) are config errors too.
        raise OtterConfigError(str(e).splitlines()[0], file=config_file(cfg), key="trainer") from None
    if trainer.is_global_zero and not resuming and not run_folder_free(run_dir):
        raise OtterError(f"{run_dir} exists already; a run folder is never overwritten")
    if resuming:
        trainer.ckpt_path = cfg.common.checkpoint_path
    return trainer

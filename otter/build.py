"""Build every training object from one config.

The public functions keep the names and call signatures the original Otter
projects use (``load_model_from_config``, ``build_dataset``, ``build_trainer``...).
"""

from __future__ import annotations

import random
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from .config import Config, find_config, load_config
from .errors import OtterConfigError, OtterError
from .registry import CALLBACKS, DATASETS, LOGGERS, MODELS, resolve
from .validate import Scope

__all__ = [
    "load_model_from_config",
    "load_project_config",
    "build_dataset",
    "build_callback",
    "build_logger",
    "build_trainer",
    "load_weights",
]

PathLike = Union[str, Path]


def _root(root: Optional[PathLike]) -> Path:
    return Path(root) if root is not None else Path.cwd()


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
    scope = Scope(modules=[m for m in modules if m is not None], strict=True)
    cfg = load_config(path, overrides, mode=mode, scope=scope)
    cfg.name = Path(str(cfg_name)).stem
    return cfg


def config_file(cfg: Config) -> Optional[str]:
    """The file a config was loaded from, for error messages."""
    return getattr(cfg, "__file__", None)


def _seed(cfg: Config) -> None:
    from lightning.pytorch import seed_everything

    if cfg.common.get("seed") is None:
        # Recorded in the saved config, so the run can be repeated.
        cfg.common.seed = random.randint(0, 2**31 - 1)
    seed_everything(int(cfg.common.seed), workers=True, verbose=False)


def _restore_source(cfg: Config, root: Path) -> Tuple[Path, Path]:
    """The run folder and checkpoint file that ``common.is_restore`` names.

    The runs searched are this config's, or those of ``common.restore_cfg`` (a finetune
    config starting from another config's run).
    """
    from .runinfo import find_run

    source = str(cfg.common.get("restore_cfg") or cfg.name)
    run_dir = find_run(root, source, str(cfg.common.get("restore_ind") or ""))
    ckpt_name = cfg.common.get("restore_ckpt") or "last.ckpt"
    ckpt = run_dir / "checkpoint" / ckpt_name
    if not ckpt.is_file():
        found = ", ".join(sorted(p.name for p in (run_dir / "checkpoint").glob("*.ckpt"))) or "none"
        raise OtterConfigError(f"no checkpoint {ckpt_name!r} in {ckpt.parent} (there: {found})", key="common.restore_ckpt")
    return run_dir, ckpt


def _read_checkpoint(path: Path) -> Dict[str, Any]:
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # Our own Lightning checkpoints may hold hyper-parameters that are not plain tensors.
        pass
    except Exception as e:
        raise OtterError(f"{path}: cannot read this checkpoint ({type(e).__name__}: {e}); is it complete?") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise OtterError(f"{path}: cannot read this checkpoint ({type(e).__name__}: {e}); is it complete?") from None


def load_weights(model: Any, path: PathLike, strict: bool = True) -> None:
    """Load a checkpoint's weights into ``model``, reporting exactly what does not match.

    Args:
        model: The module to load into.
        path: A Lightning checkpoint (``state_dict`` inside) or a plain state dict.
        strict: Missing or unexpected keys are errors; shape mismatches always are.

    Raises:
        OtterError: unreadable file, or keys/shapes that do not match, naming the file.
    """
    path = Path(path)
    ckpt = _read_checkpoint(path)
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise OtterError(f"{path}: not a checkpoint (no state_dict inside)")
    own = model.state_dict()
    shapes = [
        f"{k} {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and hasattr(v, "shape") and tuple(v.shape) != tuple(own[k].shape)
    ]
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    problems = []
    if shapes:
        problems.append(f"shape mismatch: {', '.join(shapes[:5])}{' ...' if len(shapes) > 5 else ''}")
    if strict and missing:
        problems.append(f"missing keys: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    if strict and unexpected:
        problems.append(f"unexpected keys: {', '.join(unexpected[:5])}{' ...' if len(unexpected) > 5 else ''}")
    if problems:
        hint = "" if not missing and not unexpected else "; set common.restore_strict: false to load what matches"
        raise OtterError(f"{path}: does not match {type(model).__name__}: {'; '.join(problems)}{hint}")
    model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=strict)


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
    from .runinfo import new_run_id

    root = _root(root)
    cfg = load_project_config(cfg_name, root, stem, [network, *modules], overrides)
    path = find_config(cfg_name, root, stem)
    ckpt = None
    try:
        if cfg.common.is_restore:
            run_dir, ckpt = _restore_source(cfg, root)
            if cfg.common.restore_all_states:
                if cfg.common.get("restore_cfg") not in (None, "", cfg.name):
                    raise OtterConfigError(
                        "restore_all_states continues a run in its own folder; it cannot take another config's run",
                        key="common.restore_all_states",
                    )
                cfg.name_ind = run_dir.name
                cfg.common.checkpoint_path = str(ckpt)
        if "name_ind" not in cfg:
            cfg.name_ind = new_run_id(root, cfg.name)
        _seed(cfg)
        model_cls = resolve(cfg.model.name, MODELS, network, *modules)
    except OtterConfigError as e:
        raise e.located(str(path)) from None
    try:
        model = model_cls(cfg=cfg)
    except OtterConfigError as e:
        # A model that finds its parts do not fit together names the key; add the file.
        raise e.located(str(path)) from None
    if ckpt is not None:
        load_weights(model, ckpt, strict=cfg.common.get("restore_strict", True))
    return model, cfg


def _dataset_options(cfg: Config, split: str) -> Dict[str, Any]:
    entry = cfg.dataset[f"{split}_options"]
    return {**(entry.get("options") or {}), **(cfg.get("global_settings") or {})}


def build_dataset(cfg: Config, ds: Optional[ModuleType] = None) -> Tuple[Any, Any]:
    """Build the train and valid DataLoaders from ``dataset`` and ``dataloader``.

    Dataset classes are looked up in ``DATASETS``, then in the module ``ds`` by class
    name; ``global_settings`` is merged into both datasets' options.

    Returns:
        ``(train_loader, valid_loader)``; ``valid_loader`` is ``None`` without ``dataset.valid_options``.
    """
    from torch.utils.data import DataLoader

    loaders = []
    for split in ("train", "valid"):
        entry = (cfg.get("dataset") or {}).get(f"{split}_options")
        if not entry:
            loaders.append(None)
            continue
        dataset_cls = resolve(entry["name"], DATASETS, ds)
        dataset = dataset_cls(**_dataset_options(cfg, split))
        options = dict((cfg.get("dataloader") or {}).get(f"{split}_options") or {})
        options.setdefault("batch_size", cfg.common.get("batch_size") or 1)
        loaders.append(DataLoader(dataset, **options))
    return loaders[0], loaders[1]


def _run_dir(cfg: Config) -> Path:
    if "root_dir" not in cfg:
        raise OtterError("cfg.root_dir is not set; call build_trainer(cfg, root=...) first")
    return Path(cfg.root_dir)


def build_callback(cfg: Config) -> List[Any]:
    """The ``callbacks`` section as Lightning callbacks, placed in the run folder.

    ``ModelCheckpoint`` writes to ``<run>/checkpoint`` and keeps ``last.ckpt`` unless
    told otherwise; ``CustomTQDMProgressBar(unit_scale=-1)`` counts ``common.batch_size`` images a batch.
    """
    ckpt_dir = _run_dir(cfg) / "checkpoint"
    callbacks = []
    for entry in cfg.get("callbacks") or []:
        options = dict(entry.get("options") or {})
        name = entry["name"]
        if name == "ModelCheckpoint":
            options.setdefault("dirpath", str(ckpt_dir))
            options.setdefault("save_last", True)
        if name == "CustomTQDMProgressBar" and options.get("unit_scale") == -1:
            options["unit_scale"] = cfg.common.get("batch_size") or 1
        callbacks.append(CALLBACKS.get(name)(**options))
    if not any(type(c).__name__ == "ModelCheckpoint" for c in callbacks):
        callbacks.append(CALLBACKS.get("ModelCheckpoint")(dirpath=str(ckpt_dir), save_last=True))
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
            loggers.append(LOGGERS.get(entry["name"])(**options))
        except ModuleNotFoundError as e:
            # Lightning's loggers for hosted services need their client package.
            raise OtterConfigError(
                f"{entry['name']} needs a package that is not installed ({str(e).splitlines()[0]}); pip install it",
                file=config_file(cfg),
                key="logger.name",
            ) from None
    return loggers if isinstance(section, list) else loggers[0]


def build_trainer(cfg: Config, root: Optional[PathLike] = None) -> Any:
    """Build the Lightning ``Trainer`` and the run folder ``<root>/runs/<cfg.name>/<cfg.name_ind>/``.

    Everything is built before the folder is made, so a bad trainer setting leaves no folder.
    Only rank 0 writes. A run restored with ``restore_all_states`` continues in its own folder.

    Returns:
        A ``lightning.Trainer``; with ``restore_all_states`` its ``ckpt_path`` is set, so
        ``trainer.fit(model, ...)`` resumes optimizer, scheduler, epoch and step.
    """
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from lightning.pytorch import Trainer

    from .callbacks import LastOnInterrupt, RunRecorder, _config_header
    from .runinfo import runs_root, write_run_files

    if "name" not in cfg or "name_ind" not in cfg:
        raise OtterError("build_trainer needs a config from load_model_from_config (cfg.name and cfg.name_ind)")
    run_dir = runs_root(_root(root), cfg.name) / str(cfg.name_ind)
    resuming = bool(cfg.common.get("is_restore") and cfg.common.get("restore_all_states"))
    cfg.root_dir = str(run_dir)

    callbacks = build_callback(cfg)
    # Ctrl-C, SIGTERM or a crash still leaves a last.ckpt to resume from.
    callbacks.append(LastOnInterrupt(run_dir / "checkpoint"))
    callbacks.append(RunRecorder(cfg, run_dir, rewrite_config=not resuming))
    try:
        trainer = Trainer(
            **(cfg.get("trainer") or {}),
            logger=build_logger(cfg),
            callbacks=callbacks,
            default_root_dir=str(run_dir),
        )
    except MisconfigurationException as e:
        # Lightning's own checks (accelerator not present, conflicting flags) are config errors too.
        raise OtterConfigError(str(e).splitlines()[0], file=config_file(cfg), key="trainer") from None
    if trainer.is_global_zero:
        if not resuming:
            try:
                run_dir.mkdir(parents=True, exist_ok=False)
            except FileExistsError:
                raise OtterError(f"{run_dir} exists already; a run folder is never overwritten") from None
            write_run_files(run_dir, cfg, header=_config_header(cfg))
    if resuming:
        trainer.ckpt_path = cfg.common.checkpoint_path
    return trainer

"""Build, in a throwaway folder, what a config names and can be built without side effects.

The optimizer, LR scheduler, callbacks, loggers, DataLoaders and Trainer are
made with the config's options in a temporary folder that is removed
afterwards, so whatever their constructors refuse (``lr: -1``, ``mode: maxx``,
``precision: '17'``, ``num_workers: -1``, flags that conflict) is reported as one
``<file>: <key.path>: <message>`` line before anything runs, by ``check`` and by
``train``'s set-up alike. The model and the datasets are not built here: they may
read data or weights.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from .errors import OtterConfigError
from .registry import CALLBACKS, LOGGERS, LR_SCHEDULERS, OPTIMIZERS, Registry

__all__ = ["probe_constructors", "resolve_or_raise"]


def resolve_or_raise(name: str, registry: Registry, file: Optional[str], key: str) -> Any:
    """``registry.get(name)``, its error placed at ``file`` and ``key``."""
    try:
        return registry.get(name)
    except OtterConfigError as e:
        raise e.located(file, key) from None


def _options(entry: Mapping[str, Any]) -> Dict[str, Any]:
    return dict(entry.get("options") or {})



# Scheduler options that -1 derives from the run (see otter.module); a stand-in here.
_DERIVED_STEPS = {"total_iters": 100, "total_steps": 100, "T_max": 100, "warmup_iters": 10, "warmup_steps": 10, "max_seconds": 0}
# How torch's optimizers name their options in their messages.
_MESSAGE_WORDS = {"learning rate": "lr", "beta parameter": "betas", "epsilon": "eps", "momentum": "momentum"}
# Loggers whose writer is a local file (made lazily with the logger's **kwargs).
_LOCAL_EXPERIMENT = ("TensorBoardLogger", "CSVLogger")
# Accelerators that need hardware: on a machine without it, check the rest on the CPU.
_HARDWARE = ("gpu", "cuda", "mps", "tpu", "hpu")


def _refused(name: str, error: BaseException, options: Mapping[str, Any], file: Optional[str], key: str) -> OtterConfigError:
    """A constructor's refusal as one line, placed at the option its message names."""
    message = (str(error).strip().splitlines() or [type(error).__name__])[0]
    import re

    lowered = message.lower()
    found = {k: re.search(rf"(?<![a-z0-9_]){re.escape(str(k).lower())}(?![a-z0-9_])", lowered) for k in options}
    # The option a message names first is the one it is about ("persistent_workers needs num_workers > 0").
    named = sorted((k for k, m in found.items() if m), key=lambda k: found[k].start())
    named += [opt for word, opt in _MESSAGE_WORDS.items() if word in lowered and opt in options]
    where = f"{key}.{named[0]}" if named else key
    return OtterConfigError(f"{name} refuses this: {message}", file, where)


def _quiet() -> Any:
    """Silence Lightning's info lines and warnings while probing: the real run prints them."""
    import contextlib
    import logging
    import warnings

    @contextlib.contextmanager
    def quiet() -> Any:
        loggers = [logging.getLogger(n) for n in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning")]
        levels = [lg.level for lg in loggers]
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)

    return quiet()


def probe_constructors(data: Mapping[str, Any], file: Optional[str], report: Any) -> None:
    """Build the optimizer, scheduler, callbacks, loggers, DataLoaders and Trainer the config names.

    Stand-ins only for what the run supplies: a one-parameter model, a two-item
    dataset, derived step counts. A Trainer for hardware this machine lacks is
    built on the CPU instead and noted in ``report.unchecked``.

    Args:
        data: The merged config (a plain mapping).
        file: The config file, for the error.
        report: Has an ``unchecked`` list (:class:`otter.validate.Report`).

    Raises:
        OtterConfigError: the first refusal, placed at the option its message names.
    """
    import tempfile

    import torch

    with tempfile.TemporaryDirectory(prefix="otter-check-") as tmp, _quiet():
        param = torch.nn.Parameter(torch.zeros(1))
        entry = data["optimizer"]
        options = _options(entry)
        try:
            optimizer = resolve_or_raise(entry["name"], OPTIMIZERS, file, "optimizer.name")([param], **options)
        except OtterConfigError:
            raise
        except Exception as e:
            raise _refused(entry["name"], e, options, file, "optimizer.options") from None

        entry = data.get("lr_scheduler")
        if entry:
            options = {k: (_DERIVED_STEPS[k] if v == -1 and k in _DERIVED_STEPS else v) for k, v in _options(entry).items()}
            try:
                resolve_or_raise(entry["name"], LR_SCHEDULERS, file, "lr_scheduler.name")(optimizer, **options)
            except OtterConfigError:
                raise
            except Exception as e:
                raise _refused(entry["name"], e, options, file, "lr_scheduler.options") from None

        callbacks = _probe_callbacks(data, file, tmp)
        _probe_loggers(data, file, tmp)
        _probe_dataloaders(data, file)
        _probe_trainer(data, file, tmp, callbacks, report)


def _probe_callbacks(data: Mapping[str, Any], file: Optional[str], tmp: str) -> List[Any]:
    built = []
    batch = (data.get("common") or {}).get("batch_size") or 1
    for i, entry in enumerate(data.get("callbacks") or []):
        options = _options(entry)
        if entry["name"] == "ModelCheckpoint":
            # Always inside the throwaway folder: probing writes nowhere else.
            options["dirpath"] = f"{tmp}/checkpoint"
        if entry["name"] == "CustomTQDMProgressBar" and options.get("unit_scale") == -1:
            options["unit_scale"] = batch
        try:
            built.append(resolve_or_raise(entry["name"], CALLBACKS, file, f"callbacks.{i}.name")(**options))
        except OtterConfigError:
            raise
        except Exception as e:
            raise _refused(entry["name"], e, options, file, f"callbacks.{i}.options") from None
    return built


def _probe_loggers(data: Mapping[str, Any], file: Optional[str], tmp: str) -> None:
    section = data.get("logger")
    if not section:
        return
    entries = section if isinstance(section, list) else [section]
    for i, entry in enumerate(entries):
        key = f"logger.{i}" if isinstance(section, list) else "logger"
        options = _options(entry)
        # Always inside the throwaway folder: probing writes nowhere else.
        options["save_dir"] = f"{tmp}/logs"
        try:
            logger = resolve_or_raise(entry["name"], LOGGERS, file, f"{key}.name")(**options)
            if entry["name"] in _LOCAL_EXPERIMENT:
                # Their **kwargs reach the writer only when it is made: make it, in the throwaway folder.
                logger.experiment  # noqa: B018
        except OtterConfigError:
            raise
        except ModuleNotFoundError as e:
            raise OtterConfigError(
                f"{entry['name']} needs a package that is not installed ({str(e).splitlines()[0]}); pip install it", file, f"{key}.name"
            ) from None
        except Exception as e:
            raise _refused(entry["name"], e, options, file, f"{key}.options") from None


def _probe_dataloaders(data: Mapping[str, Any], file: Optional[str]) -> None:
    from torch.utils.data import DataLoader

    batch = (data.get("common") or {}).get("batch_size") or 1
    for split, options in (data.get("dataloader") or {}).items():
        if not options:
            continue
        options = {"batch_size": batch, **dict(options)}
        if options["batch_size"] == -1:  # derived from common.batch_size when the config is loaded
            options["batch_size"] = batch
        try:
            DataLoader([0, 1], **options)
        except Exception as e:
            raise _refused("DataLoader", e, options, file, f"dataloader.{split}") from None


def _probe_trainer(data: Mapping[str, Any], file: Optional[str], tmp: str, callbacks: List[Any], report: Any) -> None:
    from lightning.pytorch import Trainer

    options = dict(data.get("trainer") or {})
    if not any(type(c).__name__ == "ModelCheckpoint" for c in callbacks):
        callbacks = [*callbacks, CALLBACKS.get("ModelCheckpoint")(dirpath=f"{tmp}/checkpoint")]

    def build(opts: Mapping[str, Any]) -> None:
        Trainer(**opts, logger=False, callbacks=list(callbacks), default_root_dir=tmp)

    try:
        build(options)
        return
    except Exception as e:
        first = e
    accelerator = options.get("accelerator")
    if isinstance(accelerator, str) and accelerator.lower() in _HARDWARE:
        # The hardware is missing here, not the config wrong: check the rest on the CPU.
        on_cpu = {**options, "accelerator": "cpu", "devices": 1}
        try:
            build(on_cpu)
        except Exception as e:
            raise _refused("Trainer", e, options, file, "trainer") from None
        report.unchecked.append(
            f"trainer.accelerator: {accelerator!r} is not available on this machine "
            f"({(str(first).strip().splitlines() or [''])[0]}); the rest of trainer was checked on the CPU"
        )
        return
    raise _refused("Trainer", first, options, file, "trainer") from None

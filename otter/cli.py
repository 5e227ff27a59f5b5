"""The ``otter`` command: check a config, show what a run records.

Errors caused by the user's input print one line, ``<file>: <key.path>: <message>``,
and exit with 2; ``--debug`` or ``OTTER_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, List, Mapping, Optional, Sequence

from .errors import OtterError

EXIT_USER_ERROR = 2


def _debug(argv: Sequence[str]) -> bool:
    return "--debug" in argv or os.environ.get("OTTER_DEBUG", "") not in ("", "0")


def _show_warning(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    from .config import OtterConfigWarning

    if issubclass(category, OtterConfigWarning):
        print(f"warning: {message}", file=sys.stderr)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


def run_guarded(fn: Callable[[], Any], argv: Sequence[str]) -> int:
    """Run ``fn`` and return its exit code.

    0 finished; 2 a config or data error (one line on stderr); 1 a crash (traceback)
    or a full disk (one line); 130 Ctrl-C and 143 SIGTERM (a training run writes
    ``last.ckpt`` first; see :mod:`otter.stop`).
    """
    warnings.showwarning = _show_warning
    try:
        result = fn()
    except OtterError as e:
        if _debug(argv):
            raise
        print(str(e).splitlines()[0] if str(e) else type(e).__name__, file=sys.stderr)
        return getattr(e, "exit_code", EXIT_USER_ERROR)
    except KeyboardInterrupt:
        # Outside training (which stops at a batch boundary itself): nothing to save.
        print("interrupted", file=sys.stderr)
        return 130
    except SystemExit as e:
        # Training stopped by SIGTERM or Ctrl-C: otter.stop set the code (143, 130).
        if isinstance(e.code, int):
            return e.code
        from lightning.pytorch.utilities.exceptions import SIGTERMException

        if isinstance(e, SIGTERMException):
            return 143
        raise
    return result if isinstance(result, int) else 0


def cmd_check(args: argparse.Namespace) -> int:
    from .config import check_config

    path = Path(args.config)
    report = check_config(path, args.overrides)
    for message in report.warnings:
        print(f"warning: {message}", file=sys.stderr)
    for message in report.unchecked:
        print(f"not checked: {message}")
    print(f"{path}: OK")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import json

    from .runinfo import gpu_cuda_versions, package_versions, system_info

    if args.run_dir:
        run = Path(args.run_dir)
        files = ["SystemInfos.json", "GPU-Cuda-Versions.json", "PackageVersions.json"]
        missing = [f for f in files if not (run / f).is_file()]
        if missing:
            raise OtterError(f"{run}: not a run folder (missing {', '.join(missing)})")
        info = {f[: -len('.json')]: json.loads((run / f).read_text()) for f in files}
    else:
        wanted = ("otter", "torch", "torchvision", "lightning", "timm", "onnx", "onnxruntime", "albumentations", "torchmetrics", "numpy")
        versions = package_versions()
        lowered = {k.lower(): v for k, v in versions.items()}
        info = {
            "SystemInfos": system_info(),
            "GPU-Cuda-Versions": gpu_cuda_versions(),
            "PackageVersions": {k: lowered.get(k) for k in wanted},
        }
    print(json.dumps(info, indent=2, default=str))
    return 0


def _template_dir() -> Any:
    from importlib.resources import files

    return files("otter") / "_template"


def _template_tasks() -> List[str]:
    import json

    return list(json.loads((_template_dir() / "cookiecutter.json").read_text())["task"])


def _load_hook(name: str) -> Any:
    """One of the template's hooks as a module, so `otter new` refuses exactly what cookiecutter refuses."""
    import importlib.util
    from importlib.resources import as_file

    with as_file(_template_dir() / "hooks" / f"{name}.py") as path:
        spec = importlib.util.spec_from_file_location(f"_otter_template_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


def _available_tasks() -> List[str]:
    """The template's tasks whose folder meets the contract in ``_tasks/TASKS.md``."""
    from importlib.resources import as_file

    with as_file(_template_dir() / "{{cookiecutter.project_name}}") as base:
        return _load_hook("post_gen_project").available_tasks(Path(base) / "_tasks", Path(base))


def cmd_new(args: argparse.Namespace) -> int:
    from importlib.resources import as_file

    from cookiecutter.exceptions import CookiecutterException, OutputDirExistsException
    from cookiecutter.main import cookiecutter

    problem = _load_hook("pre_gen_project").problem(args.name)
    available = _available_tasks()
    if not problem and args.task not in available:
        problem = f"task {args.task!r} is not available yet; available: {', '.join(available)}"
    if problem:
        raise OtterError(problem)
    target = Path(args.output_dir) / args.name
    if target.exists():
        raise OtterError(f"{target} exists already; choose another name or --output-dir")
    with as_file(_template_dir()) as template:
        try:
            out = cookiecutter(
                str(template),
                no_input=True,
                extra_context={"project_name": args.name, "task": args.task},
                output_dir=str(args.output_dir),
            )
        except OutputDirExistsException:
            raise OtterError(f"{target} exists already; choose another name or --output-dir") from None
        except CookiecutterException as e:
            raise OtterError(f"the template failed: {str(e).splitlines()[0]}") from None
    print(f"created {out}")
    print(f"next: python -m {args.name}.model train default   (from {Path(args.output_dir).resolve()})")
    return 0


def _command(sub: Any, name: str, func: Callable[..., Any], help: Optional[str], description: Optional[str]) -> Any:
    """A sub-command that runs ``func``; ``--debug`` is accepted after it too (``otter check x.yaml --debug``)."""
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    cmd = sub.add_parser(name, parents=[debug], help=help, description=description)
    cmd.set_defaults(func=func)
    return cmd


def build_parser() -> argparse.ArgumentParser:
    from .version import __version__

    parser = argparse.ArgumentParser(
        prog="otter",
        description="Otter: one YAML config to a Lightning training run, with verified ONNX export.",
        epilog="Errors print one line '<file>: <key.path>: <message>' and exit 2; --debug shows the traceback.",
    )
    parser.add_argument("--version", action="version", version=f"otter {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks (same as OTTER_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = _command(
        sub,
        "check",
        cmd_check,
        help="validate a config file",
        description="Validate a config: keys, types, registry names and options, then build the optimizer, "
        "scheduler, callbacks, loggers, DataLoaders and Trainer in a throwaway folder, so whatever their "
        "constructors refuse is reported too. Names of a project's own models and datasets are reported as not "
        "checked here; `python -m MyProj.model check` checks them too. Problems in the onnx: section are warnings. "
        "A config that passed, unchanged (same packages, otter and machine), is answered from a cache in "
        "~/.cache/otter (OTTER_CACHE_DIR; OTTER_NO_CACHE=1 checks in full).",
    )
    check.add_argument("config", help="path to the YAML config")
    check.add_argument("overrides", nargs="*", metavar="key.path=value", help="overrides, values parsed as YAML")

    info = _command(
        sub,
        "info",
        cmd_info,
        help="print versions and devices",
        description="Print the package versions, devices and system info a run folder records "
        "(of this machine, or those recorded in RUN_DIR).",
    )
    info.add_argument("run_dir", nargs="?", help="a run folder runs/<cfg_name>/<run_id>")

    new = _command(
        sub,
        "new",
        cmd_new,
        help="scaffold a training project from the built-in template",
        description="Create NAME/ (config/, model/, docker/, tests, README) for a task, offline. "
        "Same as `cookiecutter <otter repo> --directory template`.",
    )
    new.add_argument("name", help="project name: a Python identifier, it becomes the import root (e.g. MyProj)")
    new.add_argument("--task", choices=_template_tasks(), default="classifier", help="what the project trains (default: classifier)")
    new.add_argument("--output-dir", "--output_dir", default=".", help="where to create NAME/ (default: here)")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USER_ERROR
    return run_guarded(lambda: args.func(args), argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


# --------------------------------------------------------------------------- #
# A project's own command line: python -m MyProj.model {train,to_onnx,check} ...
# --------------------------------------------------------------------------- #


def project_main(
    prog: str,
    commands: Mapping[str, Callable[..., Any]],
    argv: Optional[List[str]] = None,
) -> int:
    """Run a project's command, e.g. ``python -m MyProj.model train default key.path=value``.

    ``--cfg_name NAME`` works as well as the positional form. Each command is called
    as ``fn(cfg_name, *overrides)``. User errors print one line and return 2.

    Args:
        prog: The program name shown in ``--help``.
        commands: Command name to function, e.g. ``{"train": train, "to_onnx": to_onnx, "check": check}``.
        argv: Arguments (default: ``sys.argv[1:]``).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Train, export or check a config of this project. Configs live in config/<cfg_name>.yaml.",
        epilog="Errors print one line '<file>: <key.path>: <message>' and exit 2; --debug shows the traceback.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks (same as OTTER_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, fn in commands.items():
        doc = (fn.__doc__ or "").strip().splitlines()
        cmd = _command(sub, name, fn, doc[0] if doc else None, doc[0] if doc else None)
        cmd.add_argument("cfg_name", nargs="?", help="config name (a file in config/, without .yaml)")
        cmd.add_argument("overrides", nargs="*", metavar="key.path=value", help="overrides, values parsed as YAML")
        cmd.add_argument("--cfg_name", "--cfg-name", dest="cfg_flag", metavar="NAME", help="the config name, as a flag")
    args, extra = parser.parse_known_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USER_ERROR
    overrides = list(args.overrides)
    cfg_name = args.cfg_flag
    if cfg_name is None:
        cfg_name = args.cfg_name
    elif args.cfg_name is not None:
        # With --cfg_name given, a first positional is an override too.
        overrides.insert(0, args.cfg_name)
    unknown = [a for a in extra if "=" not in a or a.startswith("-")]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    overrides += extra
    if not cfg_name:
        parser.error("a config name is needed: python -m ... COMMAND <cfg_name> [key.path=value ...]")
    return run_guarded(lambda: args.func(cfg_name, *overrides), argv)

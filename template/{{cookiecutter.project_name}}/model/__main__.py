"""Command line of this project, run from the folder that holds it:

    python -m <Project>.model train   <cfg_name> [key.path=value ...]
    python -m <Project>.model to_onnx <cfg_name> [key.path=value ...]
    python -m <Project>.model check   <cfg_name> [key.path=value ...]
"""

import sys

from otter.cli import project_main


def train(cfg_name: str, *overrides: str) -> str:
    """Train a config; the run goes to runs/<cfg_name>/<run_id>/."""
    from .trainer import train as run

    return run(cfg_name, *overrides)


def to_onnx(cfg_name: str, *overrides: str) -> str:
    """Export the latest run's best checkpoint to a verified ONNX file in its export/."""
    from .to_onnx import to_onnx as run

    return run(cfg_name, *overrides)


def check(cfg_name: str, *overrides: str) -> str:
    """Validate a config, this project's model and dataset names included."""
    from .trainer import check as run

    return run(cfg_name, *overrides)


if __name__ == "__main__":
    sys.exit(project_main(f"python -m {__package__}", {"train": train, "to_onnx": to_onnx, "check": check}))

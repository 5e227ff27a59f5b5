"""Refuse a project name that cannot be the import root, before anything is written.

Whether the task is available is decided by the post-generation hook, which sees
the task folders (see ``_tasks/TASKS.md``).
"""

import keyword
import sys

NAME = "{{ cookiecutter.project_name }}"
# Modules a project folder would shadow when its parent folder is on sys.path.
TAKEN = {
    "otter", "torch", "torchvision", "lightning", "pytorch_lightning", "timm", "onnx", "onnxruntime",
    "albumentations", "torchmetrics", "numpy", "cv2", "PIL", "yaml", "fire", "cookiecutter", "matplotlib",
    "sklearn", "pydantic", "tensorboard", "test", "tests", "model", "config", "docker", "runs",
}


def problem(name: str) -> str:
    if not name.isidentifier():
        return f"project_name {name!r} is not a Python identifier (letters, digits and _, not starting with a digit), e.g. MyProj"
    if keyword.iskeyword(name):
        return f"project_name {name!r} is a Python keyword; choose another, e.g. MyProj"
    if name in TAKEN or name in sys.stdlib_module_names or name.lower() in {t.lower() for t in TAKEN}:
        return f"project_name {name!r} would shadow the module {name!r}; choose another, e.g. MyProj"
    return ""


def main() -> int:
    message = problem(NAME)
    if message:
        print(f"ERROR: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

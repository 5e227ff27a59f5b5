import subprocess
import sys


def run_py(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)


def test_import_otter_leaves_torch_and_lightning_out():
    out = run_py(
        "import sys, otter\n"
        "heavy = [m for m in ('torch', 'lightning', 'onnx', 'onnxruntime', 'cv2', 'timm', 'yaml', 'pydantic') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    assert out.stdout.strip() == ""


def test_lazy_names_resolve_on_first_use():
    out = run_py(
        "import sys, otter\n"
        "assert 'lightning' not in sys.modules\n"
        "otter.BaseMixin\n"
        "print('lightning' in sys.modules, 'BaseMixin' in dir(otter))"
    )
    assert out.stdout.split() == ["True", "True"]


def test_unknown_attribute_is_an_attribute_error():
    out = subprocess.run([sys.executable, "-c", "import otter; otter.nope"], capture_output=True, text=True)
    assert out.returncode == 1
    assert "has no attribute 'nope'" in out.stderr


def test_otter_help_does_not_import_torch():
    out = run_py(
        "import sys\n"
        "from otter.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit as e:\n    code = e.code\n"
        "print(code, 'torch' in sys.modules)"
    )
    assert out.stdout.split()[-2:] == ["0", "False"]
    assert "check" in out.stdout and "info" in out.stdout

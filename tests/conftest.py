import os
import sys
import tempfile
from pathlib import Path

import pytest

# Offline machine: never let a library reach for the hub or check for updates.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
# otter check's cache (otter.signatures) of a test session stays out of the user's home.
os.environ.setdefault("OTTER_CACHE_DIR", tempfile.mkdtemp(prefix="otter-test-cache-"))

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))


def pytest_runtest_setup(item):
    """``@pytest.mark.gpu`` tests run where CUDA is, and are a skip with its reason elsewhere."""
    if item.get_closest_marker("gpu") is not None:
        import torch

        if not torch.cuda.is_available():
            pytest.skip("needs a CUDA device: torch.cuda.is_available() is False on this machine")


@pytest.fixture(autouse=True)
def _fresh_run_id_env(monkeypatch):
    # A run id chosen by one test must not leak into the next through the environment.
    monkeypatch.delenv("OTTER_RUN_ID", raising=False)
    monkeypatch.delenv("OTTER_RUN_PID", raising=False)


@pytest.fixture
def project(tmp_path):
    """A project folder with config/tiny.yaml."""
    import tinyproj

    return tinyproj.make_project(tmp_path / "proj")


@pytest.fixture
def seed_config():
    return TESTS / "data" / "lcnet050_cosface_f256_r128_squeeze_lbn_imagenet.yaml"

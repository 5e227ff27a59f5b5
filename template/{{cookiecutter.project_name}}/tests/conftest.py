"""Make the project importable by its name, offline, wherever pytest is started."""

import os
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
# The folder that holds the project: `import <Project>` works from there.
sys.path.insert(0, str(PROJECT_DIR.parent))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import os
from pathlib import Path

import pytest

# napari needs an OpenGL context: Xvfb (started by pytest-xvfb) with xcb, not
# Qt's "offscreen" platform, which cannot create layers.
os.environ.setdefault("QT_QPA_PLATFORM", "xcb")

#: Real data with expert ground truth, beside the repository (never copied in).
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder {SHARED_DATA} is absent (CI has it)")
    return SHARED_DATA

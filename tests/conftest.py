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


@pytest.fixture(scope="session")
def tumour_crop():
    """The real MR tumour volume around the tumour, background clicks all over
    and one short stroke across the tumour: ``(image, truth 1/2, seeds, spacing)``."""
    if not (SHARED_DATA / "mr_tumour").is_dir():
        pytest.skip(f"{SHARED_DATA / 'mr_tumour'} (the real MR tumour volume) is absent")
    nrrd = pytest.importorskip("nrrd")
    import numpy as np
    from scipy import ndimage as ndi

    image, _ = nrrd.read(str(SHARED_DATA / "mr_tumour" / "brain2_image.nrrd"))
    label, _ = nrrd.read(str(SHARED_DATA / "mr_tumour" / "brain2_label.nrrd"))
    image = np.ascontiguousarray(image.transpose(2, 1, 0)[6:13, 96:224, 128:256], np.float32)
    truth = (1 + (label.transpose(2, 1, 0)[6:13, 96:224, 128:256] > 0)).astype(np.uint8)
    seeds = np.zeros(truth.shape, np.uint8)
    seeds[:, ::24, ::24] = 1
    z = int((truth == 2).sum(axis=(1, 2)).argmax())
    core = ndi.binary_erosion(truth[z] == 2, iterations=1)
    rows = np.flatnonzero(core.any(axis=1))
    row = rows[rows.size // 2]
    seeds[z, row][core[row]] = 2
    seeds[(seeds == 1) & (truth == 2)] = 0
    return image, truth, seeds, (6.5, 0.78125, 0.78125)


"""The files in sample_data/ are what its script writes from the package's generators."""

import runpy
from pathlib import Path

import numpy as np
import tifffile
from skimage.io import imread

from napari_seglab._sample_data import phantom_2d, phantom_3d

FOLDER = Path(__file__).resolve().parents[1] / "sample_data"


def test_script_regenerates_the_committed_files(tmp_path):
    script = runpy.run_path(str(FOLDER / "make_sample_data.py"))
    written = script["write"](tmp_path)
    assert {p.name for p in written} == {
        "phantom_2d.png", "phantom_2d_truth.png", "phantom_3d.tif", "phantom_3d_truth.tif"}
    for path in written:
        read = imread if path.suffix == ".png" else tifffile.imread
        np.testing.assert_array_equal(read(path), read(FOLDER / path.name), path.name)
    # The truth files hold the generators' ground truth.
    np.testing.assert_array_equal(imread(FOLDER / "phantom_2d_truth.png"), phantom_2d()[1][0])
    np.testing.assert_array_equal(tifffile.imread(FOLDER / "phantom_3d_truth.tif"),
                                  phantom_3d()[1][0])
    with tifffile.TiffFile(FOLDER / "phantom_3d.tif") as tif:
        assert tif.imagej_metadata["spacing"] == 2.0

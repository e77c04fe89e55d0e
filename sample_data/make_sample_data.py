"""Write the sample images as files, to open with napari's File > Open.

The plugin's File > Open Sample entries generate the same phantoms on the
fly (``napari_seglab._sample_data``); these files are for people who want
to try the "open a file" path, or use the data outside napari.

Run from anywhere::

    python sample_data/make_sample_data.py [output_folder]

It writes, next to this script by default:

* ``phantom_2d.png`` / ``phantom_2d_truth.png`` — 256×256 MR-like slice
  (8-bit) and its ground truth (0 background, 1 tissue, 2 fluid).
* ``phantom_3d.tif`` / ``phantom_3d_truth.tif`` — 48×160×160 volume
  (8-bit, 2 mm slices of 1 mm pixels, recorded in the ImageJ metadata).

The ground-truth files open as image layers; right-click the layer and
choose "Convert to labels" to evaluate against them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import tifffile
from skimage.io import imsave

from napari_seglab._sample_data import PHANTOM_3D_SPACING, phantom_2d, phantom_3d


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Scale the phantom's intensities (about -0.2..1.2) to 0..255."""
    lo, hi = np.percentile(image, [0.1, 99.9])
    return np.clip((image - lo) / (hi - lo) * 255 + 0.5, 0, 255).astype(np.uint8)


def write(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (image, *_), (truth, *_), _ = phantom_2d()
    written = [folder / "phantom_2d.png", folder / "phantom_2d_truth.png"]
    imsave(written[0], to_uint8(image), check_contrast=False)
    imsave(written[1], truth.astype(np.uint8), check_contrast=False)

    (volume, *_), (truth3, *_), _ = phantom_3d()
    z, y, x = PHANTOM_3D_SPACING
    for name, data in (("phantom_3d.tif", to_uint8(volume)),
                       ("phantom_3d_truth.tif", truth3.astype(np.uint8))):
        path = folder / name
        tifffile.imwrite(path, data, imagej=True, resolution=(1 / x, 1 / y),
                         metadata={"spacing": z, "unit": "mm", "axes": "ZYX"},
                         compression="zlib")
        written.append(path)
    return written


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    for path in write(out):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")

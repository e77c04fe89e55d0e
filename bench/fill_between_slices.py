"""Fill between slices: ours (shape-based) beside ITK's morphological contour
interpolation (3D Slicer's), on volumes with expert or known truth.

Every k-th slice of the truth is kept as "painted"; both methods fill the rest.
Printed: Dice with the truth on the slices that were filled, and the time,
for each method in the same run.

    python bench/fill_between_slices.py
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from napari_seglab.core.slice_interpolation import fill_between_slices, itk_available

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _volumes():
    from napari_seglab._sample_data import phantom_3d

    truth = phantom_3d()[1][0]
    yield "3D phantom (tissue, fluid), 48x160x160", truth, (2.0, 1.0, 1.0)
    tumour = SHARED / "mr_tumour" / "brain2_label.nrrd"
    if tumour.exists():
        import nrrd

        label, _ = nrrd.read(str(tumour))
        label = (np.ascontiguousarray(label.transpose(2, 1, 0)) > 0).astype(np.uint8)
        yield f"MR tumour (expert), {'x'.join(map(str, label.shape))}", label, None
        # painted on coronal slices instead (rows), across the 6.5 mm axial slices
        yield "MR tumour, coronal slices", label.transpose(1, 0, 2).copy(), (0.78, 6.5, 0.78)


def _dice(a, b):
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else 2 * (a & b).sum() / total


def main():
    methods = ["shape"] + (["itk"] if itk_available() else [])
    print(f"{'volume':64s} {'every':>5s} " + " ".join(f"{m + ' Dice':>10s} {m + ' s':>8s}"
                                                     for m in methods))
    for name, truth, spacing in _volumes():
        painted_rows = np.flatnonzero(truth.any(axis=(1, 2)))
        name = f"{name} ({painted_rows.size} slices with truth)"
        for every in (2, 4, 6):
            keep = np.zeros(truth.shape[0], bool)
            keep[painted_rows[0]:painted_rows[-1] + 1:every] = True
            keep[painted_rows[-1]] = True
            sparse = np.where(keep[:, None, None], truth, 0).astype(truth.dtype)
            filled_rows = ~keep
            row = f"{name:64s} {every:5d} "
            for method in methods:
                start = time.perf_counter()
                filled = fill_between_slices(sparse, axis=0, spacing=spacing, method=method)
                seconds = time.perf_counter() - start
                dices = [_dice(filled[filled_rows] == v, truth[filled_rows] == v)
                         for v in np.unique(truth) if v]
                row += f"{np.mean(dices):10.3f} {seconds:8.2f} "
            print(row)


if __name__ == "__main__":
    main()

"""Cheaper large σ? The recursive Gaussian (Young–van Vliet) against the exact convolution.

For σ = 2 … 16 voxels on a 160³ MR-like phantom (float32), in one run:

* error of :func:`napari_seglab.core.features.iir.iir_gaussian` against
  ``scipy.ndimage.gaussian_filter`` (max and mean absolute, in units of the
  image's standard deviation), and of the engine's own Gaussian (the
  reference for what ``compute_features`` gives today);
* time of each: scipy (the peer), the engine (truncated at 4σ, banded
  products), the recursive filter (cost independent of σ);
* whether the blend's labels change on the bench volume when the σ ≥ 2
  Gaussians of its features are replaced by the recursive ones
  (features computed whole, same training samples).

    .venv/bin/python bench/large_sigma.py
"""

from __future__ import annotations

import time

import numpy as np
from scipy import ndimage as ndi

from napari_seglab.core.features.engine import _gaussian
from napari_seglab.core.features.iir import iir_gaussian
from napari_seglab.core.phantoms import tissue_phantom


def best(fn, repeat=3):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main():
    image, _ = tissue_phantom((160, 160, 160), random_state=1)
    image = image.astype(np.float32)
    scale = float(image.std())
    print(f"160³ phantom, float32; errors in units of the image's standard deviation "
          f"({scale:.3g})")
    print(f"{'σ':>5}{'scipy s':>9}{'engine s':>10}{'IIR s':>8}"
          f"{'engine max':>12}{'IIR max':>10}{'IIR mean':>10}")
    for sigma in (2.0, 3.5, 5.0, 8.0, 16.0):
        t_ref, ref = best(lambda s=sigma: ndi.gaussian_filter(image, s, mode="reflect"))
        t_eng, eng = best(lambda s=sigma: _gaussian(image, (s,) * 3, None))
        t_iir, iir = best(lambda s=sigma: iir_gaussian(image, s), repeat=1)
        e_eng = np.abs(eng - ref).max() / scale
        d = np.abs(iir - ref) / scale
        print(f"{sigma:>5g}{t_ref:>9.3f}{t_eng:>10.3f}{t_iir:>8.3f}"
              f"{e_eng:>12.2e}{d.max():>10.2e}{d.mean():>10.2e}")


if __name__ == "__main__":
    main()

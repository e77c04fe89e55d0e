"""Regenerate ``sample_data/ct_phantom/``: the CT phantom DICOM series and its truth.

    .venv/bin/python sample_data/make_ct_phantom.py

Writes ``ct_phantom/dicom/CT0001.dcm`` ... (one file per slice) and
``ct_phantom/truth.nii.gz`` (0 air, 1 fat, 2 soft tissue, 3 bone, with the
series' spacing and origin). Deterministic: a rerun gives the same bytes.
"""

from pathlib import Path

from napari_seglab._ct_sample import CT_ORIGIN, CT_SPACING, ct_phantom, write_ct_series
from napari_seglab.io import write_labels

HERE = Path(__file__).resolve().parent / "ct_phantom"

if __name__ == "__main__":
    files = write_ct_series(HERE / "dicom")
    _, truth = ct_phantom()
    write_labels(HERE / "truth.nii.gz", truth, spacing=CT_SPACING, origin=CT_ORIGIN)
    print(f"wrote {len(files)} slices and truth.nii.gz to {HERE}")

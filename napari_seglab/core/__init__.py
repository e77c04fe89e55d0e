"""Algorithms on arrays: NumPy, SciPy, scikit-image, scikit-learn. No Qt, no napari."""

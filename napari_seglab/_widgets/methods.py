"""The segmentation methods as the menus name them, and core messages in those names."""

from __future__ import annotations

#: Methods offered, by display name.
METHODS = {
    "Fast forest": "fast_forest",
    "Blend (kNN + logistic)": "blend",
    "kNN": "knn",
    "Nearest mean": "nearest_mean",
    "k-means": "kmeans",
    "Gaussian mixture": "gmm",
    "Random forest": "random_forest",
    "Context forest": "context_forest",
    "Manual threshold": "manual",
    "Otsu threshold": "otsu",
    "Li threshold": "li",
    "Yen threshold": "yen",
    "Triangle threshold": "triangle",
    "Minimum threshold": "minimum",
    "Local threshold": "local",
}


def humanize(message: str) -> str:
    """Core messages name methods by key ('knn'); say what the menu says (kNN)."""
    for name, key in METHODS.items():
        message = message.replace(f"method {key!r}", name).replace(f"{key!r}", name)
    return message



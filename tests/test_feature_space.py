"""Feature-space core: density = numpy.histogram2d, select = matplotlib's contains_points."""

import numpy as np
import pytest

from napari_seglab.core.feature_space import (
    FeatureSpaceIndex,
    class_histograms,
    class_mean_spectra,
    decision_regions,
    density,
    select,
)
from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom
from napari_seglab.core.segmenters import make_segmenter

Path = pytest.importorskip("matplotlib.path", reason="matplotlib is the reference").Path


def _reference(x, y, polygon):
    return Path(np.asarray(polygon, float)).contains_points(np.c_[np.ravel(x), np.ravel(y)])


@pytest.fixture
def cloud():
    rng = np.random.default_rng(1)
    x = rng.normal(100, 30, 200_000).astype(np.float32)
    y = (0.5 * x + rng.normal(0, 10, x.size)).astype(np.float32)
    return x, y


# -- density -----------------------------------------------------------------


@pytest.mark.parametrize("bins", [1, 7, 256, (64, 33)])
def test_density_equals_numpy(cloud, bins):
    x, y = cloud
    counts, xe, ye = density(x, y, bins=bins)
    ref, rxe, rye = np.histogram2d(x, y, bins=bins)
    assert np.array_equal(counts, ref) and np.array_equal(xe, rxe) and np.array_equal(ye, rye)
    assert counts.sum() == x.size  # the maximum falls in the last, closed bin


def test_density_points_on_edges_and_range():
    # integers on exact edges, values at both ends of the range, outliers
    rng = np.random.default_rng(2)
    x = rng.integers(0, 11, 50_000).astype(np.float64)
    y = rng.integers(-5, 6, 50_000).astype(np.float32)
    for rng_ in (None, ((2, 8), (-3, 3)), ((0, 10), (-5, 5))):
        counts, xe, ye = density(x, y, bins=10, range=rng_)
        ref, rxe, rye = np.histogram2d(x, y, bins=10, range=rng_)
        assert np.array_equal(counts, ref)
        assert np.array_equal(xe, rxe) and np.array_equal(ye, rye)


def test_density_ignores_nan():
    rng = np.random.default_rng(3)
    x, y = rng.random((2, 10_000)).astype(np.float32)
    x[::7] = np.nan
    y[::11] = np.nan
    counts, xe, ye = density(x, y, bins=32, range=((0, 1), (0, 1)))
    ref, _, _ = np.histogram2d(x, y, bins=32, range=((0, 1), (0, 1)))  # numpy drops NaN here
    assert np.array_equal(counts, ref)
    ok = np.isfinite(x) & np.isfinite(y)
    counts, xe, ye = density(x, y, bins=32)  # numpy would raise: range from finite values
    assert counts.sum() == ok.sum()
    assert xe[0] == np.nanmin(x) and ye[-1] == np.nanmax(y)


def test_density_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        density(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="bins"):
        density(np.zeros(3), np.zeros(3), bins=0)
    with pytest.raises(ValueError, match="no finite"):
        density(np.full(3, np.nan), np.zeros(3))


# -- selection ---------------------------------------------------------------


def test_select_random_polygons_equal_matplotlib(cloud):
    x, y = cloud
    index = FeatureSpaceIndex(x, y, bins=128)
    rng = np.random.default_rng(4)
    for _ in range(5):
        n = int(rng.integers(3, 60))
        polygon = np.c_[rng.normal(100, 40, n), rng.normal(50, 20, n)]  # self-intersecting
        assert np.array_equal(index.select(polygon), _reference(x, y, polygon))


def test_select_concave_lasso(cloud):
    x, y = cloud
    t = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    r = 40 + 25 * np.sin(5 * t)  # a star: deeply concave
    lasso = np.c_[100 + r * np.cos(t), 50 + 0.5 * r * np.sin(t)]
    mask = select(x, y, lasso)
    assert np.array_equal(mask, _reference(x, y, lasso))
    assert 0 < mask.sum() < x.size


def test_select_self_intersecting_rule():
    # a figure eight drawn twice around one lobe: even-odd, so the doubly
    # covered lobe is outside, like matplotlib's
    xs, ys = np.meshgrid(np.linspace(-2, 2, 401), np.linspace(-2, 2, 401))
    x, y = xs.ravel(), ys.ravel()
    bowtie = [(-1, -1), (1, 1), (1, -1), (-1, 1)]
    twice = [(0, 0), (1, 0), (1, 1), (0, 1), (0, 0), (1.5, 0), (1.5, 1.5), (0, 1.5)]
    for polygon in (bowtie, twice):
        mask = select(x, y, polygon, bins=16)
        assert np.array_equal(mask, _reference(x, y, polygon))
    mask = select(x, y, twice, bins=16)
    assert not mask[(x > 0.1) & (x < 0.9) & (y > 0.1) & (y < 0.9)].any()  # covered twice
    assert mask[(x > 1.1) & (x < 1.4) & (y > 0.1) & (y < 0.9)].all()  # covered once


def test_select_points_on_bin_and_polygon_edges():
    # integer points lie on bin edges and on the polygon's edges and vertices
    g = np.arange(-3, 14, dtype=np.float32)
    xs, ys = np.meshgrid(g, g)
    x, y = xs.ravel(), ys.ravel()
    index = FeatureSpaceIndex(x, y, bins=16)
    for polygon in ([(0, 0), (10, 0), (10, 10), (0, 10)],
                    [(0, 0), (10, 5), (0, 10), (5, 5)],
                    [(2, 2), (8, 2), (8, 8), (5, 4), (2, 8)]):
        assert np.array_equal(index.select(polygon), _reference(x, y, polygon))
    box = index.select([(0, 0), (10, 0), (10, 10), (0, 10)])
    # matplotlib's rule on a counter-clockwise box: bottom edge out, the others in
    assert box[(x == 0) & (y == 5)].all() and box[(x == 10) & (y == 5)].all()
    assert box[(x == 5) & (y == 10)].all() and not box[(x == 5) & (y == 0)].any()


def test_select_polygon_smaller_than_a_bin(cloud):
    x, y = cloud
    index = FeatureSpaceIndex(x, y, bins=8)  # bins ~30 units wide
    tiny = [(99.0, 49.0), (101.0, 49.5), (100.5, 51.0)]
    mask = index.select(tiny)
    assert np.array_equal(mask, _reference(x, y, tiny))
    assert mask.sum() > 0


def test_select_outside_range_nan_and_degenerate():
    rng = np.random.default_rng(5)
    x, y = rng.random((2, 20_000)) * 10
    x[::13] = np.nan
    index = FeatureSpaceIndex(x, y, bins=20, range=((2, 8), (2, 8)))
    polygon = [(-1, -1), (11, 0), (5, 12)]  # reaches past the index's range
    assert np.array_equal(index.select(polygon), _reference(x, y, polygon))
    assert not index.select(polygon)[np.isnan(x)].any()
    assert not index.select([(0, 0), (5, 5)]).any()  # fewer than 3 vertices
    with pytest.raises(ValueError, match="shape"):
        index.select(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="finite"):
        index.select([(0, 0), (np.nan, 1), (1, 1)])


def test_select_keeps_the_shape_of_an_image():
    img = np.arange(64, dtype=np.float32).reshape(8, 8)
    mask = select(img, img.T, [(10, 10), (50, 10), (50, 50), (10, 50)])
    assert mask.shape == (8, 8)
    assert np.array_equal(mask.ravel(), _reference(img, img.T, [(10, 10), (50, 10),
                                                               (50, 50), (10, 50)]))


# -- decision regions --------------------------------------------------------


@pytest.fixture
def phantom_features():
    image, truth = tissue_phantom((64, 64), random_state=0)
    seeds = scribble_seeds(truth)
    smooth = image.astype(np.float32)
    from scipy.ndimage import gaussian_filter

    X = np.c_[smooth.ravel(), gaussian_filter(smooth, 2).ravel(),
              gaussian_filter(smooth, 5).ravel()].astype(np.float32)
    y = seeds.ravel()
    return X, X[y > 0], y[y > 0]


@pytest.mark.parametrize("method", ["knn", "nearest_mean", "random_forest"])
def test_decision_regions_retrained_equal_predictions(phantom_features, method):
    X, Xt, yt = phantom_features
    params = {"n_estimators": 20} if method == "random_forest" else {}
    seg = make_segmenter(method, **params).fit(Xt, yt)
    r = decision_regions(seg, 0, 2, X=X, X_train=Xt, y_train=yt, resolution=(40, 30))
    assert r.others == "retrained" and r.labels.shape == (40, 30)
    gx, gy = np.meshgrid(r.x_centers, r.y_centers, indexing="ij")
    grid = np.c_[gx.ravel(), gy.ravel()].astype(np.float32)
    again = make_segmenter(method, **params).fit(Xt[:, [0, 2]], yt)
    assert np.array_equal(r.labels.ravel(), again.predict(grid))
    assert set(np.unique(r.labels)) <= set(yt.tolist())
    assert r.x_centers[0] > X[:, 0].min() and r.x_centers[-1] < X[:, 0].max()


def test_decision_regions_median_equal_predictions(phantom_features):
    X, Xt, yt = phantom_features
    seg = make_segmenter("knn").fit(Xt, yt)
    r = decision_regions(seg, 0, 1, X=X, others="median", resolution=16)
    gx, gy = np.meshgrid(r.x_centers, r.y_centers, indexing="ij")
    grid = np.repeat(np.median(X, axis=0)[None], gx.size, axis=0)
    grid[:, 0], grid[:, 1] = gx.ravel(), gy.ravel()
    assert r.others == "median"
    assert np.array_equal(r.labels.ravel(), seg.predict(grid.astype(np.float32)))


def test_decision_regions_kmeans_and_errors(phantom_features):
    X, Xt, yt = phantom_features
    km = make_segmenter("kmeans", n_clusters=3)
    r = decision_regions(km, 0, 2, X=X, resolution=8)
    assert r.labels.shape == (8, 8) and len(np.unique(r.labels)) >= 2
    with pytest.raises(ValueError, match="x_feature"):
        decision_regions(km, 5, 0, X=X)
    with pytest.raises(ValueError, match="others"):
        decision_regions(km, 0, 1, X=X, others="mean")
    with pytest.raises(ValueError, match="X_train"):
        decision_regions(make_segmenter("knn"), 0, 1, X=X)


# -- 1D and spectra ----------------------------------------------------------


def test_class_histograms_equal_numpy(cloud):
    x, _ = cloud
    labels = np.random.default_rng(6).integers(0, 4, x.size)
    counts, edges, classes = class_histograms(x, labels, bins=50)
    assert classes.tolist() == [1, 2, 3]
    assert np.array_equal(edges, np.histogram_bin_edges(x, 50))
    for k, c in enumerate(classes):
        assert np.array_equal(counts[k], np.histogram(x[labels == c], bins=edges)[0])


def test_class_mean_spectra():
    rng = np.random.default_rng(7)
    img = rng.random((20, 30, 5))
    labels = rng.integers(0, 3, (20, 30))
    classes, means = class_mean_spectra(img, labels)
    assert classes.tolist() == [1, 2]
    assert np.allclose(means[1], img[labels == 2].mean(axis=0))
    with pytest.raises(ValueError, match="spatial shape"):
        class_mean_spectra(img, labels[:5])

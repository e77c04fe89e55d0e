"""Grow from seeds: a brute-force reference, ITK's FastGrowCut, incremental == fresh."""

from __future__ import annotations

import heapq
import itertools
import math
import warnings

import numpy as np
import pytest

from napari_seglab.core.growcut import GrowFromSeeds, grow_from_seeds
from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom
from napari_seglab.metrics import dice


# ---------------------------------------------------------------- reference
def reference_grow(image, seeds, spacing, locality, allowed=None):
    """Plain-Python Dijkstra on the documented integer costs.

    Integer image with a range below 65535: a step costs
    ``scale * |dI| + max(1, rint(scale * locality * length))`` with
    ``scale = 65535 // range``; ties go to the lowest seed flat index.
    """
    image = np.asarray(image, np.int64)
    shape = image.shape
    span = int(image.max() - image.min())
    scale = 65535 // span if span else 1
    allowed = np.ones(shape, bool) if allowed is None else allowed
    moves = [m for m in itertools.product((-1, 0, 1), repeat=image.ndim) if any(m)]
    best = {}
    heap = []
    for idx in zip(*np.nonzero((seeds != 0) & allowed), strict=True):
        flat = int(np.ravel_multi_index(idx, shape))
        best[idx] = (0, flat)
        heapq.heappush(heap, (0, flat, idx))
    while heap:
        cost, root, p = heapq.heappop(heap)
        if best[p] != (cost, root):
            continue
        for m in moves:
            q = tuple(a + b for a, b in zip(p, m, strict=True))
            if not all(0 <= c < n for c, n in zip(q, shape, strict=True)) or not allowed[q]:
                continue
            length = math.sqrt(sum((s * d) ** 2 for s, d in zip(spacing, m, strict=True)))
            step = max(1, int(np.rint(scale * locality * length)))
            key = (cost + scale * abs(int(image[p]) - int(image[q])) + step, root)
            if q not in best or key < best[q]:
                best[q] = key
                heapq.heappush(heap, (*key, q))
    labels = np.zeros(shape, seeds.dtype)
    flat_seeds = seeds.reshape(-1)
    for q, (_, root) in best.items():
        labels[q] = flat_seeds[root]
    return labels


def corner_seeds(shape, rng, n_labels=3, n_seeds=6):
    """Random seeds, with two in opposite corners so the crop is the whole image."""
    seeds = np.zeros(shape, np.uint8)
    seeds[(0,) * len(shape)] = 1
    seeds[tuple(n - 1 for n in shape)] = 2
    for _ in range(n_seeds):
        seeds[tuple(rng.integers(0, n) for n in shape)] = rng.integers(1, n_labels + 1)
    return seeds


@pytest.mark.parametrize("trial", range(6))
def test_equals_brute_force_reference(trial):
    rng = np.random.default_rng(trial)
    shape = [(9, 11), (5, 6, 7)][trial % 2]
    image = rng.integers(0, 40, shape).astype(np.uint8)
    image[..., : shape[-1] // 2] += 60  # two regions with an edge
    seeds = corner_seeds(shape, rng)
    spacing = tuple(rng.uniform(0.5, 3.0, len(shape)))
    locality = [0.0, 0.7, 5.0][trial % 3]
    mask = rng.random(shape) > 0.15 if trial >= 3 else None
    got = grow_from_seeds(image, seeds, spacing=spacing, seed_locality=locality, mask=mask)
    want = reference_grow(image, seeds, spacing, locality, mask)
    np.testing.assert_array_equal(got, want)


def test_ties_go_to_the_lowest_seed_index():
    image = np.zeros((1, 9), np.uint8)
    seeds = np.zeros((1, 9), np.uint8)
    seeds[0, 0], seeds[0, 8] = 2, 1  # voxel 4 is 4 steps from both
    labels = grow_from_seeds(image, seeds)
    assert labels[0].tolist() == [2, 2, 2, 2, 2, 1, 1, 1, 1]


# --------------------------------------------------------------------- ITK
@pytest.fixture(scope="module")
def itk_fast_grow_cut():
    itk = pytest.importorskip("itk", reason="itk (with itk-growcut) is a test-only dependency")
    try:
        from itk import itkFastGrowCutPython as module
    except ImportError:
        pytest.skip("itk-growcut is not installed (pip install itk-growcut)")

    def run(image, seeds, spacing, locality):
        # One voxel of padding: ITK never grows from its region's outer
        # layer, so its interior then equals our clipped neighbourhoods.
        image = np.pad(image.astype(np.float32), 1, mode="edge")
        seeds = np.pad(seeds.astype(np.uint8), 1)
        itk_image = itk.GetImageFromArray(image)
        itk_seeds = itk.GetImageFromArray(seeds)
        for obj in (itk_image, itk_seeds):
            obj.SetSpacing([float(s) for s in spacing[::-1]])
        grow = module.itkFastGrowCutIF3IUC3.New()
        grow.SetInput(itk_image)
        grow.SetSeedImage(itk_seeds)
        grow.SetDistancePenalty(float(locality))
        grow.Update()
        return itk.GetArrayFromImage(grow.GetOutput())[1:-1, 1:-1, 1:-1].copy()

    return run


@pytest.mark.parametrize("locality", [0.0, 1.0])
def test_agrees_with_itk_fast_grow_cut(itk_fast_grow_cut, locality):
    image, truth = tissue_phantom((24, 64, 64), random_state=1)
    seeds = scribble_seeds(truth, strokes_per_class=3, length=12, random_state=2)
    spacing = (2.5, 0.8, 0.8)
    session = GrowFromSeeds(image, spacing=spacing, seed_locality=locality)
    ours = session.update(seeds)
    crop = session.last_run["crop"]
    theirs = itk_fast_grow_cut(image[crop], seeds[crop], spacing, locality)
    scores = dice(theirs, ours[crop], labels=np.unique(seeds[seeds > 0]).tolist())
    assert min(scores.values()) >= 0.99, scores
    assert (ours[crop] > 0).all()


# ------------------------------------------------------------- 2D and 3D
def test_2d_equals_a_one_slice_volume():
    image, truth = tissue_phantom((48, 56), random_state=3)
    seeds = scribble_seeds(truth, strokes_per_class=2, length=10, random_state=4)
    for locality in (0.0, 2.0):
        flat = grow_from_seeds(image, seeds, spacing=(0.7, 1.3), seed_locality=locality)
        volume = grow_from_seeds(image[None], seeds[None], spacing=(5.0, 0.7, 1.3),
                                 seed_locality=locality)
        np.testing.assert_array_equal(flat, volume[0])


# ------------------------------------------------------------ incremental
@pytest.fixture(scope="module")
def volume():
    image, truth = tissue_phantom((20, 48, 48), random_state=5)
    seeds = scribble_seeds(truth, strokes_per_class=3, length=10, random_state=6)
    # Corner seeds keep the crop fixed while strokes come and go.
    seeds[0, 0, 0] = seeds[-1, -1, -1] = 1
    return image, truth, seeds


def fresh(image, seeds, **options):
    return GrowFromSeeds(image, **options).update(seeds)


def test_every_incremental_update_equals_a_fresh_run(volume):
    image, truth, seeds = volume
    spacing = (2.0, 0.9, 0.9)
    session = GrowFromSeeds(image, spacing=spacing)
    session.update(seeds)
    rng = np.random.default_rng(7)
    current = seeds.copy()
    options = {"spacing": spacing}

    def check(what, mode="incremental"):
        got = session.update(current)
        assert session.last_run["mode"] == mode, what
        np.testing.assert_array_equal(got, fresh(image, current, **options), err_msg=what)

    for z in (4, 10, 15):  # add strokes
        y, x = rng.integers(8, 40, 2)
        current[z, y, x:x + 6] = truth[z, y, x] + 1
        check("add a stroke")
    labelled = np.argwhere(current > 0)[1:-1]  # not the corners
    current[tuple(labelled[:: len(labelled) // 5].T)] = 0
    check("erase strokes")
    current[current == 2] = 0
    check("erase a whole segment")
    current[(seeds == 2)] = 2
    check("paint it again")
    stroke = np.argwhere(current == 3)[:8]
    current[tuple(stroke.T)] = 1
    check("relabel a stroke")
    current[5, 20:30, 20] = 3
    current[6, 20:30, 21] = 0
    current[(seeds == 1) & (np.arange(48)[None, None, :] < 24)] = 0
    current[0, 0, 0] = 1  # keep the crop
    check("add and erase at once")

    session.seed_locality = 1.5
    options["seed_locality"] = 1.5
    check("change seed locality", "full")
    current[12, 30, 10:16] = 2
    check("add after a change")

    lo, hi = np.percentile(image, [5, 97])
    session.intensity_range = (lo, hi)
    options["intensity_range"] = (lo, hi)
    check("change the intensity range", "full")
    current[12, 30, 10:16] = 0
    check("erase with a range")

    mask = np.ones(image.shape, bool)
    mask[:, :, 40:] = False
    session.mask = mask
    options["mask"] = mask
    check("change the mask", "full")
    current[8, 10:14, 30] = 1
    check("add with a mask")
    assert session.last_run["expanded"] < image.size / 4


@pytest.mark.filterwarnings("ignore:one segment:UserWarning")  # seeds outside the range
@pytest.mark.parametrize("trial", range(8))
def test_strokes_that_grow_the_crop_keep_the_state_and_equal_a_fresh_run(trial):
    """A correction stroke outside the seeds' box (where the grow leaked)
    moves the grown state into the larger crop and re-grows from its edge."""
    rng = np.random.default_rng(100 + trial)
    shape = [(40, 52), (14, 26, 30)][trial % 2]
    image, truth = tissue_phantom(shape, random_state=trial)
    if trial >= 4:  # an integer CT-like image too
        image = np.rint(image * 1000 - 500).astype(np.int16)
    spacing = tuple(rng.uniform(0.5, 3.0, len(shape)))
    options = {"spacing": spacing, "seed_locality": [0.0, 0.8][trial % 4 // 2]}
    if trial == 6:
        options["intensity_range"] = np.percentile(image, [3, 95])
    if trial == 7:
        options["mask"] = rng.random(shape) > 0.1
    seeds = np.zeros(shape, np.uint8)
    centre = tuple(n // 2 for n in shape)
    seeds[centre] = 1
    seeds[tuple(n // 2 + 2 for n in shape)] = 2
    session = GrowFromSeeds(image, **options)
    session.update(seeds)
    modes = []
    for step in range(8):
        point = tuple(int(rng.integers(0, n)) for n in shape)
        line = point[:-1] + (slice(point[-1], point[-1] + 4),)
        seeds[line] = truth[point] % 3 + 1
        if step == 5:  # erase a stroke while the crop grows
            seeds[centre] = 0
        got = session.update(seeds)
        modes.append(session.last_run["mode"])
        np.testing.assert_array_equal(got, fresh(image, seeds, **options),
                                      err_msg=f"step {step}: {modes[-1]}")
    assert "extended" in modes
    assert "full" not in modes


def test_a_correction_stroke_regrows_a_fraction_of_the_volume():
    image, truth = tissue_phantom((24, 64, 64), random_state=11)
    seeds = scribble_seeds(truth, strokes_per_class=3, length=14, random_state=12)
    session = GrowFromSeeds(image, spacing=(2.0, 0.8, 0.8))
    labels = session.update(seeds)
    full = session.last_run["expanded"]
    wrong = np.argwhere((labels != truth + 1) & (labels > 0))
    z, y, x = wrong[len(wrong) // 2]
    seeds[z, y, max(0, x - 3):x + 3] = truth[z, y, x] + 1
    session.update(seeds)
    assert session.last_run["mode"] in ("incremental", "extended")
    assert session.last_run["expanded"] < full / 3


def test_erasing_everything_but_one_label_is_refused_without_changing_state(volume):
    image, _, seeds = volume
    session = GrowFromSeeds(image)
    first = session.update(seeds)
    single = np.where(seeds == 1, 1, 0).astype(seeds.dtype)
    with pytest.raises(ValueError, match="paint a second segment"):
        session.update(single)
    np.testing.assert_array_equal(session.update(seeds), first)
    assert session.last_run["mode"] == "incremental"


def test_seeds_are_not_modified(volume):
    image, _, seeds = volume
    before = seeds.copy()
    session = GrowFromSeeds(image, seed_locality=0.5)
    session.update(seeds)
    session.update(seeds)
    np.testing.assert_array_equal(seeds, before)


# ------------------------------------------------------------ constraints
def test_intensity_range_and_mask_are_respected_voxel_by_voxel():
    image, truth = tissue_phantom((64, 64), random_state=8)
    seeds = scribble_seeds(truth, strokes_per_class=2, length=12, random_state=9)
    lo, hi = 0.0, 0.7
    mask = np.ones(image.shape, bool)
    mask[20:40, 20:40] = False
    labels = grow_from_seeds(image, seeds, intensity_range=(lo, hi), mask=mask)
    allowed = (image >= lo) & (image <= hi) & mask
    assert not labels[~allowed].any()
    # The same as the reference on an integer version of the problem.
    image8 = np.rint(image * 200).astype(np.uint8)
    seeds[0, 0], seeds[-1, -1] = 1, 2  # the crop is then the whole image
    got = grow_from_seeds(image8, seeds, intensity_range=(10, 140), mask=mask)
    allowed8 = (image8 >= 10) & (image8 <= 140) & mask
    assert not got[~allowed8].any()
    np.testing.assert_array_equal(got, reference_grow(image8, seeds, (1.0, 1.0), 0.0, allowed8))


def test_one_segment_with_a_mask_fills_what_it_reaches_and_says_so():
    image = np.zeros((30, 30), np.float32)
    mask = np.zeros(image.shape, bool)
    mask[5:15, 5:15] = True
    mask[20:25, 20:25] = True  # not connected to the seed
    seeds = np.zeros(image.shape, np.uint8)
    seeds[10, 10] = seeds[0, 0] = seeds[29, 29] = 4  # corners outside the mask: a full crop
    with pytest.warns(UserWarning, match="one segment"):
        labels = grow_from_seeds(image, seeds, mask=mask)
    assert (labels[5:15, 5:15] == 4).all()
    assert labels.sum() == 4 * 100
    # A caller that shows the note itself (the panel, from a worker thread,
    # where changing warning filters races) turns the warning off.
    session = GrowFromSeeds(image, mask=mask)
    session.warn_notes = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet = session.update(seeds)
    assert np.array_equal(quiet, labels)
    assert session.last_run["message"].startswith("one segment (label 4)")


def test_crop_follows_slicer():
    image = np.random.default_rng(0).random((100, 100)).astype(np.float32)
    seeds = np.zeros(image.shape, np.uint8)
    seeds[40, 30], seeds[60, 70] = 1, 2
    session = GrowFromSeeds(image)
    labels = session.update(seeds)
    # box 40..60 x 30..70: margins max(3, 20 % of 20) = 4 and 20 % of 40 = 8
    assert session.last_run["crop"][1:] == (slice(36, 65), slice(22, 79))
    assert (labels[36:65, 22:79] > 0).all() and labels.sum() == labels[36:65, 22:79].sum()
    session.mask = np.ones(image.shape, bool)  # 50 % with a mask
    session.update(seeds)
    assert session.last_run["crop"][1:] == (slice(30, 71), slice(10, 91))


def test_integer_ct_image_and_anisotropic_spacing():
    rng = np.random.default_rng(1)
    image = np.full((6, 40, 40), -900, np.int16)
    image[:, 10:30, 10:30] = 40
    image += rng.integers(-20, 20, image.shape).astype(np.int16)
    seeds = np.zeros(image.shape, np.int32)
    seeds[3, 20, 15:25] = 7
    seeds[3, 2, 2:38] = seeds[3, 37, 2:38] = 9
    labels = grow_from_seeds(image, seeds, spacing=(5.0, 0.7, 0.7), seed_locality=0.1)
    assert labels.dtype == np.int32
    assert (labels[:, 12:28, 12:28] == 7).all()
    assert (labels[:, :8] == 9).all()


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    "image, seeds, options, error, match",
    [
        (np.zeros((4, 4, 4, 4)), np.zeros((4, 4, 4, 4), int), {}, ValueError, "2D"),
        (np.zeros(5), np.zeros(5, int), {}, ValueError, "2D"),
        (np.zeros((5, 5)), np.zeros((5, 6), int), {}, ValueError, "shape"),
        (np.zeros((5, 5)), np.zeros((5, 5)), {}, TypeError, "integer"),
        (np.zeros((5, 5), complex), np.zeros((5, 5), int), {}, TypeError, "real"),
        (np.zeros((5, 5)), -np.eye(5, dtype=int), {}, ValueError, "positive"),
        (np.zeros((5, 5)), np.zeros((5, 5), int), {}, ValueError, "no seeds"),
        (np.zeros((5, 5)), np.eye(5, dtype=int), {}, ValueError, "second segment"),
        (np.zeros((5, 5)), np.eye(5, dtype=int), {"spacing": (1, -1)}, ValueError, "positive"),
        (np.zeros((5, 5)), np.eye(5, dtype=int), {"spacing": (1, 1, 1)}, ValueError, "one size"),
        (np.zeros((5, 5)), np.eye(5, dtype=int), {"seed_locality": -1}, ValueError, "locality"),
        (np.zeros((5, 5)), np.eye(5, dtype=int), {"seed_locality": "a"}, TypeError, "number"),
        (np.zeros((5, 5)), np.eye(5, dtype=int), {"intensity_range": (2, 1)}, ValueError,
         "lo <= hi"),
        (np.zeros((5, 5)), np.eye(5, dtype=int), {"mask": np.ones((4, 4), bool)}, ValueError,
         "mask shape"),
        (np.zeros((5, 5)), np.eye(5, dtype=int), {"mask": np.ones((5, 5))}, TypeError,
         "boolean"),
        (np.zeros((5, 5)), np.eye(5, dtype=int), {"mask": np.zeros((5, 5), bool)}, ValueError,
         "outside the mask"),
    ],
)
def test_bad_input_is_refused_with_what_to_do(image, seeds, options, error, match):
    with pytest.raises(error, match=match):
        grow_from_seeds(image, seeds, **options)


def test_memory_budget_is_enforced(monkeypatch):
    import napari_seglab.core.features as features

    monkeypatch.setattr(features, "total_ram", lambda: 1000)
    seeds = np.zeros((20, 20), np.uint8)
    seeds[0, 0], seeds[-1, -1] = 1, 2
    with pytest.raises(ValueError, match="needs about"):
        grow_from_seeds(np.zeros((20, 20)), seeds)


def test_no_warning_with_two_segments():
    seeds = np.zeros((10, 10), np.uint8)
    seeds[1, 1], seeds[8, 8] = 1, 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grow_from_seeds(np.zeros((10, 10)), seeds)


def test_kernels_compile_without_a_writable_cache():
    from napari_seglab.core.growcut._kernels import _jit

    namespace = {"_jit": _jit}
    # Source without a file: numba has nowhere to cache it and would raise.
    exec("def plus_one(x):\n    return x + 1\nplus_one = _jit(plus_one)", namespace)
    assert namespace["plus_one"](2) == 3

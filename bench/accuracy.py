"""Accuracy from simulated strokes on the real cases of ../shared/data, beside peers.

Two protocols, every method in the same run, on the same strokes:

1. **one-shot**: fit on the initial strokes (a few short strokes per class
   inside the eroded ground truth, :mod:`strokes`), score the result;
2. **corrections**: 5 rounds of one more stroke of the true class inside the
   largest connected error region of the method's own last result.

Seed pixels are excluded from the scores. Several stroke draws (seeded);
tables give mean ± sd over draws and paired wins/losses against each peer.

Cases (score):
- ``retina`` DRIVE 21–25, green channel, inside the field of view (vessel F1);
- ``em`` ISBI 2012 slices 0–2 (membrane F1);
- ``brains`` MRBrainS subjects 1–3 × slices 1–3, T1 + FLAIR, tissues of the
  data README (mean Dice of WM, GM, CSF), strokes on the slice itself;
- ``transfer`` brains: train on subject a's slice 2, test on subject b's
  slice 2 (one-shot only: no strokes on the test slice);
- ``kesm`` vessel tile (vessel F1);
- ``tumour`` post-contrast MR volume, slices 5–13 of 23 (the tumour lies in
  8–10; cropping keeps the run short), tumour Dice.

Peers: scikit-image's trainable segmentation (``multiscale_basic_features``
defaults, RandomForest 100 trees, ``fit_segmenter``/``predict_segmenter``),
the 20-line script (intensity + Gaussian σ=1 per channel; RF 30 trees, or
nearest class mean), the course recipe (kNN k=3 on the intensities). Peers'
forests get ``random_state=0`` so the run is reproducible.

Run: ``python bench/accuracy.py [--quick] [--cases retina,em] [--draws 3]
[--rounds 5] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from strokes import correction_stroke, generated_strokes  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TISSUES = {"background": (0, 1, 6), "WM": (2, 5), "GM": (3, 7), "CSF": (4, 8)}


# ---------------------------------------------------------------- cases


@dataclass
class Case:
    """One image (or a train/test pair) with its ground truth and scoring."""

    name: str
    group: str
    image: np.ndarray  # spatial + (C,) float32
    truth: np.ndarray  # 1..K, 0 = not scored / never seeded
    score: tuple  # ("f1", label) or ("mean_dice", labels)
    spacing: tuple | None = None
    strokes: dict = field(default_factory=dict)
    test_image: np.ndarray | None = None  # transfer: predict here
    test_truth: np.ndarray | None = None
    split: str = "both"  # "tune", "confirm" or "both" (single cases: KESM, the tumour)


def _png(path):
    from PIL import Image

    return np.array(Image.open(path))


def load_retina(n):
    d = DATA / "drive_train"
    rgb = _png(d / "images" / f"{n}_training.tif")
    vessel = _png(d / "1st_manual" / f"{n}_manual1.gif") > 0
    fov = _png(d / "mask" / f"{n}_training_mask.gif") > 0
    truth = np.where(fov, 1 + vessel, 0).astype(np.uint8)
    return Case(f"retina {n}", "retina", rgb[..., 1:2].astype(np.float32), truth,
                ("f1", 2), strokes=dict(n_strokes=4, length=20, margin={1: 3, 2: 1}),
                split="tune" if n <= 25 else "confirm")


def load_em(n):
    d = DATA / "isbi_em"
    image = _png(d / "image" / f"{n}.png").astype(np.float32)
    if image.ndim == 3:
        image = image[..., 0]
    membrane = _png(d / "label" / f"{n}.png") == 0
    truth = (1 + membrane).astype(np.uint8)
    return Case(f"em {n}", "em", image[..., None], truth, ("f1", 2),
                strokes=dict(n_strokes=4, length=20, margin={1: 3, 2: 1}),
                split="tune" if n <= 2 else "confirm")


def _brain(subject, slice_):
    import tifffile

    d = DATA / "brains"
    image = np.stack([tifffile.imread(d / f"{subject}_{slice_}_{m}.tif")
                      for m in ("t1", "t2")], axis=-1).astype(np.float32)
    gt = tifffile.imread(d / f"{subject}_{slice_}_gt.tif")
    truth = np.zeros(gt.shape, np.uint8)
    for i, values in enumerate(TISSUES.values(), start=1):
        truth[np.isin(gt, values)] = i
    return image, truth


BRAIN_STROKES = dict(n_strokes=3, length=15, margin=1)


def load_brain(subject, slice_):
    image, truth = _brain(subject, slice_)
    return Case(f"brain {subject}_{slice_}", "brains", image, truth, ("mean_dice", (2, 3, 4)),
                strokes=BRAIN_STROKES, split="confirm" if subject == 3 else "tune")


def load_transfer(a, b, slice_=2):
    image, truth = _brain(a, slice_)
    test_image, test_truth = _brain(b, slice_)
    return Case(f"brain {a}->{b} s{slice_}", "transfer", image, truth, ("mean_dice", (2, 3, 4)),
                strokes=BRAIN_STROKES, test_image=test_image, test_truth=test_truth,
                split="confirm" if 3 in (a, b) else "tune")


def load_kesm():
    d = DATA / "kesm"
    image = _png(d / "grayscale.png").astype(np.float32)
    truth = (1 + (_png(d / "groundtruth.png") > 0)).astype(np.uint8)
    return Case("kesm", "kesm", image[..., None], truth, ("f1", 2),
                strokes=dict(n_strokes=4, length=20, margin={1: 3, 2: 1}))


def load_tumour():
    import nrrd

    d = DATA / "mr_tumour"
    image, header = nrrd.read(str(d / "brain2_image.nrrd"))
    label, _ = nrrd.read(str(d / "brain2_label.nrrd"))
    image = np.ascontiguousarray(image.transpose(2, 1, 0)[5:14], np.float32)
    truth = (1 + (label.transpose(2, 1, 0)[5:14] > 0)).astype(np.uint8)
    spacing = tuple(abs(float(np.asarray(header["space directions"])[i, i])) for i in (2, 1, 0))
    return Case("tumour", "tumour", image[..., None], truth, ("f1", 2), spacing=spacing,
                strokes=dict(n_strokes={1: 4, 2: 2}, length={1: 20, 2: 8},
                             margin={1: 3, 2: 1}))


def load_cases(groups, quick=False, split="all"):
    """Cases of ``groups``; ``split``: "all", "tune" (DRIVE 21–25, ISBI 0–2, brain
    subjects 1–2) or "confirm" (DRIVE 26–30, ISBI 4–8, subject 3); KESM and the
    tumour are in both. ``quick``: the first 2 cases of each group."""
    loaders = {
        "retina": [lambda n=n: load_retina(n) for n in range(21, 31)],
        "em": [lambda n=n: load_em(n) for n in (0, 1, 2, 4, 5, 6, 7, 8)],
        "brains": [lambda s=s, k=k: load_brain(s, k) for s in (1, 2, 3) for k in (1, 2, 3)],
        "transfer": [lambda a=a, b=b: load_transfer(a, b)
                     for a in (1, 2, 3) for b in (1, 2, 3) if a != b],
        "kesm": [load_kesm],
        "tumour": [load_tumour],
    }
    cases = []
    for g in groups:
        loaded = [load() for load in loaders[g]]
        loaded = [c for c in loaded if split == "all" or c.split in (split, "both")]
        cases += loaded[:2] if quick else loaded
    return cases


# ---------------------------------------------------------------- scores


def score(case, labels, truth, seeds):
    """F1 of the target class or mean Dice, on scored non-seeded pixels."""
    keep = truth > 0
    if seeds is not None:
        keep &= seeds == 0
    p, t = labels[keep], truth[keep]
    kind, target = case.score
    targets = (target,) if kind == "f1" else target
    values = []
    for c in targets:
        tp = np.sum((p == c) & (t == c))
        denom = np.sum(p == c) + np.sum(t == c)
        values.append(2 * tp / denom if denom else 1.0)
    return float(np.mean(values))


# ---------------------------------------------------------------- methods


class Method:
    """features(image, spacing) once per image; fit(F, seeds); predict(model, F)."""

    name = "?"
    peer = True
    groups = None  # None = every case group

    def feature_key(self):
        """Methods with the same key share one feature computation per image."""
        return (type(self).__name__,)

    def features(self, image, spacing):
        raise NotImplementedError

    def fit(self, F, seeds):
        raise NotImplementedError

    def predict(self, model, F):
        raise NotImplementedError


def _seeded(F, seeds):
    mask = seeds > 0
    return F[mask], seeds[mask]


class SkimageRF(Method):
    name = "skimage RF100"

    def features(self, image, spacing):
        from skimage.feature import multiscale_basic_features

        return multiscale_basic_features(image, channel_axis=-1).astype(np.float32)

    def fit(self, F, seeds):
        from skimage.future import fit_segmenter
        from sklearn.ensemble import RandomForestClassifier

        clf = RandomForestClassifier(n_estimators=100, n_jobs=-1, random_state=0)
        return fit_segmenter(seeds, F, clf)

    def predict(self, model, F):
        from skimage.future import predict_segmenter

        return predict_segmenter(F, model)


class _Script(Method):
    def feature_key(self):
        return ("script",)

    def features(self, image, spacing):
        return _script_features(image, spacing)

    def predict(self, model, F):
        return model.predict(F.reshape(-1, F.shape[-1])).reshape(F.shape[:-1])


def _script_features(image, spacing):
    from scipy import ndimage as ndi

    chans = [image[..., c] for c in range(image.shape[-1])]
    return np.stack(chans + [ndi.gaussian_filter(ch, 1.0) for ch in chans],
                    axis=-1).astype(np.float32)


class ScriptRF30(_Script):
    name = "script I+G1 RF30"

    def fit(self, F, seeds):
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_estimators=30, n_jobs=-1,
                                      random_state=0).fit(*_seeded(F, seeds))

    def predict(self, model, F):
        return model.predict(F.reshape(-1, F.shape[-1])).reshape(F.shape[:-1])


class ScriptNearestMean(_Script):
    name = "script I+G1 mean"

    def fit(self, F, seeds):
        from sklearn.neighbors import NearestCentroid

        return NearestCentroid().fit(*_seeded(F, seeds))

    def predict(self, model, F):
        return model.predict(F.reshape(-1, F.shape[-1])).reshape(F.shape[:-1])


class CourseKNN(Method):
    name = "course kNN3 I"
    groups = ("brains", "transfer")

    def features(self, image, spacing):
        return image

    def fit(self, F, seeds):
        from sklearn.neighbors import KNeighborsClassifier

        return KNeighborsClassifier(3).fit(*_seeded(F, seeds))

    def predict(self, model, F):
        return model.predict(F.reshape(-1, F.shape[-1])).reshape(F.shape[:-1])


class Ours(Method):
    """The shipped pipeline (SeededModel) with a method and its preset."""

    peer = False

    def __init__(self, method, label, features=None, params=None, local=None, groups=None):
        self.method, self.name = method, label
        self.spec, self.params = features, params
        self.local = local  # corrections: refine.local_update (0 = connected changes only)
        self.groups = groups  # None = every case

    def feature_key(self):
        return ("ours", self.method, str(self.spec))

    def _model(self):
        from napari_seglab.core.pipeline import SeededModel

        return SeededModel(self.method, self.spec, self.params)

    def features(self, image, spacing):
        inputs, _ = self._model().compute_inputs(image, spacing=spacing, channel_axis=-1)
        return inputs, spacing

    def fit(self, F, seeds):
        inputs, _ = F
        model = self._model().fit_inputs(inputs, seeds)
        model.bench_seeds = seeds  # grow starts from the seeds of the image segmented
        return model

    def predict(self, model, F):
        inputs, spacing = F
        if model._spatial(fit=False):
            return model._predict_grid(inputs, None, False, model.bench_seeds, spacing)[0]
        return model.predict_inputs(inputs)


class Refined(Method):
    """A model of :mod:`napari_seglab.core.refine` (features of its spec)."""

    peer = False

    def __init__(self, label, make, local=None, groups=None):
        self.name, self.make = label, make
        self.local = local  # corrections: refine.local_update (0 = connected changes only)
        self.groups = groups

    def feature_key(self):
        return ("refined", str(self.make().spec))

    def features(self, image, spacing):
        from napari_seglab.core.features import compute_features

        model = self.make()
        return (compute_features(image, model.features, spacing=spacing, channel_axis=-1),
                spacing)

    def fit(self, F, seeds):
        feats, spacing = F
        return self.make().fit(feats, seeds, spacing=spacing)

    def predict(self, model, F):
        feats, spacing = F
        return model.predict(feats, spacing=spacing)


def peers():
    return [SkimageRF(), ScriptRF30(), ScriptNearestMean(), CourseKNN()]


#: The fast forest's kNN share only outside the range the strokes covered (issue 24;
#: the default since the confirm run), and the constant share before it.
OUTSIDE_SHARE = {"knn_share": "outside", "outside_margin": 0.0, "knn_inside": 0.2}
CONSTANT_SHARE = {"knn_share": "constant"}


def ours(all_variants=False):
    methods = [Ours("fast_forest", "ours fast_forest (default)"),
               Ours("fast_forest", "ours fast_forest +local (Local corrections)", local=0),
               Ours("fast_forest", "ours ff no kNN", params={"knn_weight": 0.0}),
               Ours("fast_forest", "ours ff no cascade", params={"first_trees": 0}),
               Ours("fast_forest", "ours ff sklearn-built trees", params={"builder": "sklearn"}),
               # Another draw of each builder's forest: the noise floor of comparing builders.
               Ours("fast_forest", "ours ff sklearn-built trees, seed 1",
                    params={"builder": "sklearn", "random_state": 1}),
               Ours("fast_forest", "ours ff seed 1", params={"random_state": 1}),
               Ours("fast_forest", "ours ff rf trees", params={"kind": "random"}),
               Ours("fast_forest", "ours ff octaves bank", features="octaves"),
               Ours("fast_forest", "ours ff kNN 0.2", params={"knn_weight": 0.2,
                                                              "knn_share": "constant"}),
               Ours("fast_forest", "ours ff constant kNN share 0.4 (previous default)",
                    params={"knn_share": "constant"}),
               Ours("fast_forest", "ours ff rf trees, no kNN", params={"knn_weight": 0.0,
                                                                     "kind": "random"}),
               Ours("fast_forest", "ours ff 64 full-depth trees, no kNN",
                    params={"knn_weight": 0.0, "n_estimators": 64, "max_depth": None}),
               Ours("fast_forest", "ours ff no class weights, no kNN",
                    params={"knn_weight": 0.0, "class_weight": None}),
               Ours("fast_forest", "ours ff kNN outside w.5 step",
                    params={"knn_share": "outside", "knn_weight": 0.5, "outside_margin": 0.0}),
               Ours("fast_forest", "ours ff kNN outside w.6 m.25 in.2",
                    params={"knn_share": "outside", "knn_weight": 0.6, "outside_margin": 0.25,
                            "knn_inside": 0.2}),
               Ours("fast_forest", "ours ff kNN outside w.4 step in.2", params=OUTSIDE_SHARE),
               Ours("fast_forest", "ours ff kNN outside w.4 step in.1",
                    params={"knn_share": "outside", "outside_margin": 0.0, "knn_inside": 0.1}),
               Ours("fast_forest", "ours ff RF100 learner (full depth, no weights, no kNN)",
                    params={"kind": "random", "n_estimators": 100, "max_depth": None,
                            "class_weight": None, "knn_weight": 0.0}),
               Ours("fast_forest", "ours ff sqrt class weights", params={"class_weight": "sqrt"}),
               Ours("fast_forest", "ours ff no class weights", params={"class_weight": None}),
               Ours("knn", "ours kNN"),
               Ours("random_forest", "ours random_forest"),
               Ours("context_forest", "ours context_forest (segment)"),
               Ours("blend", "ours blend (previous default)"),
               Ours("blend", "ours blend +local (the panel's Local corrections)", local=0),
               Ours("blend", "ours blend +grow", params={"grow": True}, groups=("tumour",)),
               Ours("blend", "ours blend kNN+MLP w.4", params={"learner": "mlp",
                                                              "knn_weight": 0.4})]
    methods += thin_banks()
    try:
        from napari_seglab.core import refine
    except ImportError:
        return methods
    out = []
    for label, make in refine.bench_variants().items():
        local = None
        if "+local" in label:
            local = float(label.split("+local")[1].split()[0] or 0)
        # grow-from-seeds suits one compact object per class (lesions); on
        # interleaved tissues and vessel trees it loses 0.2-0.5 (see docs/accuracy.md),
        # so the full run keeps it to the tumour to stay within ~30 min.
        groups = ("tumour",) if "+grow" in label and not all_variants else None
        out.append(Refined(label, make, local, groups))
    return methods + out


def thin_banks():
    """Issue 24's banks for thin structures (ridge strength, local contrast, σ 16)
    under the default fast forest: ``--methods "ours ff bank"`` runs them all (no
    commas in the labels: ``--methods`` splits on them)."""
    from napari_seglab.core.features import PRESETS, FeatureSpec

    blend = PRESETS["blend"].filters

    def bank(*extra):
        return FeatureSpec(blend + tuple((name, float(s)) for name, s in extra))

    ridges = (("ridge", 1), ("ridge", 2), ("ridge", 4))
    return [
        Ours("fast_forest", "ours ff thin bank (+ridges σ1 2 4)", features="thin"),
        Ours("fast_forest", "ours ff bank +ridges σ1 2 4 +contrast σ3.5 8",
             features=bank(*ridges, ("contrast", 3.5), ("contrast", 8))),
        Ours("fast_forest", "ours ff bank +ridges σ0.7-4 +contrast σ8",
             features=bank(("ridge", 0.7), *ridges, ("contrast", 8))),
        Ours("fast_forest", "ours ff bank +ridges +contrast σ3.5 8 +G σ16",
             features=bank(*ridges, ("contrast", 3.5), ("contrast", 8), ("gaussian", 16))),
        Ours("fast_forest", "ours ff bank +context (contrast σ8 G σ16)",
             features=bank(("contrast", 8), ("gaussian", 16))),
        Ours("fast_forest", "ours ff bank +lines σ1 2 4",
             features=bank(("line", 1), ("line", 2), ("line", 4))),
        Ours("fast_forest", "ours ff bank +ridges +lines σ1 2 4 +contrast σ8",
             features=bank(*ridges, ("line", 1), ("line", 2), ("line", 4), ("contrast", 8))),
    ]


# ---------------------------------------------------------------- protocols


def _matched(case):
    """The transfer's test image mapped onto the training image's channels, as a
    model of ours applied to another image does by default (peers do not)."""
    from napari_seglab.core.intensity import channel_stats, match_channels

    return match_channels(case.test_image, channel_stats(case.test_image),
                          channel_stats(case.image))


def run_case(case, methods, draws, rounds, log, generators=("core",)):
    """{generator: {method: {"oneshot": [draw], "rounds": [[score per round] per draw]}}}."""
    feats_cache = {}
    return {g: _run_generator(case, methods, draws, rounds, log, g, feats_cache)
            for g in generators}


def _run_generator(case, methods, draws, rounds, log, generator, feats_cache):
    results = {}
    for method in methods:
        if method.groups is not None and case.group not in method.groups:
            continue
        t0 = time.perf_counter()
        key = method.feature_key()
        if key not in feats_cache:
            feats_cache[key] = (
                method.features(case.image, case.spacing),
                None if case.test_image is None
                else method.features(_matched(case) if not method.peer else case.test_image,
                                     case.spacing))
        F, F_test = feats_cache[key]
        t_feat = time.perf_counter() - t0
        res = {"oneshot": [], "rounds": [], "seconds": 0.0, "feature_seconds": t_feat}
        t0 = time.perf_counter()
        for draw in range(draws):
            seeds = generated_strokes(case.truth, generator, random_state=draw,
                                      **case.strokes)
            model = method.fit(F, seeds)
            if F_test is not None:
                labels = method.predict(model, F_test)
                res["oneshot"].append(score(case, labels, case.test_truth, None))
                continue
            labels = method.predict(model, F)
            trace = [score(case, labels, case.truth, seeds)]
            for r in range(rounds):
                before = seeds
                seeds, _ = correction_stroke(labels, case.truth, seeds, length=15,
                                             random_state=1000 * draw + r)
                model = method.fit(F, seeds)
                new = method.predict(model, F)
                if getattr(method, "local", None) is not None:
                    from napari_seglab.core.refine import local_update

                    new = local_update(labels, new, seeds != before,
                                       radius=method.local or None)
                labels = new
                trace.append(score(case, labels, case.truth, seeds))
            res["oneshot"].append(trace[0])
            res["rounds"].append(trace)
        res["seconds"] = time.perf_counter() - t0
        results[method.name] = res
        if log:
            tr = np.mean(res["rounds"], axis=0) if res["rounds"] else []
            print(f"  {case.name:<16} {generator:<12} {method.name:<34} one-shot {np.mean(res['oneshot']):.3f}"
                  + (" rounds " + " ".join(f"{v:.3f}" for v in tr) if len(tr) else "")
                  + f"  ({t_feat:.1f}+{res['seconds']:.1f} s)", flush=True)
    return results


def _ms(values):
    values = np.asarray(values, float)
    return f"{values.mean():.3f}±{values.std():.3f}" if values.size > 1 else f"{values.mean():.3f}"


def print_tables(cases, all_results, methods, generators=("core",)):
    """Per (case, generator), per kind × generator, per kind, and paired wins."""
    names = [m.name for m in methods]
    width = max(len(n) for n in names) + 2
    runs = [(c, g, all_results[c.name][g]) for c in cases for g in generators]
    print("\n== one-shot (mean ± sd over draws) | after corrections (last round) | "
          "worst drop below start over rounds | rounds not worse than the previous ==")
    for case, gen, results in runs:
        print(f"-- {case.name} [{gen}]")
        for name in names:
            res = results.get(name)
            if res is None:
                continue
            line = f"   {name:<{width}} {_ms(res['oneshot']):>13}"
            if res["rounds"]:
                tr = np.asarray(res["rounds"])
                drop = (tr - tr[:, :1]).min()
                steps = np.diff(tr, axis=1)
                mono = np.mean(steps >= -1e-3)
                line += f" | {_ms(tr[:, -1]):>13} | {drop:+.3f} | {mono:.0%}"
            print(line)
    groups = sorted({c.group for c in cases}, key=[c.group for c in cases].index)

    def group_means(selected):
        out = {}
        for name in names:
            one, last, below = [], [], 0
            for _, _, results in selected:
                res = results.get(name)
                if res is None:
                    continue
                one += res["oneshot"]
                last += [t[-1] for t in res["rounds"]]
                below += sum(t[-1] < t[0] - 1e-3 for t in res["rounds"])
            if one:
                out[name] = (np.mean(one), np.mean(last) if last else None, below, len(last))
        return out

    def show(title, selected):
        print(f"-- {title}")
        for name, (one, last, below, n) in group_means(selected).items():
            print(f"   {name:<{width}} {one:.3f}"
                  + (f" / {last:.3f}  (ends below start {below}/{n})" if last is not None
                     else ""))

    print("\n== per kind × generator: mean one-shot / mean last round")
    for g in groups:
        for gen in generators:
            show(f"{g} [{gen}]", [r for r in runs if r[0].group == g and r[1] == gen])
    print("\n== per kind, every generator: mean one-shot / mean last round")
    for g in groups:
        show(g, [r for r in runs if r[0].group == g])
    ours_names = [m.name for m in methods if not m.peer]
    peer_names = [m.name for m in methods if m.peer]
    print("\n== paired over (case, generator, draw): wins/losses of ours vs each peer "
          "(one-shot; last round), mean difference")
    for o in ours_names:
        for p in peer_names:
            d1, d2 = [], []
            for _, _, results in runs:
                ro, rp = results.get(o), results.get(p)
                if ro is None or rp is None:
                    continue
                d1 += list(np.subtract(ro["oneshot"], rp["oneshot"]))
                d2 += [a[-1] - b[-1] for a, b in zip(ro["rounds"], rp["rounds"], strict=True)]
            if not d1:
                continue
            d1, d2 = np.array(d1), np.array(d2)
            text = f"{np.sum(d1 > 1e-4)}/{np.sum(d1 < -1e-4)} {d1.mean():+.3f}"
            if d2.size:
                text += f"; {np.sum(d2 > 1e-4)}/{np.sum(d2 < -1e-4)} {d2.mean():+.3f}"
            print(f"   {o:<{width}} vs {p:<18} {text}")


def speed(wanted=None):
    """Seconds: a 4 M-voxel volume (features + fit + predict) and a live stroke on 512².

    ``wanted``: substrings of the labels to run (None = all), as ``--methods``.
    """

    def chosen(label):
        return wanted is None or any(w in label for w in wanted)

    import napari_seglab
    from napari_seglab.core.features import compute_features
    from napari_seglab.core.phantoms import scribble_seeds, tissue_phantom
    from napari_seglab.core.pipeline import SeededModel
    from napari_seglab.core.refine import OCTAVES, ContextForest

    def clock(fn):
        t0 = time.perf_counter()
        out = fn()
        return out, time.perf_counter() - t0

    # Warm up: imports, and the compiled tree kernel loaded from numba's cache
    # (a first call in a fresh process costs about 1 s more).
    small, small_truth = tissue_phantom((64, 64), random_state=0)
    for method in ("fast_forest", "blend", "knn"):
        napari_seglab.segment(small, scribble_seeds(small_truth), method)
    volume, truth = tissue_phantom((160, 160, 160), random_state=0)
    seeds = scribble_seeds(truth, strokes_per_class=3, length=20)
    print(f"volume {volume.shape} ({volume.size / 1e6:.1f} M voxels), "
          f"{int((seeds > 0).sum())} seeded voxels")
    for label, run in [
        ("segment fast_forest (default)",
         lambda: napari_seglab.segment(volume, seeds)),
        ("SeededModel fast_forest",
         lambda: SeededModel("fast_forest").fit(volume, seeds).predict(volume)),
        ("segment fast_forest constant kNN share (previous)",
         lambda: napari_seglab.segment(volume, seeds, knn_share="constant")),
        ("skimage RF100 (peer)",
         lambda: _skimage_volume(volume, seeds)),
        ("ours random_forest",
         lambda: SeededModel("random_forest").fit(volume, seeds).predict(volume)),
        ("ours kNN",
         lambda: SeededModel("knn").fit(volume, seeds).predict(volume)),
        ("forest100 oct",
         lambda: _oct(volume, seeds, ContextForest(features=OCTAVES))),
        ("segment context_forest",
         lambda: napari_seglab.segment(volume, seeds, "context_forest")),
        ("context_forest 30 d12",
         lambda: napari_seglab.segment(volume, seeds, "context_forest", n_estimators=30,
                                       max_depth=12)),
        ("segment knn",
         lambda: napari_seglab.segment(volume, seeds, "knn")),
        ("segment blend",
         lambda: napari_seglab.segment(volume, seeds, "blend")),
        ("blend (segment default)",
         lambda: SeededModel("blend").fit(volume, seeds).predict(volume)),
        ("blend kNN+MLP w.4",
         lambda: SeededModel("blend", learner="mlp", knn_weight=0.4).fit(volume, seeds)
         .predict(volume)),
        ("context_forest 30 d12 smooth",
         lambda: napari_seglab.segment(volume, seeds, "context_forest", n_estimators=30,
                                       max_depth=12, features="smooth")),
        # issue 24's banks for thin structures: the whole segment() and the features alone
        ("segment fast_forest thin bank",
         lambda: napari_seglab.segment(volume, seeds, features="thin")),
        ("features blend",
         lambda: compute_features(volume, "blend")),
        ("features thin",
         lambda: compute_features(volume, "thin")),
        ("features blend + lines σ1 2 4",
         lambda: compute_features(volume, thin_banks()[5].spec)),
    ]:
        if not chosen(label):
            continue
        _, seconds = clock(run)
        print(f"  {label:<28} {seconds:7.2f} s", flush=True)
    image, truth2 = tissue_phantom((512, 512), random_state=0)
    seeds2 = scribble_seeds(truth2, strokes_per_class=3, length=20)
    print("live stroke on 512² with cached features (fit + predict):")
    F = compute_features(image, "blend")
    for label, params in [("ours kNN", None),
                          ("fast_forest (default)", "fast_forest"),
                          ("fast_forest constant kNN share (previous)", CONSTANT_SHARE),
                          ("blend (previous default)", {}),
                          ("blend kNN+MLP w.4", {"learner": "mlp", "knn_weight": 0.4})]:
        if not chosen(label):
            continue
        model = (SeededModel("knn") if params is None else SeededModel(params)
                 if isinstance(params, str) else SeededModel("fast_forest", params=params)
                 if params is CONSTANT_SHARE else SeededModel("blend", params=params))
        G = compute_features(image, "smooth") if params is None else F
        run = lambda G=G, model=model: model.fit_inputs(G, seeds2).predict_inputs(G)  # noqa: E731
        run()
        _, seconds = clock(run)
        print(f"  {label:<28} {1000 * seconds:7.0f} ms")
    for label, spec, make in [
        ("ours random_forest", "default", None),
        ("forest100 oct", OCTAVES, lambda: ContextForest(features=OCTAVES)),
    ]:
        if not chosen(label):
            continue
        F = compute_features(image, spec)
        if make is None:
            model = SeededModel("random_forest")
            run = lambda F=F, model=model: model.fit_inputs(F, seeds2).predict_inputs(F)  # noqa: E731
        else:
            run = lambda F=F, make=make: make().fit(F, seeds2).predict(F)  # noqa: E731
        run()
        _, seconds = clock(run)
        print(f"  {label:<28} {1000 * seconds:7.0f} ms")


def _skimage_volume(volume, seeds):
    """scikit-image's trainable segmentation on the whole volume (the peer)."""
    peer = SkimageRF()
    F = peer.features(volume[..., np.newaxis], None)
    return peer.predict(peer.fit(F, seeds), F)


def _oct(volume, seeds, model):
    from napari_seglab.core.features import compute_features

    F = compute_features(volume, model.spec)
    return model.fit(F, seeds).predict(F)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 draw, 2 cases per group")
    parser.add_argument("--cases", default="retina,em,brains,transfer,kesm,tumour")
    parser.add_argument("--split", default="all", choices=("all", "tune", "confirm"),
                        help="tune: DRIVE 21-25, ISBI 0-2, brain subjects 1-2; confirm: "
                        "DRIVE 26-30, ISBI 4-8, subject 3 (KESM and the tumour: both)")
    parser.add_argument("--generators", default="core,inside,border",
                        help="stroke protocols (bench/strokes.py GENERATORS, with "
                        "-few/-many/-short/-long variants), comma-separated")
    parser.add_argument("--draws", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--methods", default=None,
                        help="comma-separated substrings of method names to run")
    parser.add_argument("--json", default=None, help="write all scores here")
    parser.add_argument("--all-variants", action="store_true",
                        help="run every variant on every case (grow on 2D cases too)")
    parser.add_argument("--speed", action="store_true",
                        help="only time the 4 M-voxel volume and a live 512² stroke")
    args = parser.parse_args(argv)
    # scikit-image's predict_segmenter calls joblib's delayed under sklearn's Parallel:
    # one warning per tree, harmless, and it floods the tables.
    warnings.filterwarnings("ignore", message=".*sklearn.utils.parallel.delayed.*")
    if args.speed:
        return speed(args.methods.split(",") if args.methods else None)
    if not DATA.is_dir():
        raise SystemExit(f"{DATA} is absent (the shared data folder)")
    draws = args.draws or (1 if args.quick else 3)
    cases = load_cases(args.cases.split(","), quick=args.quick, split=args.split)
    generators = tuple(args.generators.split(","))
    methods = peers() + ours(args.all_variants)
    if args.methods:
        wanted = args.methods.split(",")
        methods = [m for m in methods if any(w in m.name for w in wanted)]
    t0 = time.perf_counter()
    all_results = {}
    for case in cases:
        all_results[case.name] = run_case(case, methods, draws, args.rounds, log=True,
                                          generators=generators)
    print_tables(cases, all_results, methods, generators)
    print(f"\n{len(cases)} cases × {len(generators)} generators, {draws} draws, "
          f"{args.rounds} rounds: "
          f"{time.perf_counter() - t0:.0f} s")
    if args.json:
        from napari_seglab.core.files import atomic_write

        with atomic_write(args.json, "w", encoding="utf-8") as fh:
            json.dump(all_results, fh, indent=1)


if __name__ == "__main__":
    main()

"""scikit-learn's estimator checks on every segmenter, with the failures we expect and why.

Our estimators follow scikit-learn's conventions where they fit a pixel
classifier: ``y`` is a seed image's labels (integers, 0 = not seeded for the
unsupervised ones), the thresholds read the intensity (and the local one
its neighbourhood statistic too). The checks that probe other contracts are
listed below, per estimator, with the reason; they are strict xfails, so a
check that starts passing shows up.
"""

from __future__ import annotations

import warnings

import pytest
from sklearn.utils.estimator_checks import estimator_checks_generator

from napari_seglab.core.segmenters import SEGMENTERS, make_segmenter

#: Fast settings where the defaults are slow (a 5-tree forest on one thread).
PARAMS = {"manual": {"threshold": 0.5}, "random_forest": {"n_estimators": 5, "n_jobs": 1},
          "context_forest": {"n_estimators": 5, "n_jobs": 1},
          "fast_forest": {"n_estimators": 5, "n_jobs": 1}}
#: The global thresholds come from one factory and differ only in their
#: threshold function: Otsu stands for li, yen, triangle and minimum (whose
#: search on the checks' random data takes seconds), to keep this file fast.
METHODS = [m for m in SEGMENTERS if m not in ("li", "yen", "triangle", "minimum")]

Y_INTEGERS = "y holds seed labels: integers only (the check gives float or string y)"
SEED_Y = ("y is a seed image's labels, 0 = not seeded; the check's y paints more seed "
          "classes than the clusters or components it asks for, which is refused")
THRESHOLD_Y = ("y is a seed image's labels: a threshold takes exactly two seed classes or "
               "none; the check's y has three")
NO_LABELS = ("no labels_ after fit: a label per pixel of a volume would double the fit's "
             "memory; predict gives them")
TWO_COLUMNS = ("the local threshold reads exactly two columns (the intensity and its local "
               "statistic, from its inputs() hook); the check gives another number")

SUPERVISED = {
    "check_classifiers_classes": "string class labels: seeds are integer label images",
    "check_classifiers_one_label": "one seed class is refused: segmenting needs two",
    "check_classifiers_regression_target": "float y is refused as not integer labels "
                                           "(TypeError), not as 'Unknown label type'",
    "check_requires_y_none": "y=None is refused with our seeds message, not sklearn's",
    "check_supervised_y_2d": "y must be 1D, one label per seeded pixel",
    "check_supervised_y_no_nan": "float y is refused by its dtype before any NaN check",
    "check_dtype_object": Y_INTEGERS,
    "check_estimators_nan_inf": Y_INTEGERS,
}
CLUSTERING = {
    "check_clustering": NO_LABELS,
    "check_fit_score_takes_y": NO_LABELS,
    "check_dont_overwrite_parameters": SEED_Y,
    "check_fit2d_1feature": SEED_Y,
    "check_fit2d_predict1d": SEED_Y,
    "check_methods_subset_invariance": SEED_Y,
    "check_dtype_object": Y_INTEGERS,
    "check_estimators_nan_inf": Y_INTEGERS,
}
THRESHOLD = {
    "check_clustering": NO_LABELS,
    "check_fit_score_takes_y": NO_LABELS,
    "check_estimators_pickle": THRESHOLD_Y,
    "check_fit_check_is_fitted": THRESHOLD_Y,
    "check_fit_idempotent": THRESHOLD_Y,
    "check_n_features_in": THRESHOLD_Y,
    "check_pipeline_consistency": THRESHOLD_Y,
    "check_dtype_object": Y_INTEGERS,
    "check_estimators_nan_inf": Y_INTEGERS,
}
EXPECTED_FAILURES = {
    "knn": {**SUPERVISED, "check_dict_unchanged": "the k-d trees are built on the first "
                                                  "predict and kept for the next"},
    "blend": SUPERVISED,
    "nearest_mean": SUPERVISED,
    "random_forest": {**SUPERVISED, "check_class_weight_classifiers":
                      "class_weight is 'balanced', 'balanced_subsample' or None only"},
    "context_forest": {**SUPERVISED, "check_class_weight_classifiers":
                       "class_weight is 'balanced', 'balanced_subsample' or None only"},
    "fast_forest": {**SUPERVISED, "check_class_weight_classifiers":
                    "class_weight is 'balanced', 'balanced_subsample', 'sqrt' or None only"},
    "kmeans": CLUSTERING,
    "gmm": {**CLUSTERING, "check_methods_sample_order_invariance": SEED_Y},
    "manual": {**THRESHOLD, "check_fit2d_1sample": THRESHOLD_Y},
    "otsu": THRESHOLD,
    "local": {**THRESHOLD, **dict.fromkeys(("check_dict_unchanged", "check_dont_overwrite_parameters", "check_estimators_dtypes", "check_f_contiguous_array_estimator", "check_fit2d_1feature", "check_fit2d_1sample", "check_fit2d_predict1d", "check_methods_sample_order_invariance", "check_methods_subset_invariance", "check_n_features_in_after_fitting", "check_positive_only_tag_during_fit"), TWO_COLUMNS)},
}


def _cases():
    for method in METHODS:
        estimator = make_segmenter(method, **PARAMS.get(method, {}))
        for est, check in estimator_checks_generator(estimator, legacy=True):
            name = getattr(check, "func", check).__name__
            reason = EXPECTED_FAILURES[method].get(name)
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            yield pytest.param(est, check, id=f"{method}-{name}", marks=marks)


@pytest.mark.parametrize("estimator, check", list(_cases()))
def test_sklearn_estimator_check(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)

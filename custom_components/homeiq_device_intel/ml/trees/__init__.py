"""Portable tree models as flat numpy arrays, and their vectorised predictors.

- `layout`: the node arrays of a forest (`TreeEnsemble`, from LightGBM) and their validation.
- `predict`: numpy prediction reproducing LightGBM bit for bit (`predict_raw`, `predict_binary_proba`).
- `isolation`: the isolation forest from scikit-learn (`IsolationForestModel`, `score_samples`).

Import each name from the module that defines it. The one exception below is
kept only for `ml/explain.py`, which is being changed elsewhere at the moment:
once that change lands, import these two from `layout` and `predict` there and
delete them here.
"""

from .layout import TreeEnsemble
from .predict import predict_raw

__all__ = ["TreeEnsemble", "predict_raw"]

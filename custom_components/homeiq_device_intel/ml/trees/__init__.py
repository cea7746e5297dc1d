"""Portable tree models as flat numpy arrays, and their vectorised predictors.

- `forest`: the array types and a forest's traversal arrays (`Forest`, `build_forest`).
- `masks`: the leaf-mask tables of forests of small trees (`LeafMasks`, `leaf_masks`).
- `layout`: the node arrays of a forest (`TreeEnsemble`, from LightGBM) and their validation.
- `predict`: numpy prediction, LightGBM bit for bit (`predict_raw`, `predict_binary_proba`).
- `contributions`: what each feature added to a raw score along the tree paths (`path_contributions`).
- `isolation`: the isolation forest from scikit-learn (`IsolationForestModel`, `score_samples`).

Import each name from the module that defines it.
"""

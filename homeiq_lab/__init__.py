"""The offline lab: synthetic homes, datasets, training, evaluation and the model card.

Not shipped: HACS installs only `custom_components/homeiq_device_intel`. The lab
imports the runtime core (`custom_components.homeiq_device_intel.ml`); nothing
in the runtime core imports the lab (`tests/ml/test_layout.py`).
"""

"""The learning core: records, features, labels, models. Pure Python + numpy, no HA imports."""

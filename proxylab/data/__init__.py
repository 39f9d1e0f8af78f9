"""Datasets, splits and the class-balanced batch sampler.

``make_dataset(name, root=None, split=None, seed=0, **params)`` returns a :class:`DatasetSplits`
(``.train``, ``.test``: :class:`LabeledDataset`; ``.info``: JSON-able description). Nothing is
ever downloaded: datasets other than ``synthetic`` and ``digits``/``digits-merged`` (which ships
with scikit-learn) are read from a local ``root``, and a missing one raises :class:`DataError`
saying which file was expected where and how to get it.
"""
from .dataset import DatasetSplits, LabeledDataset, load_image
from .errors import DataError
from .registry import DATASETS, DatasetLoader, list_datasets, make_dataset, register_dataset
from .sampler import ClassBalancedSampler
from .splits import SPLITS

# Importing the loader modules registers them.
from . import synthetic, digits, features, imagefolder, cifar, benchmarks  # noqa: E402,F401

__all__ = ["DataError", "DatasetSplits", "LabeledDataset", "DATASETS", "DatasetLoader", "make_dataset",
           "list_datasets", "register_dataset", "ClassBalancedSampler", "SPLITS", "load_image"]

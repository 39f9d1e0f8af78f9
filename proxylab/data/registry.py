"""Dataset registry: ``make_dataset(name, root=None, split=None, seed=0, **params)``."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from ..params import Interval, InstanceOf, Options, Registry, check_param, validate_params
from .dataset import DatasetSplits
from .errors import DataError
from .splits import SPLITS, Source, per_sample_split, zero_shot_split

DATASETS = Registry("dataset")
register_dataset = DATASETS.register


class DatasetLoader:
    """Base of the registered loaders: reads the whole dataset into a :class:`Source`.

    Subclasses set ``parameter_constraints`` (their own keyword parameters), ``default_split``,
    ``needs_root`` with ``root_help`` (what ``root`` must be and how to get the data), and implement
    :meth:`load`.
    """

    parameter_constraints: ClassVar[dict[str, list]] = {}
    default_split: ClassVar[str] = "zero-shot"
    needs_root: ClassVar[bool] = True
    root_help: ClassVar[str] = ""

    @classmethod
    def load(cls, root: Path | None, seed: int, **params: Any) -> Source:
        raise NotImplementedError


def make_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    split: str | None = None,
    seed: int = 0,
    test_fraction: float = 0.3,
    **params: Any,
) -> DatasetSplits:
    """Load a registered dataset and split it into train and test.

    Parameters
    ----------
    name : str
        One of :func:`list_datasets`.
    root : str or PathLike, optional
        Local folder (or file, for ``features``) holding the data; nothing is ever downloaded.
    split : {"zero-shot", "per-sample"}, optional
        ``zero-shot``: the first half of the classes train, the rest test (disjoint classes, the
        DML standard; SOP splits by its files). ``per-sample``: the same classes on both sides,
        stratified by ``test_fraction`` (CIFAR-100 uses its own train/test files). Default: the
        dataset's ``default_split`` (``per-sample`` for ``synthetic`` and ``digits-merged``,
        whose modes are meant to be covered by the proxies of their own class).
    seed : int, default=0
        Seeds data generation (``synthetic``) and the per-sample split.
    test_fraction : float, default=0.3
        Share of every class that goes to test in a stratified per-sample split.
    **params
        The dataset's own parameters (see each loader's docstring).

    Returns
    -------
    DatasetSplits

    Raises
    ------
    ValueError
        Unknown name or parameter, or a parameter value outside its constraints.
    DataError
        Missing or malformed files.
    """
    loader = DATASETS.get(name)
    validate_params(f"dataset {name!r}", loader.parameter_constraints, params)
    check_param("split", split, [Options(SPLITS), None])
    check_param("seed", seed, [Interval(int, 0, None)])
    check_param("test_fraction", test_fraction, [Interval(float, 0, 1, closed="neither")])
    check_param("root", root, [InstanceOf(str, os.PathLike, label="path"), None])
    if root is None and loader.needs_root:
        raise DataError(f"dataset {name!r} needs root=PATH: {loader.root_help}")
    split = split or loader.default_split
    source = loader.load(None if root is None else Path(root).expanduser(), seed, **params)
    if split == "zero-shot":
        train, test = zero_shot_split(source)
    else:
        train, test = per_sample_split(source, test_fraction, seed)
    info = {
        "name": name,
        "root": None if root is None else str(root),
        "split": split,
        "seed": seed,
        "test_fraction": test_fraction if split == "per-sample" and source.official_test is None else None,
        "params": dict(params),
        "description": source.description,
        "input_shape": list(train.input_shape),
        "has_modes": bool(source.mode_names),
        "class_names": {"train": train.class_names, "test": test.class_names},
        "mode_names": list(source.mode_names),
        "num_samples": {"train": len(train), "test": len(test)},
    }
    return DatasetSplits(train=train, test=test, info=info)


def list_datasets() -> list[str]:
    """Names accepted by :func:`make_dataset`."""
    return DATASETS.names()

"""Every registered dataset, built from a fake local layout where it needs files, obeys the Data contract."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from proxylab.data import DataError, DatasetSplits, LabeledDataset, list_datasets, make_dataset


# -- fake local layouts --------------------------------------------------------------------------
def write_png(path: Path, seed: int, size: tuple[int, int] = (12, 10)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def fake_features(tmp: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp / "feats.npz"
    y = np.repeat(np.array(["ant", "bee", "cat", "dog"]), 6)
    np.savez(path, X=rng.standard_normal((24, 5)).astype(np.float32), y=y, modes=np.arange(24) % 2)
    return path


def fake_imagefolder(tmp: Path) -> Path:
    root = tmp / "folder"
    for c, name in enumerate(["apple", "kiwi", "lime", "plum"]):
        for i in range(3):
            write_png(root / name / f"{i}.png", 10 * c + i)
    return root


def fake_cifar100(tmp: Path, train_per_class: int = 2, test_per_class: int = 1) -> Path:
    folder = tmp / "cifar" / "cifar-100-binary"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, per_class in (("train.bin", train_per_class), ("test.bin", test_per_class)):
        coarse = np.repeat(np.arange(20), per_class)
        fine = coarse * 5 + np.arange(len(coarse)) % 5
        pixels = rng.integers(0, 256, (len(coarse), 3072), dtype=np.uint8)
        np.concatenate([coarse[:, None], fine[:, None], pixels], axis=1).astype(np.uint8).tofile(folder / name)
    (folder / "coarse_label_names.txt").write_text("\n".join(f"coarse_{i}" for i in range(20)) + "\n")
    return tmp / "cifar"


def fake_cub200(tmp: Path) -> Path:
    folder = tmp / "cub" / "CUB_200_2011"
    images, labels, classes = [], [], []
    for c in range(1, 5):
        classes.append(f"{c} {c:03d}.Bird_{c}")
        for i in range(3):
            image_id = len(images) + 1
            rel = f"{c:03d}.Bird_{c}/bird_{c}_{i}.jpg"
            write_png(folder / "images" / rel, image_id)
            images.append(f"{image_id} {rel}")
            labels.append(f"{image_id} {c}")
    (folder / "images.txt").write_text("\n".join(images) + "\n")
    (folder / "image_class_labels.txt").write_text("\n".join(labels) + "\n")
    (folder / "classes.txt").write_text("\n".join(classes) + "\n")
    return tmp / "cub"


def fake_cars196(tmp: Path) -> Path:
    root = tmp / "cars"
    annotations = np.zeros(12, dtype=[("relative_im_path", "O"), ("class", "O"), ("test", "O")])
    for i in range(12):
        rel = f"car_ims/{i + 1:06d}.jpg"
        write_png(root / rel, i)
        annotations[i] = (rel, np.uint8(i // 3 + 1), np.uint8(i % 2))
    names = np.array(["Audi A4", "BMW M3", "Fiat 500", "VW Golf"], dtype=object)
    scipy.io.savemat(root / "cars_annos.mat", {"annotations": annotations[None], "class_names": names[None]})
    return root


def fake_sop(tmp: Path) -> Path:
    folder = tmp / "sop" / "Stanford_Online_Products"
    image_id = 0
    for file_name, class_ids in (("Ebay_train.txt", [1, 2, 3]), ("Ebay_test.txt", [4, 5])):
        lines = ["image_id class_id super_class_id path"]
        for cid in class_ids:
            for i in range(2):
                image_id += 1
                rel = f"chair_final/{1000 + cid}_{i}.JPG"
                write_png(folder / rel, image_id)
                lines.append(f"{image_id} {cid} 1 {rel}")
        (folder / file_name).write_text("\n".join(lines) + "\n")
    return tmp / "sop"


# name -> (how to build its root, params); a dataset missing here fails test_every_dataset_is_covered.
FAKES = {
    "synthetic": (None, dict(num_classes=4, modes_per_class=2, samples_per_mode=10)),
    "digits": (None, {}),
    "digits-merged": (None, dict(as_images=True)),
    "features": (fake_features, {}),
    "imagefolder": (fake_imagefolder, dict(image_size=8)),
    "cifar100": (fake_cifar100, {}),
    "cub200": (fake_cub200, dict(image_size=8)),
    "cars196": (fake_cars196, dict(image_size=8, grayscale=True)),
    "sop": (fake_sop, dict(image_size=8)),
}


def build(name: str, tmp_path: Path, split: str | None = None, **extra) -> DatasetSplits:
    make_root, params = FAKES[name]
    root = make_root(tmp_path) if make_root else None
    return make_dataset(name, root=root, split=split, **params, **extra)


def test_every_dataset_is_covered():
    assert sorted(FAKES) == list_datasets()


def _check_split(ds: LabeledDataset) -> None:
    assert isinstance(ds, LabeledDataset) and isinstance(ds, torch.utils.data.Dataset)
    n = len(ds)
    assert n > 0 and ds.labels.shape == (n,) and ds.modes.shape == (n,)
    assert ds.labels.dtype == np.int64 and ds.modes.dtype == np.int64
    # labels contiguous 0..C-1, every class present
    assert np.array_equal(np.unique(ds.labels), np.arange(len(ds.class_names)))
    x, y = ds[n - 1]
    assert isinstance(x, torch.Tensor) and x.dtype == torch.float32 and tuple(x.shape) == ds.input_shape
    assert isinstance(y, int) and y == ds.labels[n - 1]
    assert torch.isfinite(x).all()
    xb, yb = ds.get_batch([0, n - 1])
    assert xb.shape == (2, *ds.input_shape) and torch.equal(xb[1], x) and yb.tolist() == [ds.labels[0], y]


@pytest.mark.parametrize("name", sorted(FAKES))
@pytest.mark.parametrize("split", ["zero-shot", "per-sample"])
def test_contract(name, split, tmp_path):
    splits = build(name, tmp_path, split)
    for ds in (splits.train, splits.test):
        _check_split(ds)
    assert splits.train.input_shape == splits.test.input_shape
    info = json.loads(json.dumps(splits.info))  # JSON-able
    assert info["name"] == name and info["split"] == split
    assert info["class_names"] == {"train": splits.train.class_names, "test": splits.test.class_names}
    assert info["num_samples"] == {"train": len(splits.train), "test": len(splits.test)}
    assert tuple(info["input_shape"]) == splits.train.input_shape
    assert info["has_modes"] == bool(info["mode_names"])
    for ds in (splits.train, splits.test):
        if info["has_modes"]:
            assert ds.modes.min() >= 0 and ds.modes.max() < len(info["mode_names"])
        else:
            assert (ds.modes == -1).all()
    if split == "zero-shot":
        assert not set(splits.train.class_names) & set(splits.test.class_names)
    else:
        assert splits.train.class_names == splits.test.class_names


@pytest.mark.parametrize("name", ["imagefolder", "cub200", "cars196", "sop"])
def test_image_datasets_keep_their_files(name, tmp_path):
    splits = build(name, tmp_path, "zero-shot")
    for ds in (splits.train, splits.test):
        assert len(ds.image_paths) == len(ds) and all(Path(p).is_file() for p in ds.image_paths)
        x, _ = ds[0]
        assert 0 <= x.min() and x.max() <= 1
    channels = 1 if name == "cars196" else 3
    assert splits.train.input_shape == (channels, 8, 8)


def test_standard_zero_shot_class_splits(tmp_path):
    cub = build("cub200", tmp_path, "zero-shot")
    assert cub.train.class_names == ["001.Bird_1", "002.Bird_2"] and cub.test.class_names == ["003.Bird_3", "004.Bird_4"]
    cars = build("cars196", tmp_path, "zero-shot")
    assert cars.train.class_names == ["Audi A4", "BMW M3"] and cars.test.class_names == ["Fiat 500", "VW Golf"]
    sop = build("sop", tmp_path, "zero-shot")  # by file: 3 train classes, 2 test classes
    assert sop.train.class_names == ["chair/1001", "chair/1002", "chair/1003"]
    assert sop.test.class_names == ["chair/1004", "chair/1005"]
    digits = make_dataset("digits", split="zero-shot")
    assert digits.train.class_names == list("01234") and digits.test.class_names == list("56789")


def test_cifar100_labels_and_official_split(tmp_path):
    root = fake_cifar100(tmp_path, train_per_class=3, test_per_class=2)
    per_sample = make_dataset("cifar100", root=root, split="per-sample")
    assert (len(per_sample.train), len(per_sample.test)) == (60, 40)  # the files, not test_fraction
    assert per_sample.train.class_names[:2] == ["coarse_0", "coarse_1"]
    assert per_sample.info["mode_names"][:2] == ["fine0", "fine1"]  # no fine_label_names.txt: generated names
    # fine label = mode; coarse = class, and fine // 5 == coarse in the fake data
    assert np.array_equal(per_sample.train.modes // 5, per_sample.train.labels)
    x, _ = per_sample.train[0]
    raw = np.fromfile(root / "cifar-100-binary" / "train.bin", dtype=np.uint8)[2:3074].reshape(3, 32, 32)
    assert torch.allclose(x, torch.from_numpy(raw / 255).float())
    zero_shot = make_dataset("cifar100", root=root)
    assert zero_shot.train.num_classes == zero_shot.test.num_classes == 10
    assert len(zero_shot.train) + len(zero_shot.test) == 100


def test_digits_variants():
    flat = make_dataset("digits", split="per-sample")
    assert flat.train.input_shape == (64,) and not flat.info["has_modes"]
    merged = make_dataset("digits-merged")
    assert merged.info["split"] == "per-sample"  # its natural default
    assert merged.train.class_names == ["068", "17", "235", "49"]
    for ds in (merged.train, merged.test):
        names = np.array(ds.class_names)[ds.labels]
        assert all(str(mode) in name for mode, name in zip(ds.modes, names))  # mode = original digit
    x, _ = merged.train[0]
    assert 0 <= x.min() and x.max() <= 1
    custom = make_dataset("digits-merged", groups=[[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]])
    assert custom.train.class_names == ["01234", "56789"]
    with pytest.raises(ValueError, match="partition the digits"):
        make_dataset("digits-merged", groups=[[0, 1], [1, 2, 3, 4, 5, 6, 7, 8, 9]])


def test_per_sample_split_is_stratified_and_seeded():
    a = make_dataset("synthetic", split="per-sample", seed=3, test_fraction=0.25)
    b = make_dataset("synthetic", split="per-sample", seed=3, test_fraction=0.25)
    c = make_dataset("synthetic", split="per-sample", seed=4, test_fraction=0.25)
    assert np.array_equal(a.train.features, b.train.features) and np.array_equal(a.test.modes, b.test.modes)
    assert not np.array_equal(a.train.features, c.train.features)
    assert np.array_equal(np.bincount(a.test.labels), np.full(6, 75))  # round(300 * 0.25) per class
    assert len(a.train) + len(a.test) == 1800
    # no sample in both splits
    rows = {r.tobytes() for r in a.train.features}
    assert not any(r.tobytes() in rows for r in a.test.features)


def test_zero_shot_needs_four_classes():
    with pytest.raises(DataError, match="at least 2 train and 2 test classes"):
        make_dataset("synthetic", split="zero-shot", num_classes=3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(name="nope"), "unknown dataset 'nope'; valid: cars196"),
        (dict(name="synthetic", split="random"), "split must be one of 'zero-shot', 'per-sample' or None"),
        (dict(name="synthetic", test_fraction=1.0), "test_fraction must be a float > 0 and < 1, got 1.0"),
        (dict(name="synthetic", seed=-1), "seed must be an int >= 0, got -1"),
        (dict(name="synthetic", spread=0), "spread must be a float > 0, got 0"),
        (dict(name="synthetic", colour=1), "unknown parameter 'colour'"),
        (dict(name="synthetic", dim=3, modes_per_class=3), "dim must be >= modes_per_class \\+ 1 = 4"),
        (dict(name="digits", as_images="yes"), "as_images must be a bool, got 'yes'"),
        (dict(name="cub200"), "dataset 'cub200' needs root=PATH: download CUB_200_2011.tgz"),
    ],
)
def test_bad_parameters_one_line(kwargs, message):
    name = kwargs.pop("name")
    with pytest.raises(ValueError, match=message) as err:
        make_dataset(name, **kwargs)
    assert "\n" not in str(err.value)

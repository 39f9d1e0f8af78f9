"""Bring-your-own files and benchmark layouts: what is read, and a one-line DataError naming the file for
every malformed or missing input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.io

from proxylab.data import DataError, make_dataset
from test_data import fake_cars196, fake_cifar100, fake_cub200, fake_imagefolder, fake_sop, write_png


def data_error(root, match, name="features", **kwargs):
    with pytest.raises(DataError, match=match) as err:
        make_dataset(name, root=root, **kwargs)
    message = str(err.value)
    assert "\n" not in message
    return message


# -- features: what is read -----------------------------------------------------------------------
def test_csv_with_string_labels_and_modes(tmp_path):
    path = tmp_path / "f.csv"
    frame = pd.DataFrame({"a": np.arange(8.0), "b": np.arange(8) * 2, "label": list("xxyyzzww"),
                          "mode": ["p", "q"] * 4})
    frame.to_csv(path, index=False)
    splits = make_dataset("features", root=path, split="per-sample", test_fraction=0.5)
    assert splits.train.class_names == ["w", "x", "y", "z"]  # alphabetical class order
    assert splits.info["mode_names"] == ["p", "q"]
    assert splits.train.input_shape == (2,)
    x, y = splits.train[0]
    row = frame.iloc[int(np.flatnonzero((frame["label"] == splits.train.class_names[y]).to_numpy())[0])]
    assert x.tolist() in ([row["a"], row["b"]], [row["a"] + 1, row["b"] + 2])  # one of the class's two rows


def test_parquet_integer_labels(tmp_path):
    path = tmp_path / "f.parquet"
    pd.DataFrame({"f0": np.linspace(0, 1, 12), "label": np.repeat([7, 3, 5, 9], 3)}).to_parquet(path)
    splits = make_dataset("features", root=path, split="zero-shot")
    assert splits.train.class_names == ["3", "5"] and splits.test.class_names == ["7", "9"]
    assert not splits.info["has_modes"]


def test_npz_image_features_and_unknown_modes(tmp_path):
    path = tmp_path / "imgs.npz"
    modes = np.array([0, 1, -1, 0, 1, -1, 2, 2])
    np.savez(path, X=np.ones((8, 1, 4, 4), np.uint8), y=np.repeat([0, 1], 4), modes=modes)
    splits = make_dataset("features", root=path, split="per-sample", test_fraction=0.5)
    assert splits.train.input_shape == (1, 4, 4)
    all_modes = np.concatenate([splits.train.modes, splits.test.modes])
    assert sorted(all_modes.tolist()) == sorted(modes.tolist())  # -1 stays unknown, ids 0..2 kept


# -- features: every malformed input ----------------------------------------------------------------
def _npz(tmp_path, **arrays):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


GOOD_X, GOOD_Y = np.zeros((6, 3), np.float32), np.array([0, 0, 1, 1, 2, 2])


@pytest.mark.parametrize(
    "arrays, match",
    [
        (dict(X=GOOD_X), r"expected arrays 'X' and 'y'.*missing \['y'\]"),
        (dict(X=GOOD_X, y=GOOD_Y[:5]), r"labels must have shape \(6,\) to match the features, got \(5,\)"),
        (dict(X=np.zeros(6), y=GOOD_Y), r"features X must have shape \(N, F\)"),
        (dict(X=np.zeros((0, 3)), y=np.zeros(0, int)), "no samples"),
        (dict(X=np.where(np.eye(6, 3) > 0, np.nan, 0.0), y=GOOD_Y), "NaN or inf in 3 rows, first row 0"),
        (dict(X=np.full((6, 3), np.inf), y=GOOD_Y), "NaN or inf in 6 rows"),
        (dict(X=GOOD_X, y=np.zeros(6, int)), r"labels must hold at least 2 classes, got 1 \('0'\)"),
        (dict(X=GOOD_X, y=GOOD_Y.astype(float)), "labels must be integers or strings, got floats"),
        (dict(X=GOOD_X, y=GOOD_Y.astype(bool)), "labels must be integers or strings"),
        (dict(X=GOOD_X.astype(str), y=GOOD_Y), "features must be real numbers, got dtype <U"),
        (dict(X=GOOD_X + 1j, y=GOOD_Y), "features must be real numbers, got dtype complex"),
        (dict(X=GOOD_X, y=np.array([1, "a", None, 2, 3, 4], dtype=object)), "'y' is an object .pickled. array"),
        (dict(X=GOOD_X, y=GOOD_Y, modes=np.zeros(5, int)), r"modes must have shape \(6,\)"),
        (dict(X=GOOD_X, y=-GOOD_Y), "labels must be >= 0, got -2"),
    ],
)
def test_malformed_npz(tmp_path, arrays, match):
    path = _npz(tmp_path, **arrays)
    assert str(path) in data_error(path, match, split="per-sample")


@pytest.mark.parametrize(
    "content, match",
    [
        ("", "the file is empty"),
        ("a,b,label\n", "no rows"),
        ("a,b\n1,2\n3,4\n", r"expected a 'label' column \(and optional 'mode'\), found columns \['a', 'b'\]"),
        ("a,label\nabc,0\n1,0\n2,1\n3,1\n", r"row 0, column 'a': could not parse 'abc' as a number"),
        ("a,label\n1,0\n,0\n2,1\n3,1\n", "NaN or inf in 1 rows, first row 1"),
        ("a,label\n1,0.5\n2,0.5\n2,1\n3,1\n", "labels must be integers or strings, got floats"),
        ("a,label\n1,0\n2,\n2,1\n3,1\n", "labels must be integers or strings, got floats"),  # a missing label
        ("label,mode\n0,1\n1,1\n", "no feature columns"),
        ('a,label\n1,0\n2,"x\n', "not a readable .csv table"),
    ],
)
def test_malformed_csv(tmp_path, content, match):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    data_error(path, match)


def test_corrupt_and_missing_feature_files(tmp_path):
    not_zip = tmp_path / "x.npz"
    not_zip.write_bytes(b"not a zip archive at all")
    data_error(not_zip, "not a readable .npz file")
    bad_parquet = tmp_path / "x.parquet"
    bad_parquet.write_bytes(b"PAR1 garbage")
    data_error(bad_parquet, "not a readable .parquet table")
    data_error(tmp_path / "nope.csv", "features file not found")
    data_error(tmp_path / "x.txt", "expected a .npz, .csv or .parquet file, got suffix '.txt'")
    with pytest.raises(DataError, match="dataset 'features' needs root=PATH: the path of a .npz"):
        make_dataset("features")


def test_per_sample_needs_two_samples_per_class(tmp_path):
    path = _npz(tmp_path, X=np.zeros((5, 2)), y=np.array([0, 0, 1, 1, 2]))
    data_error(path, "per-sample' needs at least 2 samples per class, class '2' has 1", split="per-sample")


# -- image folders and benchmark layouts ------------------------------------------------------------
def test_imagefolder_problems(tmp_path):
    data_error(tmp_path / "missing", "imagefolder: expected the folder", name="imagefolder")
    root = fake_imagefolder(tmp_path)
    (root / "empty_class").mkdir()
    (root / "empty_class" / "notes.txt").write_text("no images here")
    data_error(root, "empty_class: class folder holds no images", name="imagefolder")
    one = tmp_path / "one"
    write_png(one / "only" / "a.png", 0)
    data_error(one, "expected at least 2 class sub-folders of images, found 1", name="imagefolder")


def test_corrupt_image_is_reported_on_access(tmp_path):
    root = fake_imagefolder(tmp_path)
    (root / "apple" / "0.png").write_bytes(b"\x89PNG broken")
    splits = make_dataset("imagefolder", root=root, split="per-sample", test_fraction=0.5)
    ds = splits.train if any(p.endswith("apple/0.png") for p in splits.train.image_paths) else splits.test
    index = next(i for i, p in enumerate(ds.image_paths) if p.endswith("apple/0.png"))
    with pytest.raises(DataError, match="apple/0.png: cannot read the image"):
        ds[index]


def test_cifar100_problems(tmp_path):
    message = data_error(tmp_path, "cifar100: expected the file .*cifar-100-binary/train.bin", name="cifar100")
    assert "cifar-100-binary.tar.gz" in message  # says how to get it
    root = fake_cifar100(tmp_path)
    (root / "cifar-100-binary" / "test.bin").write_bytes(b"\x00" * 100)
    data_error(root, "size 100 bytes is not a positive multiple of the 3074-byte", name="cifar100")
    record = np.zeros(3074, np.uint8)
    record[0] = 25
    record.tofile(root / "cifar-100-binary" / "test.bin")
    data_error(root, "labels out of range", name="cifar100")


def test_cub200_problems(tmp_path):
    message = data_error(tmp_path / "none", "cub200: expected the folder", name="cub200")
    assert "CUB_200_2011.tgz" in message
    root = fake_cub200(tmp_path)
    folder = root / "CUB_200_2011"
    (folder / "image_class_labels.txt").unlink()
    data_error(root, "cub200: expected the file .*image_class_labels.txt", name="cub200")
    (folder / "image_class_labels.txt").write_text("1 1\n2\n")
    data_error(root, r"image_class_labels.txt:2: expected 2 fields, got '2'", name="cub200")
    (folder / "image_class_labels.txt").write_text("1 1\n")
    data_error(root, "no class for image id 2", name="cub200")
    (folder / "image_class_labels.txt").write_text("".join(f"{i} {(i - 1) // 3 + 1}\n" for i in range(1, 13)))
    next((folder / "images").rglob("*.jpg")).unlink()
    data_error(root, "cub200: 1 of 12 listed images are missing", name="cub200")


def test_cars196_problems(tmp_path):
    message = data_error(tmp_path, "cars196: expected the file .*cars_annos.mat", name="cars196")
    assert "car_ims" in message
    root = fake_cars196(tmp_path)
    (root / "cars_annos.mat").write_bytes(b"MATLAB 5.0 garbage")
    data_error(root, "cars_annos.mat: expected a MATLAB file with an 'annotations' struct", name="cars196")
    scipy.io.savemat(root / "cars_annos.mat", {"other": np.zeros(3)})
    data_error(root, "expected a MATLAB file with an 'annotations' struct array", name="cars196")


def test_sop_problems(tmp_path):
    message = data_error(tmp_path, "sop: expected the file .*Ebay_train.txt", name="sop")
    assert "Stanford_Online_Products.zip" in message
    root = fake_sop(tmp_path)
    index = root / "Stanford_Online_Products" / "Ebay_test.txt"
    index.write_text("image_id class_id super_class_id path\n9 x 1 chair_final/1004_0.JPG\n")
    data_error(root, "Ebay_test.txt: class_id must be an integer, got 'x'", name="sop")
    index.write_text("image_id class_id super_class_id path\n")
    data_error(root, "Ebay_test.txt: the index file lists no images", name="sop")

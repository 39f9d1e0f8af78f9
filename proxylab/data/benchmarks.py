"""The DML benchmarks from their standard local layouts: ``cub200``, ``cars196``, ``sop``.

Zero-shot splits are the standard ones: CUB-200-2011 classes 1-100 | 101-200, Cars196 1-98 |
99-196 (the first half of the class ids in both cases), Stanford Online Products by its files
(Ebay_train.txt | Ebay_test.txt). ``per-sample`` pools all images and stratifies. Images are read
on access (centre crop + resize to ``image_size``); no modes are known.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .dataset import LabeledDataset
from .errors import DataError
from .imagefolder import IMAGE_PARAMS, require_dir
from .registry import DatasetLoader, register_dataset
from .splits import Source

CUB_HELP = ("download CUB_200_2011.tgz from https://www.vision.caltech.edu/datasets/cub_200_2011/ and extract it "
            "into root (root/CUB_200_2011/images.txt, image_class_labels.txt, images/)")
CARS_HELP = ("get the Stanford Cars 'car_ims' images and cars_annos.mat (ai.stanford.edu/~jkrause/cars/car_dataset.html, "
             "mirrored on Kaggle/academic torrents) into root (root/cars_annos.mat, root/car_ims/)")
SOP_HELP = ("download Stanford_Online_Products.zip (cvgl.stanford.edu/projects/lifted_struct/) and extract it into "
            "root (root/Stanford_Online_Products/Ebay_train.txt, Ebay_test.txt and the image folders)")


def _dataset_dir(root: Path, name: str) -> Path:
    """``root/name`` if it exists, else ``root`` itself (the user may point at either)."""
    return root / name if (root / name).is_dir() else root


def _read_rows(path: Path, num_cols: int, help_text: str, dataset: str, header: bool = False) -> list[list[str]]:
    """Whitespace-separated rows of a text index file (``num_cols`` fields each)."""
    if not path.is_file():
        raise DataError(f"{dataset}: expected the file {path} ({help_text})")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    rows = []
    for number, line in enumerate(lines[1:] if header else lines, start=2 if header else 1):
        if not line.strip():
            continue
        fields = line.split(maxsplit=num_cols - 1)
        if len(fields) != num_cols:
            raise DataError(f"{path}:{number}: expected {num_cols} fields, got {line.strip()!r}")
        rows.append(fields)
    if not rows:
        raise DataError(f"{path}: the index file lists no images")
    return rows


def _int(value: str, path: Path, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise DataError(f"{path}: {what} must be an integer, got {value!r}") from None


def _check_images_exist(paths: list[Path], dataset: str) -> None:
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DataError(f"{dataset}: {len(missing)} of {len(paths)} listed images are missing, e.g. {missing[0]}")


def _by_class_id(paths: list[Path], class_ids: np.ndarray, names: dict[int, str], **image_params) -> LabeledDataset:
    """Dataset with labels 0..C-1 in increasing class-id order."""
    ids, labels = np.unique(class_ids, return_inverse=True)
    return LabeledDataset(labels, [names[int(i)] for i in ids], image_paths=paths, **image_params)


@register_dataset("cub200")
class Cub200Loader(DatasetLoader):
    """CUB-200-2011 (11,788 bird images, 200 classes).

    Parameters
    ----------
    image_size : int, default=32
    grayscale : bool, default=False
    """

    root_help = CUB_HELP
    parameter_constraints = IMAGE_PARAMS

    @classmethod
    def load(cls, root: Path | None, seed: int, image_size: int = 32, grayscale: bool = False) -> Source:
        folder = _dataset_dir(root, "CUB_200_2011")
        require_dir(folder, "cub200", CUB_HELP)
        images = _read_rows(folder / "images.txt", 2, CUB_HELP, "cub200")
        class_of = {i: c for i, c in _read_rows(folder / "image_class_labels.txt", 2, CUB_HELP, "cub200")}
        missing = [i for i, _ in images if i not in class_of]
        if missing:
            raise DataError(f"{folder / 'image_class_labels.txt'}: no class for image id {missing[0]}")
        paths = [folder / "images" / rel for _, rel in images]
        _check_images_exist(paths, "cub200")
        class_ids = np.array([_int(class_of[i], folder / "image_class_labels.txt", "class id") for i, _ in images])
        # Class names: classes.txt when present, else the image's folder ("001.Black_footed_Albatross").
        names = {int(cid): Path(rel).parent.name for cid, (_, rel) in zip(class_ids, images)}
        if (folder / "classes.txt").is_file():
            names.update({_int(i, folder / "classes.txt", "class id"): n
                          for i, n in _read_rows(folder / "classes.txt", 2, CUB_HELP, "cub200")})
        data = _by_class_id(paths, class_ids, names, image_size=image_size, grayscale=grayscale)
        return Source(data, f"CUB-200-2011: {len(paths)} images, {data.num_classes} classes, resized to {image_size}px")


@register_dataset("cars196")
class Cars196Loader(DatasetLoader):
    """Stanford Cars (16,185 images, 196 classes) from ``cars_annos.mat`` + ``car_ims/``.

    ``cars_annos.mat`` is read with ``scipy.io.loadmat`` (a MATLAB file, no pickle): its
    ``annotations`` struct array gives ``relative_im_path`` and ``class`` (1-196), and
    ``class_names`` the names when present.

    Parameters
    ----------
    image_size : int, default=32
    grayscale : bool, default=False
    """

    root_help = CARS_HELP
    parameter_constraints = IMAGE_PARAMS

    @classmethod
    def load(cls, root: Path | None, seed: int, image_size: int = 32, grayscale: bool = False) -> Source:
        from scipy.io import loadmat

        require_dir(root, "cars196", CARS_HELP)
        mat_path = root / "cars_annos.mat"
        if not mat_path.is_file():
            raise DataError(f"cars196: expected the file {mat_path} ({CARS_HELP})")
        try:
            mat = loadmat(mat_path, squeeze_me=True)
            annotations = np.atleast_1d(mat["annotations"])
            rel_paths = [str(p) for p in annotations["relative_im_path"]]
            class_ids = np.array([int(c) for c in annotations["class"]], dtype=np.int64)
        except Exception as exc:  # scipy errors, a missing struct field, non-integer classes: all "malformed"
            raise DataError(f"{mat_path}: expected a MATLAB file with an 'annotations' struct array holding "
                            f"relative_im_path and class ({type(exc).__name__}: {exc})".replace("\n", " ")) from None
        if len(rel_paths) == 0:
            raise DataError(f"{mat_path}: the annotations list no images")
        paths = [root / p for p in rel_paths]
        _check_images_exist(paths, "cars196")
        class_names = [str(n) for n in np.atleast_1d(mat.get("class_names", []))]
        names = {int(c): class_names[c - 1] if 0 < c <= len(class_names) else f"class {c}" for c in np.unique(class_ids)}
        data = _by_class_id(paths, class_ids, names, image_size=image_size, grayscale=grayscale)
        return Source(data, f"Cars196: {len(paths)} images, {data.num_classes} classes, resized to {image_size}px")


@register_dataset("sop")
class SopLoader(DatasetLoader):
    """Stanford Online Products (120,053 images, 22,634 products); zero-shot split by its files.

    Parameters
    ----------
    image_size : int, default=32
    grayscale : bool, default=False
    """

    root_help = SOP_HELP
    parameter_constraints = IMAGE_PARAMS

    @classmethod
    def load(cls, root: Path | None, seed: int, image_size: int = 32, grayscale: bool = False) -> Source:
        folder = _dataset_dir(root, "Stanford_Online_Products")
        require_dir(folder, "sop", SOP_HELP)
        paths, class_ids, train_ids, names = [], [], set(), {}
        for file_name in ("Ebay_train.txt", "Ebay_test.txt"):
            index = folder / file_name
            for _, class_id, _, rel in _read_rows(index, 4, SOP_HELP, "sop", header=True):
                cid = _int(class_id, index, "class_id")
                paths.append(folder / rel)
                class_ids.append(cid)
                # "bicycle_final/111085122871_0.JPG" -> "bicycle/111085122871"
                names[cid] = f"{Path(rel).parent.name.removesuffix('_final')}/{Path(rel).stem.rsplit('_', 1)[0]}"
                if file_name == "Ebay_train.txt":
                    train_ids.add(cid)
        _check_images_exist(paths, "sop")
        class_ids = np.array(class_ids, dtype=np.int64)
        data = _by_class_id(paths, class_ids, names, image_size=image_size, grayscale=grayscale)
        sorted_ids = np.unique(class_ids)
        train_classes = np.flatnonzero(np.isin(sorted_ids, list(train_ids)))
        return Source(data, f"Stanford Online Products: {len(paths)} images, {data.num_classes} products, resized to "
                            f"{image_size}px; zero-shot split by Ebay_train.txt | Ebay_test.txt",
                      zero_shot_train_classes=train_classes)

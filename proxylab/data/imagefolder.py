"""``imagefolder``: ``root/<class>/<image>`` (torchvision's ImageFolder layout); class = folder."""
from __future__ import annotations

from pathlib import Path

from ..params import BOOL, Interval
from .dataset import LabeledDataset
from .errors import DataError
from .registry import DatasetLoader, register_dataset
from .splits import Source

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
IMAGE_PARAMS = {"image_size": [Interval(int, 4, 1024)], "grayscale": [BOOL]}


def is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def require_dir(path: Path, dataset: str, how_to_get: str) -> None:
    """Raise the one-line DataError of a missing dataset folder."""
    if not path.is_dir():
        raise DataError(f"{dataset}: expected the folder {path} ({how_to_get})")


@register_dataset("imagefolder")
class ImageFolderLoader(DatasetLoader):
    """Images in ``root/<class name>/*.png|jpg|...`` (sub-folders of a class folder are searched too).

    Images are read on access, centre-cropped to a square and resized to ``image_size``; the files
    are kept in ``image_paths`` (thumbnails in the dashboard). Classes are the folder names in
    sorted order (the zero-shot split trains on the first half).

    Parameters
    ----------
    image_size : int, default=32
        Side of the square samples.
    grayscale : bool, default=False
        One channel instead of three.
    """

    root_help = "a folder with one sub-folder of images per class (root/<class>/<image>.png)"
    parameter_constraints = IMAGE_PARAMS

    @classmethod
    def load(cls, root: Path | None, seed: int, image_size: int = 32, grayscale: bool = False) -> Source:
        require_dir(root, "imagefolder", "one sub-folder of images per class")
        class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if len(class_dirs) < 2:
            raise DataError(f"{root}: expected at least 2 class sub-folders of images, found {len(class_dirs)}")
        paths, labels = [], []
        for label, class_dir in enumerate(class_dirs):
            images = sorted(p for p in class_dir.rglob("*") if is_image(p))
            if not images:
                raise DataError(f"{class_dir}: class folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
            paths += images
            labels += [label] * len(images)
        data = LabeledDataset(labels, [p.name for p in class_dirs], image_paths=paths,
                              image_size=image_size, grayscale=grayscale)
        return Source(data, f"image folder {root}: {len(paths)} images, {len(class_dirs)} classes, resized to {image_size}px")

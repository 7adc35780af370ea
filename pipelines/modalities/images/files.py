"""Reading images for the pipelines: a folder of PNG/JPEG files (flat, or MVTec-style) or an ``.npz`` array.

Layouts of a folder:

- **flat**: image files directly in the folder, all normal (no labels);
- **MVTec AD**: ``train/good/`` holds the normal training images and ``test/<kind>/`` the evaluation images,
  where ``good`` is normal (label 0) and any other kind is anomalous (label 1);
- **any other folder, to score**: its images and those of its subfolders (``test/`` of an MVTec dataset, say),
  each named by its path relative to the folder (symbolic links to folders are not followed).

Every image must have the size and channel count of the first one (grey ``L`` stays one channel; palette and
RGBA images are read as RGB, the alpha channel dropped). Files with other suffixes (``.txt``, ``.DS_Store``)
are skipped with one warning naming them; an image file that cannot be decoded (truncated, corrupt, not an
image, 16-bit, larger than ``MAX_PIXELS``) is refused naming the file. Nothing is decoded in a way that runs
code: Pillow reads pixel data only.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MAX_PIXELS = 4096 * 4096
"""Larger images are refused (a decompression bomb is a small file that decodes to gigabytes)."""

GREY_MODES = {"1": "L", "L": "L", "LA": "L"}
COLOUR_MODES = {"P": "RGB", "PA": "RGB", "RGB": "RGB", "RGBA": "RGB", "CMYK": "RGB", "YCbCr": "RGB"}


@dataclass
class ImageSet:
    """Images ``(n, height, width, channels)`` uint8 with their paths (relative to the folder given) and, for a
    labelled layout, labels (1 = anomalous) and kinds (the ``test/<kind>`` folder names)."""

    images: np.ndarray
    paths: list[str]
    labels: np.ndarray | None = None
    kinds: list[str] | None = None


def is_image_input(path: str | Path) -> bool:
    """Whether ``path`` is image data: a folder, or an ``.npz`` whose ``X`` has 3 or 4 axes (its header only is read)."""
    path = Path(path)
    if path.is_dir():
        return True
    if path.suffix.lower() != ".npz" or not path.is_file():
        return False
    import zipfile

    from numpy.lib import format as npformat

    try:
        with zipfile.ZipFile(path) as archive, archive.open("X.npy") as member:
            version = npformat.read_magic(member)
            if version == (1, 0):
                shape = npformat.read_array_header_1_0(member)[0]
            elif version == (2, 0):
                shape = npformat.read_array_header_2_0(member)[0]
            else:
                return False
    except (KeyError, ValueError, OSError, zipfile.BadZipFile):
        return False
    return len(shape) in (3, 4)


def read_images(path: str | Path, split: str = "train") -> ImageSet:
    """The images at ``path``: a folder (flat or MVTec-style; ``split`` "train" or "test" picks the MVTec part)
    or an ``.npz`` with ``X`` (and optionally ``y``, 1 = anomalous)."""
    path = Path(path)
    if path.is_dir():
        return read_folder(path, split)
    if path.suffix.lower() == ".npz":
        return read_npz(path)
    raise ValueError(f"{str(path)!r} is neither an image folder nor an .npz file.")


def read_folder(root: Path, split: str = "train") -> ImageSet:
    root = Path(root)
    if (root / "train" / "good").is_dir():  # MVTec AD layout
        if split == "train":
            files = _image_files(root / "train" / "good", root)
            return ImageSet(_decode_all(files, root), [str(f.relative_to(root)) for f in files])
        kinds = sorted(d.name for d in (root / "test").iterdir() if d.is_dir()) if (root / "test").is_dir() else []
        if not kinds:
            raise ValueError(f"{str(root)!r} has train/good but no test/<kind> folders to evaluate on.")
        files, labels, names = [], [], []
        for kind in kinds:
            found = _image_files(root / "test" / kind, root, allow_empty=True)
            files += found
            labels += [int(kind != "good")] * len(found)
            names += [kind] * len(found)
        if not files:
            raise ValueError(f"{str(root / 'test')!r} holds no PNG or JPEG images.")
        return ImageSet(_decode_all(files, root), [str(f.relative_to(root)) for f in files], np.asarray(labels), names)
    files = _image_files(root, root) if split == "train" else _nested_image_files(root)
    return ImageSet(_decode_all(files, root), [str(f.relative_to(root)) for f in files])


def read_npz(path: Path) -> ImageSet:
    """``X`` (n, H, W) or (n, H, W, C), uint8 0-255 or float in [0, 1]; ``y`` optional (1 = anomalous)."""
    from anomaly_vae.detectors.image_detector import check_images

    try:
        with np.load(path, allow_pickle=False) as data:
            names = list(data.files)
            X = data["X"] if "X" in names else None
            y = data["y"] if "y" in names else None
    except (ValueError, OSError, EOFError) as err:  # object arrays (pickle refused), damaged archives
        raise ValueError(f"{str(path)!r} is not a readable .npz of arrays: {err}") from None
    if X is None:
        raise ValueError(f"{str(path)!r} has no array named X (it has {names}).")
    try:
        check_images(X)
    except ValueError as err:
        raise ValueError(f"{str(path)!r}: {err}") from None
    labels = None
    if y is not None:
        y = np.asarray(y)
        if y.shape != (len(X),) or not np.isin(y, (0, 1)).all():
            raise ValueError(
                f"{str(path)!r}: y must hold one 0 (normal) or 1 (anomalous) per image; "
                f"got shape {y.shape} with values {np.unique(y)[:5].tolist()}."
            )
        labels = y.astype(int)
    images = X if X.ndim == 4 else X[..., None]
    return ImageSet(images, [f"{path.name}[{i}]" for i in range(len(X))], labels)


def _image_files(folder: Path, root: Path, allow_empty: bool = False) -> list[Path]:
    entries = sorted(p for p in folder.iterdir() if p.is_file())
    images = [p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES]
    others = [p for p in entries if p.suffix.lower() not in IMAGE_SUFFIXES]
    if others:
        warnings.warn(
            f"Skipping {len(others)} file(s) in {str(folder)!r} that are not PNG or JPEG (first: {others[0].name!r}).",
            stacklevel=3,
        )
    if not images and not allow_empty:
        raise ValueError(f"{str(folder)!r} holds no PNG or JPEG images.")
    return images


def _nested_image_files(root: Path) -> list[Path]:
    """The image files in ``root`` and its subfolders, sorted by relative path; other files skipped with a warning."""
    import os

    images: list[Path] = []
    others: list[Path] = []
    for folder, subfolders, names in os.walk(root):
        subfolders.sort()
        for name in sorted(names):
            path = Path(folder) / name
            if path.is_file():
                (images if path.suffix.lower() in IMAGE_SUFFIXES else others).append(path)
    if others:
        warnings.warn(
            f"Skipping {len(others)} file(s) under {str(root)!r} that are not PNG or JPEG "
            f"(first: {str(others[0].relative_to(root))!r}).",
            stacklevel=3,
        )
    if not images:
        raise ValueError(f"{str(root)!r} holds no PNG or JPEG images, in it or in its subfolders.")
    return sorted(images, key=lambda p: p.relative_to(root).parts)


def _decode_all(files: list[Path], root: Path) -> np.ndarray:
    first = _decode(files[0])
    out = np.empty((len(files), *first.shape), dtype=np.uint8)
    out[0] = first
    for i, f in enumerate(files[1:], start=1):
        image = _decode(f)
        if image.shape != first.shape:
            raise ValueError(
                f"{str(f)!r} is {_describe(image.shape)} but {str(files[0])!r} is "
                f"{_describe(first.shape)}: every image must have one size and channel count."
            )
        out[i] = image
    return out


def _decode(path: Path) -> np.ndarray:
    return decode_image(path, str(path))


def decode_image(source, name: str) -> np.ndarray:
    """One image (a path, or the encoded bytes of a PNG/JPEG file) as uint8 ``(height, width, channels)``, or
    ``ValueError`` naming it (``name``: the file, or the row of a served request)."""
    import io

    from PIL import Image, UnidentifiedImageError

    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source, formats=("PNG", "JPEG")) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise ValueError(
                        f"{name!r} is {image.width} x {image.height} pixels, more than the {MAX_PIXELS} allowed."
                    )
                mode = GREY_MODES.get(image.mode) or COLOUR_MODES.get(image.mode)
                if mode is None:
                    raise ValueError(
                        f"{name!r} has pixel mode {image.mode!r} (for example 16-bit); save it as 8-bit grey or RGB."
                    )
                image.load()  # decodes every byte now: a truncated file fails here, naming the file
                array = np.asarray(image.convert(mode), dtype=np.uint8)
    except ValueError:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as err:
        raise ValueError(f"{name!r} is not a readable image: {err}") from None
    return array[..., None] if array.ndim == 2 else array


def _describe(shape) -> str:
    h, w, c = shape
    return f"{h} x {w} with {c} channel(s)"

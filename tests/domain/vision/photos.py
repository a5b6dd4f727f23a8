"""Synthetic condition photos and a tiny classifier trained on them (once per test process).

Each class has its own colour and texture, so a few epochs of a YOLO classifier built from
``yolov8n-cls.yaml`` tell them apart: ``roof_good`` is even green, ``roof_poor`` is rust red
with dark cracks, ``furnace_fair`` is blue with a checker pattern. Nothing is downloaded.
"""

from __future__ import annotations

import functools
import io
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("furnace_fair", "roof_good", "roof_poor")
_BASE = {"roof_good": (40, 160, 60), "roof_poor": (150, 60, 40), "furnace_fair": (60, 60, 170)}
SIZE_PX = 48


def photo_array(label: str, seed: int) -> np.ndarray:
    """An RGB array that looks like ``label`` (colour, noise and texture)."""
    rng = np.random.default_rng(seed)
    pixels = np.array(_BASE[label]) + rng.normal(0, 20, (SIZE_PX, SIZE_PX, 3))
    if label == "roof_poor":
        pixels[::6, :, :] = 20  # cracks
    if label == "furnace_fair":
        pixels[(np.indices((SIZE_PX, SIZE_PX)).sum(axis=0) // 8) % 2 == 0] *= 0.6
    return np.clip(pixels, 0, 255).astype(np.uint8)


def photo_bytes(label: str, seed: int = 1000, fmt: str = "JPEG") -> bytes:
    """A JPEG (or PNG) photo of ``label``."""
    buffer = io.BytesIO()
    Image.fromarray(photo_array(label, seed)).save(buffer, format=fmt)
    return buffer.getvalue()


def corrupt_jpeg() -> bytes:
    """A file that starts like a JPEG (so it is stored) but whose pixels cannot be decoded."""
    good = photo_bytes("roof_good")
    return good[:200] + b"\x00" * 50


def write_dataset(root: Path, *, per_class: int, flat: bool, seed: int = 0) -> Path:
    """Write ``per_class`` photos per class: ``root/<class>/`` or ``root/{train,val}/<class>/``."""
    for index, label in enumerate(CLASSES):
        for n in range(per_class):
            split = "" if flat else ("val" if n % 4 == 0 else "train")
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{label}-{n}.jpg").write_bytes(photo_bytes(label, seed + 100 * index + n))
    return root


@functools.cache
def trained_weights() -> Path:
    """Train the tiny classifier once per test process; return its weights file."""
    from domain.vision import model

    root = Path(tempfile.mkdtemp(prefix="dd-vision-test-"))
    data = write_dataset(root / "data", per_class=16, flat=False)
    result = model.train_classifier(
        data, out=root / "condition.pt", epochs=15, imgsz=32, batch=8, seed=0
    )
    return result.weights_path

"""The condition classifier: load YOLO classification weights, classify a photo, train one.

Classes are named ``<component>_<condition>`` (``roof_poor``, ``water_heater_good``), the
condition being one of excellent, good, fair, poor. Weights come from ``settings.vision_model``
(a ``.pt`` path); nothing is ever downloaded: ``YOLO_OFFLINE=1`` is set and ultralytics keeps
its settings under the data directory before it is first imported, new models are built from
the packaged ``yolov8n-cls.yaml``, and training runs without plots (fonts) or AMP checks
(weights). ultralytics and torch are imported lazily, so modules that only read analyses
never pay for them.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import random
import re
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.config import get_settings
from domain.vision.enums import Condition

if TYPE_CHECKING:
    from PIL.Image import Image

log = logging.getLogger(__name__)

BASE_MODEL_YAML = "yolov8n-cls.yaml"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
# A photo with more pixels than this is refused before it is decoded (decompression bombs).
MAX_IMAGE_PIXELS = 50_000_000
# A photo narrower or shorter than this (an icon, a tracking pixel) shows no condition.
MIN_IMAGE_SIDE = 16
TOP_PREDICTIONS = 3

NOT_CONFIGURED_MESSAGE = (
    "No vision model is configured, so no condition was assessed. Set VISION_MODEL to a YOLO "
    "classification weights file (.pt) whose classes are named <component>_<condition>, or "
    "train one from labelled photos with `dealdesk vision train DATA_DIR`."
)

_CLASS_NAME = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*$")


class VisionModelError(Exception):
    """Base class of the model errors."""


class ModelNotConfigured(VisionModelError):
    """No weights are configured (``VISION_MODEL`` is unset)."""

    def __init__(self) -> None:
        """Carry the message that says how to configure or train a model."""
        super().__init__(NOT_CONFIGURED_MESSAGE)


class ModelLoadError(VisionModelError):
    """The configured weights cannot be used: missing, unreadable, or not a condition classifier."""


class UnreadableImage(VisionModelError, ValueError):
    """The photo's bytes cannot be decoded as an image."""


class TrainingDataError(VisionModelError, ValueError):
    """The training folder is not laid out as ``<component>_<condition>`` class folders."""


# --- environment --------------------------------------------------------------------------


def configure_environment() -> Path:
    """Keep ultralytics offline and its settings under the data dir; return that config dir.

    Must run before ultralytics is first imported: it reads these variables at import time.
    """
    config_dir = Path(
        os.environ.setdefault("YOLO_CONFIG_DIR", str(get_settings().data_path / "ultralytics"))
    )
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_OFFLINE"] = "1"
    return config_dir


def _ultralytics() -> Any:
    """Import ultralytics (after ``configure_environment``) and return the module."""
    configure_environment()
    from PIL import Image as PILImage

    pil_open = PILImage.open
    try:
        import ultralytics
    except ImportError as exc:  # the `vision` extra is not installed
        raise ModelLoadError(
            "ultralytics is not installed; install dealdesk with the `vision` extra "
            "(pip install -e '.[vision]')"
        ) from exc
    finally:
        # ultralytics patches PIL.Image.open for the whole process: on a file Pillow cannot
        # identify it tries to pip-install a HEIF plugin. Nothing may be installed or
        # downloaded at run time, and an unknown file must stay a plain "cannot identify".
        PILImage.open = pil_open  # type: ignore[method-assign]
    return ultralytics


@contextmanager
def _ultralytics_log_level(level: int) -> Iterator[None]:
    """Set ultralytics' logger level for a block (its progress bars follow it), then restore."""
    from ultralytics.utils import LOGGER

    previous = LOGGER.level
    LOGGER.setLevel(level)
    try:
        yield
    finally:
        LOGGER.setLevel(previous)


# --- class names --------------------------------------------------------------------------


@dataclass(frozen=True)
class ConditionClass:
    """One class of the classifier: a component in a condition."""

    label: str
    component: str
    condition: Condition


def parse_class_name(name: str) -> ConditionClass:
    """Split ``water_heater_poor`` into component ``water_heater`` and condition ``poor``."""
    label = name.strip().lower()
    component, _, condition = label.rpartition("_")
    if not component or not _CLASS_NAME.match(label) or condition not in Condition.__members__:
        conditions = ", ".join(c.value for c in Condition)
        raise ValueError(
            f"class {name!r} is not named <component>_<condition> "
            f"(lower-case letters, digits and underscores; condition one of {conditions})"
        )
    return ConditionClass(label=label, component=component, condition=Condition(condition))


# --- images -------------------------------------------------------------------------------


def decode_image(data: bytes) -> Image:
    """Decode photo bytes into an RGB image; ``UnreadableImage`` says plainly why not."""
    from PIL import Image as PILImage
    from PIL import ImageOps, UnidentifiedImageError

    if not data:
        raise UnreadableImage("The photo is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            probe = PILImage.open(io.BytesIO(data))
            width, height = probe.size
            if width * height > MAX_IMAGE_PIXELS:
                raise UnreadableImage(
                    f"The photo is {width}×{height} pixels; the most dealdesk reads is "
                    f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels."
                )
            if min(width, height) < MIN_IMAGE_SIDE:
                raise UnreadableImage(
                    f"The photo is {width}×{height} pixels, too small to show a condition; "
                    f"send one at least {MIN_IMAGE_SIDE} pixels on each side."
                )
            probe.verify()  # checks the structure; the image must be reopened afterwards
            image = PILImage.open(io.BytesIO(data))
            image.load()  # decodes every pixel: a truncated or corrupt file fails here
            # Phones store photos sideways with an EXIF orientation tag: stand them upright
            # so the model sees the photo as the investor took it.
            upright = ImageOps.exif_transpose(image)
            return upright.convert("RGB")
    except UnreadableImage:
        raise
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as exc:
        # Pillow refuses very large images at open, before the size check above runs.
        raise UnreadableImage(
            f"The photo is too large to read ({exc}); the most dealdesk reads is "
            f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels."
        ) from exc
    except UnidentifiedImageError as exc:
        raise UnreadableImage(
            "The photo's format cannot be read (photos are analysed as JPEG, PNG, WEBP or GIF)."
        ) from exc
    except (OSError, SyntaxError, ValueError, Warning) as exc:
        raise UnreadableImage(f"The photo is damaged and cannot be decoded ({exc}).") from exc


# --- inference ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Prediction:
    """One class the model considers, with its probability."""

    label: str
    component: str
    condition: Condition
    confidence: float

    def as_dict(self) -> dict[str, Any]:
        """The prediction as JSON-able values."""
        return {
            "label": self.label,
            "component": self.component,
            "condition": self.condition.value,
            "confidence": round(self.confidence, 4),
        }


@dataclass(frozen=True)
class Classification:
    """The model's answer for one photo: the top class and the runners-up."""

    top: Prediction
    predictions: list[Prediction]
    model_ref: str


@dataclass
class ConditionClassifier:
    """A loaded YOLO classification model whose classes are ``<component>_<condition>``."""

    path: Path
    sha256: str
    classes: dict[int, ConditionClass]
    imgsz: int
    _yolo: Any = field(repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def model_ref(self) -> str:
        """The weights file's name and sha256 prefix, recorded on every analysis."""
        return f"{self.path.name}@sha256:{self.sha256[:12]}"

    @property
    def labels(self) -> list[str]:
        """The class labels in index order."""
        return [self.classes[i].label for i in sorted(self.classes)]

    def classify(self, image: Image) -> Classification:
        """Classify one RGB image; the top prediction and up to two runners-up."""
        # One prediction at a time: ultralytics' predictor keeps per-call state.
        with self._lock:
            result = self._yolo.predict(image, imgsz=self.imgsz, device="cpu", verbose=False)[0]
        probs = result.probs.data.tolist()
        order = sorted(range(len(probs)), key=lambda i: probs[i], reverse=True)[:TOP_PREDICTIONS]
        predictions = [
            Prediction(
                label=self.classes[i].label,
                component=self.classes[i].component,
                condition=self.classes[i].condition,
                confidence=float(probs[i]),
            )
            for i in order
        ]
        return Classification(top=predictions[0], predictions=predictions, model_ref=self.model_ref)


def _sha256(path: Path) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_classifier(path: str | Path) -> ConditionClassifier:
    """Load classification weights from ``path``; ``ModelLoadError`` says what is wrong."""
    weights = Path(path).expanduser()
    if not weights.is_file():
        raise ModelLoadError(f"VISION_MODEL points at {weights}, which is not a file.")
    ultralytics = _ultralytics()
    try:
        yolo = ultralytics.YOLO(str(weights))
    except Exception as exc:
        raise ModelLoadError(f"The vision model {weights} cannot be loaded: {exc}") from exc
    if yolo.task != "classify":
        raise ModelLoadError(
            f"The vision model {weights} is a {yolo.task} model; dealdesk needs a classification "
            "model (train one with `dealdesk vision train DATA_DIR`)."
        )
    try:
        classes = {int(i): parse_class_name(str(name)) for i, name in yolo.names.items()}
    except ValueError as exc:
        raise ModelLoadError(f"The vision model {weights} has a class that {exc}") from exc
    imgsz = yolo.overrides.get("imgsz") or 224
    return ConditionClassifier(
        path=weights.resolve(),
        sha256=_sha256(weights),
        classes=classes,
        imgsz=int(imgsz if isinstance(imgsz, int) else max(imgsz)),
        _yolo=yolo,
    )


_cache: dict[tuple[str, int, float], ConditionClassifier] = {}
_cache_lock = threading.Lock()


def get_classifier(path: str | None = None) -> ConditionClassifier:
    """The configured classifier, loaded once per process (reloaded when the file changes).

    ``ModelNotConfigured`` when no weights are configured; ``ModelLoadError`` when they
    cannot be used.
    """
    configured = path if path is not None else get_settings().vision_model
    if not configured or not configured.strip():
        raise ModelNotConfigured()
    weights = Path(configured.strip()).expanduser()
    try:
        stat = weights.stat()
    except OSError as exc:
        raise ModelLoadError(f"VISION_MODEL points at {weights}, which is not a file.") from exc
    key = (str(weights.resolve()), stat.st_size, stat.st_mtime)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is None:
            cached = load_classifier(weights)
            _cache.clear()  # one model per process: a changed file replaces the old one
            _cache[key] = cached
            log.info(
                "vision model loaded",
                extra={"model": cached.model_ref, "classes": cached.labels},
            )
        return cached


def is_configured() -> bool:
    """True when ``VISION_MODEL`` names weights (whether or not they load)."""
    return bool((get_settings().vision_model or "").strip())


# --- training -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetLayout:
    """A dataset as ultralytics reads it: ``root/train/<class>/`` and ``root/val/<class>/``."""

    root: Path
    classes: list[str]
    train_images: int
    val_images: int
    split_from_flat: bool


def _images_in(folder: Path) -> list[Path]:
    """The image files directly inside ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _class_folders(folder: Path) -> list[Path]:
    """Sub-folders of ``folder`` (not hidden), checked to be named ``<component>_<condition>``."""
    folders = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise TrainingDataError(
            f"{folder} has no class folders; expected folders named <component>_<condition> "
            "(e.g. roof_good, roof_poor) holding photos."
        )
    bad = []
    for sub in folders:
        try:
            parse_class_name(sub.name)
        except ValueError:
            bad.append(sub.name)
        else:
            if sub.name != sub.name.lower():
                bad.append(sub.name)
    if bad:
        conditions = ", ".join(c.value for c in Condition)
        raise TrainingDataError(
            f"{folder}: these folders are not named <component>_<condition> in lower case with "
            f"condition one of {conditions}: {', '.join(bad)}"
        )
    return folders


def prepare_dataset(
    data_dir: Path, work_dir: Path, *, val_fraction: float = 0.2, seed: int = 0
) -> DatasetLayout:
    """Check ``data_dir`` and return a train/val layout for it.

    Accepts ``data_dir/train/<class>/`` with ``data_dir/val/<class>/`` as it is, or a flat
    ``data_dir/<class>/``, which is split (``val_fraction`` of each class, at least one photo)
    into ``work_dir`` with links to the original files.
    """
    if not data_dir.is_dir():
        raise TrainingDataError(f"{data_dir} is not a folder.")
    if (data_dir / "train").is_dir():
        val_dir = data_dir / "val"
        if not val_dir.is_dir():
            raise TrainingDataError(f"{data_dir} has train/ but no val/ folder.")
        train_classes = {p.name: len(_images_in(p)) for p in _class_folders(data_dir / "train")}
        val_classes = {p.name: len(_images_in(p)) for p in _class_folders(val_dir)}
        if set(train_classes) != set(val_classes):
            missing = sorted(set(train_classes) ^ set(val_classes))
            raise TrainingDataError(
                f"train/ and val/ must hold the same classes; only in one: {', '.join(missing)}"
            )
        empty = [c for c in train_classes if not train_classes[c] or not val_classes[c]]
        if empty:
            raise TrainingDataError(f"these classes have no photos in train/ or val/: {empty}")
        return DatasetLayout(
            root=data_dir,
            classes=sorted(train_classes),
            train_images=sum(train_classes.values()),
            val_images=sum(val_classes.values()),
            split_from_flat=False,
        )
    folders = _class_folders(data_dir)
    too_few = [f"{p.name} ({len(_images_in(p))})" for p in folders if len(_images_in(p)) < 2]
    if too_few:
        raise TrainingDataError(
            "each class needs at least 2 photos (one is kept back to measure accuracy): "
            + ", ".join(too_few)
        )
    if len(folders) < 2:
        raise TrainingDataError("a classifier needs at least 2 classes.")
    rng = random.Random(seed)
    train_count = val_count = 0
    for folder in folders:
        images = _images_in(folder)
        rng.shuffle(images)
        n_val = max(1, round(len(images) * val_fraction))
        for split, chosen in (("val", images[:n_val]), ("train", images[n_val:])):
            target = work_dir / split / folder.name
            target.mkdir(parents=True, exist_ok=True)
            for image in chosen:
                (target / image.name).symlink_to(image.resolve())
        val_count += n_val
        train_count += len(images) - n_val
    return DatasetLayout(
        root=work_dir,
        classes=[p.name for p in folders],
        train_images=train_count,
        val_images=val_count,
        split_from_flat=True,
    )


@dataclass(frozen=True)
class TrainingProgress:
    """Where training stands: batches done of the total, and the last epoch's accuracy."""

    epoch: int
    epochs: int
    batches_done: int
    batches_total: int
    top1_accuracy: float | None = None


@dataclass(frozen=True)
class TrainingResult:
    """A trained classifier: where its weights are and how well it did on the held-out photos."""

    weights_path: Path
    top1_accuracy: float
    classes: list[str]
    epochs: int
    imgsz: int
    train_images: int
    val_images: int
    base: str


def train_classifier(
    data_dir: Path,
    *,
    out: Path,
    epochs: int = 10,
    imgsz: int = 64,
    batch: int = 16,
    base_weights: Path | None = None,
    seed: int = 0,
    progress: Callable[[TrainingProgress], None] | None = None,
    verbose: bool = False,
) -> TrainingResult:
    """Train (or fine-tune ``base_weights``) a condition classifier on CPU; write it to ``out``.

    Without ``base_weights`` the network is built from ``yolov8n-cls.yaml`` (no download).
    ``progress`` is called after every batch and every epoch; ultralytics' own output is shown
    only with ``verbose``.
    """
    if epochs < 1:
        raise TrainingDataError("epochs must be at least 1.")
    if imgsz < 32 or imgsz % 32:
        raise TrainingDataError("imgsz must be a multiple of 32 (32, 64, 128, 224 ...).")
    if base_weights is not None and not base_weights.is_file():
        raise TrainingDataError(f"--weights {base_weights} is not a file.")
    ultralytics = _ultralytics()
    quiet = _ultralytics_log_level(logging.INFO if verbose else logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="dd-vision-train-") as tmp, quiet:
        layout = prepare_dataset(data_dir, Path(tmp) / "data", seed=seed)
        if base_weights is not None:
            yolo = ultralytics.YOLO(str(base_weights))
            if yolo.task != "classify":
                raise TrainingDataError(f"--weights {base_weights} is a {yolo.task} model.")
        else:
            yolo = ultralytics.YOLO(BASE_MODEL_YAML, task="classify")
        state = {"done": 0, "total": 0}

        def on_train_start(trainer: Any) -> None:
            state["total"] = trainer.epochs * len(trainer.train_loader)

        def on_batch_end(trainer: Any) -> None:
            state["done"] += 1
            if progress is not None:
                epoch = min(trainer.epoch + 1, trainer.epochs)
                progress(TrainingProgress(epoch, trainer.epochs, state["done"], state["total"]))

        def on_epoch_end(trainer: Any) -> None:
            if progress is not None:
                top1 = (trainer.metrics or {}).get("metrics/accuracy_top1")
                progress(
                    TrainingProgress(
                        min(trainer.epoch + 1, trainer.epochs),
                        trainer.epochs,
                        state["done"],
                        state["total"],
                        None if top1 is None else float(top1),
                    )
                )

        yolo.add_callback("on_train_start", on_train_start)
        yolo.add_callback("on_train_batch_end", on_batch_end)
        yolo.add_callback("on_fit_epoch_end", on_epoch_end)
        yolo.train(
            data=str(layout.root),
            epochs=epochs,
            imgsz=imgsz,
            batch=batch,
            device="cpu",
            workers=0,
            plots=False,  # plotting fetches a font
            amp=False,  # the AMP check fetches weights
            pretrained=base_weights is not None,
            project=str(Path(tmp) / "runs"),
            name="train",
            exist_ok=True,
            seed=seed,
            deterministic=True,
            warmup_epochs=0,
            # Colour is evidence of condition (rust, moss, stains): no colour jitter.
            hsv_h=0.0,
            hsv_s=0.0,
            hsv_v=0.0,
            verbose=verbose,
        )
        trainer = yolo.trainer
        best = Path(trainer.best if Path(trainer.best).is_file() else trainer.last)
        top1 = float((trainer.metrics or {}).get("metrics/accuracy_top1", 0.0))
        out = out.expanduser()
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(best, out)
    return TrainingResult(
        weights_path=out.resolve(),
        top1_accuracy=top1,
        classes=layout.classes,
        epochs=epochs,
        imgsz=imgsz,
        train_images=layout.train_images,
        val_images=layout.val_images,
        base=str(base_weights) if base_weights else BASE_MODEL_YAML,
    )

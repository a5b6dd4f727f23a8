"""Whisper weights: the shipped base model is assembled once, verified, never half-written."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from domain.audio import whisper
from domain.audio.whisper import WHISPER_BASE_SHA256, WhisperModelError


def test_base_is_joined_from_the_two_packages_and_matches_its_sha256(tmp_path: Path) -> None:
    target = tmp_path / "models" / "whisper-base"

    folder = whisper.resolve_model_dir("base", data_dir=tmp_path)

    assert folder == target
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "model.bin",
        "tokenizer.json",
        "vocabulary.json",
    ]
    assert whisper.sha256_of(folder / "model.bin") == WHISPER_BASE_SHA256
    parts = whisper.base_part_paths()
    assert (folder / "model.bin").stat().st_size == sum(p.stat().st_size for p in parts)

    # A second resolve reuses the joined file instead of writing it again.
    written = (folder / "model.bin").stat().st_mtime_ns
    whisper.resolve_model_dir("base", data_dir=tmp_path)
    assert (folder / "model.bin").stat().st_mtime_ns == written


def test_a_damaged_model_bin_is_rebuilt(tmp_path: Path) -> None:
    folder = whisper.resolve_model_dir("base", data_dir=tmp_path)
    model_bin = folder / "model.bin"
    model_bin.write_bytes(b"not the weights")

    whisper.resolve_model_dir("base", data_dir=tmp_path)

    assert whisper.sha256_of(model_bin) == WHISPER_BASE_SHA256


def test_parts_that_do_not_join_to_the_expected_sha256_are_refused_and_removed(
    tmp_path: Path,
) -> None:
    part1 = tmp_path / "model.bin.part1"
    part2 = tmp_path / "model.bin.part2"
    part1.write_bytes(b"half of ")
    part2.write_bytes(b"something else")
    target = tmp_path / "out"

    with pytest.raises(WhisperModelError) as caught:
        whisper.assemble_base_model(target, parts=[part1, part2], side_files=[])

    joined = hashlib.sha256(b"half of something else").hexdigest()
    assert f"sha256 {joined}, expected {WHISPER_BASE_SHA256}" in str(caught.value)
    assert "Reinstall" in str(caught.value)
    assert list(target.iterdir()) == []  # no model.bin, no temporary file left behind


@pytest.mark.parametrize("size", ["small", "large-v3", "tiny.en"])
def test_size_names_other_than_base_say_only_base_ships(size: str, tmp_path: Path) -> None:
    with pytest.raises(WhisperModelError) as caught:
        whisper.resolve_model_dir(size, data_dir=tmp_path)
    message = str(caught.value)
    assert f"Whisper {size!r} is not shipped" in message
    assert "only 'base' ships offline" in message
    assert "WHISPER_MODEL to a directory" in message


def test_a_path_must_be_a_model_directory(tmp_path: Path) -> None:
    with pytest.raises(WhisperModelError, match="directory without model.bin"):
        whisper.resolve_model_dir(str(tmp_path), data_dir=tmp_path)
    with pytest.raises(WhisperModelError, match="neither 'base' nor an existing model directory"):
        whisper.resolve_model_dir(str(tmp_path / "nowhere"), data_dir=tmp_path)


def test_a_model_directory_path_is_used_as_given(tmp_path: Path) -> None:
    folder = whisper.resolve_model_dir("base", data_dir=tmp_path)
    assert whisper.resolve_model_dir(str(folder), data_dir=tmp_path / "elsewhere") == folder
    assert whisper.model_label("base") == "whisper base int8"
    assert whisper.model_label(str(folder)) == "whisper whisper-base int8"

"""The condition classifier: class names, decoding photos, the condition mapping, training."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from domain.vision import model
from domain.vision.enums import Condition, RepairPriority
from domain.vision.service import assess, issues_for
from tests.domain.vision.photos import (
    CLASSES,
    corrupt_jpeg,
    photo_bytes,
    trained_weights,
    write_dataset,
)


def test_class_names_split_into_component_and_condition() -> None:
    parsed = model.parse_class_name("water_heater_poor")
    assert (parsed.component, parsed.condition) == ("water_heater", Condition.poor)
    assert model.parse_class_name("Roof_Good").label == "roof_good"
    for bad in ("roof", "roof_broken", "_poor", "roof-good_fair", "roof good_poor"):
        with pytest.raises(ValueError, match="<component>_<condition>"):
            model.parse_class_name(bad)


@pytest.mark.parametrize(
    ("condition", "confidence", "score", "replace", "priority"),
    [
        # score = 50 + (anchor - 50) x confidence; anchors 100 / 80 / 50 / 10
        (Condition.poor, 0.93, 13, True, RepairPriority.high),  # 50 - 40 x 0.93 = 12.8
        (Condition.poor, 0.55, 28, False, RepairPriority.medium),  # unsure: no replacement
        (Condition.fair, 0.90, 50, False, RepairPriority.medium),
        (Condition.good, 0.90, 77, False, RepairPriority.low),  # 50 + 30 x 0.9
        (Condition.excellent, 1.0, 100, False, RepairPriority.low),
    ],
)
def test_condition_and_confidence_map_to_score_replacement_and_priority(
    condition: Condition, confidence: float, score: int, replace: bool, priority: RepairPriority
) -> None:
    result = assess(condition, confidence)
    assert (result.condition_score, result.replacement_needed, result.repair_priority) == (
        score,
        replace,
        priority,
    )
    assert f"= {score}" in result.explanation


def test_issues_name_the_failure_and_an_unsure_verdict() -> None:
    assert [i["issue"] for i in issues_for("roof", Condition.poor, 0.4)] == [
        "poor_condition",
        "low_confidence",
    ]
    assert issues_for("roof", Condition.good, 0.9) == []


def test_a_corrupt_jpeg_and_html_are_refused_with_a_reason() -> None:
    # Loading a model imports ultralytics, which must leave Pillow's own opener in place (its
    # patch would try to install a HEIF plugin when a file is not an image).
    model.get_classifier(str(trained_weights()))
    with pytest.raises(model.UnreadableImage, match="damaged"):
        model.decode_image(corrupt_jpeg())
    with pytest.raises(model.UnreadableImage, match="format cannot be read"):
        model.decode_image(b"<!doctype html><html><body>hi</body></html>")
    assert model.decode_image(photo_bytes("roof_good", fmt="PNG")).size == (48, 48)


def test_no_weights_configured_is_reported_not_guessed() -> None:
    with pytest.raises(model.ModelNotConfigured, match="dealdesk vision train"):
        model.get_classifier("")
    with pytest.raises(model.ModelLoadError, match="not a file"):
        model.get_classifier("/nonexistent/weights.pt")


def test_weights_that_are_not_a_model_are_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(model.ModelLoadError, match="cannot be loaded"):
        model.load_classifier(junk)


def test_training_data_must_be_named_component_condition(tmp_path: Path) -> None:
    (tmp_path / "Roof Photos").mkdir()
    (tmp_path / "roof_good").mkdir()
    with pytest.raises(model.TrainingDataError, match="Roof Photos"):
        model.prepare_dataset(tmp_path, tmp_path / "work")
    with pytest.raises(model.TrainingDataError, match="not a folder"):
        model.prepare_dataset(tmp_path / "missing", tmp_path / "work")


def test_each_class_needs_two_photos_to_keep_one_back(tmp_path: Path) -> None:
    write_dataset(tmp_path, per_class=1, flat=True)
    with pytest.raises(model.TrainingDataError, match="at least 2 photos"):
        model.prepare_dataset(tmp_path, tmp_path / "work")


def test_a_flat_folder_is_split_into_train_and_val(tmp_path: Path) -> None:
    write_dataset(tmp_path / "flat", per_class=10, flat=True)
    layout = model.prepare_dataset(tmp_path / "flat", tmp_path / "work")
    assert layout.split_from_flat and layout.classes == list(CLASSES)
    # 20% of 10 per class held back: 2 x 3 classes
    assert (layout.train_images, layout.val_images) == (24, 6)
    assert len(list((tmp_path / "work" / "val" / "roof_poor").iterdir())) == 2


def test_the_trained_classifier_tells_the_classes_apart() -> None:
    classifier = model.get_classifier(str(trained_weights()))
    assert classifier.labels == list(CLASSES)
    assert classifier.imgsz == 32
    for label in CLASSES:
        for seed in (7001, 7002):  # photos the model never saw
            result = classifier.classify(model.decode_image(photo_bytes(label, seed)))
            assert result.top.label == label
            assert 0.34 < result.top.confidence <= 1.0
            assert result.model_ref.startswith("condition.pt@sha256:")


def test_cli_trains_from_a_flat_folder_and_says_where_the_weights_are(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "photos", per_class=4, flat=True)
    out = tmp_path / "model" / "roofs.pt"
    args = ["vision", "train", str(data), "--epochs", "1", "--imgsz", "32", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"weights written to {out}" in result.stdout
    assert "top-1 accuracy on 3 validation photos:" in result.stdout
    assert "training epoch 1/1" in result.stderr  # the progress bar
    assert model.load_classifier(out).labels == list(CLASSES)


def test_cli_refuses_a_badly_named_folder(tmp_path: Path) -> None:
    (tmp_path / "photos" / "kitchen").mkdir(parents=True)
    result = CliRunner().invoke(app, ["vision", "train", str(tmp_path / "photos")])
    assert result.exit_code == 2
    assert "kitchen" in result.stderr and "<component>_<condition>" in result.stderr


def test_training_no_better_than_guessing_is_warned_about() -> None:
    # A QA pass trained 4 classes for 3 epochs: "top-1 accuracy 0.250" and no word of warning.
    from cli.vision_commands import chance_warning

    warning = chance_warning(0.25, 4)
    assert warning is not None and "no better than guessing among 4 classes (0.250)" in warning
    assert chance_warning(0.36, 4) is not None  # within 1.5 x chance
    assert chance_warning(0.9, 4) is None
    assert chance_warning(1.0, 1) is None

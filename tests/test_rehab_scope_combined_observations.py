"""The rehab scope combines every walkthrough and photo of a property (live QA, Kellogg).

Was: the newest walkthrough or set of photos replaced the whole scope (a water-heater photo
dropped the roof and furnace a voice note had priced), photos of one day were decided by
processing order, the cover photo was the newest stored one even when it did not decode, and
an unsure "poor" photo's warning never reached the PDF.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from decimal import Decimal

from pypdf import PdfReader
from sqlmodel import Session

from domain.analysis import service as analysis_service
from domain.audio import service as audio_service
from domain.auth.models import Organisation
from domain.documents import service as documents_service
from domain.documents.enums import DocumentKind, DocumentSource
from domain.pricing import service as pricing_service
from domain.property.models import Property
from domain.vision import service as vision_service
from domain.vision.enums import AnalysisStatus, Condition
from domain.vision.models import ComponentCondition, PropertyAnalysis
from reports.property_report import render_property_report
from store.base import utcnow
from tests.domain.vision.photos import corrupt_jpeg, photo_bytes
from tests.factories import make_org, make_property
from tools.analysis import analysis_result
from workers.reports import generate_property_report


def _kellogg(db: Session, org: Organisation) -> Property:
    return make_property(
        db,
        org,
        address_line="1215 Kellogg Ave",
        city="Ames",
        state="IA",
        zip_code="50010",
        square_feet=1200,
        bedrooms=3,
        condition_rating=5,
        list_price=Decimal("124900"),
    )


def _walk(db: Session, org: Organisation, prop: Property, notes: str) -> uuid.UUID:
    result = audio_service.walkthrough_from_text(
        session=db, org_id=org.id, property_id=prop.id, text=notes
    )
    return result.walkthrough.id


def _photo(
    db: Session,
    org: Organisation,
    prop: Property,
    component: str,
    condition: Condition,
    confidence: float,
    at: dt.datetime | None = None,
) -> uuid.UUID:
    """A completed photo analysis and its component condition, as the classifier leaves them."""
    at = at or utcnow()
    assessment = vision_service.assess(condition, confidence)
    analysis = PropertyAnalysis(
        org_id=org.id,
        property_id=prop.id,
        component=component,
        condition=condition,
        confidence_score=Decimal(str(confidence)),
        status=AnalysisStatus.completed,
        created_at=at,
        completed_at=at,
    )
    db.add(analysis)
    db.flush()
    db.add(
        ComponentCondition(
            org_id=org.id,
            property_id=prop.id,
            analysis_id=analysis.id,
            component_name=component,
            condition=condition,
            condition_score=assessment.condition_score,
            replacement_needed=assessment.replacement_needed,
            repair_priority=assessment.repair_priority,
            created_at=at,
        )
    )
    db.flush()
    return analysis.id


def _key(name: str) -> str:
    match = pricing_service.match_component(name)
    return match.key if match is not None else name


def _scope(db: Session, org: Organisation, prop: Property) -> dict[str, tuple[str, str]]:
    scope, _ = analysis_service.rehab_scope(session=db, org_id=org.id, prop=prop)
    return {_key(item.component): (str(item.condition), item.notes or "") for item in scope}


def _pdf_text(data: bytes) -> str:
    return " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages).split())


def test_a_photo_and_a_later_note_keep_what_the_voice_note_said(db: Session) -> None:
    org = make_org(db)
    prop = _kellogg(db, org)
    first = _walk(db, org, prop, "roof is poor, furnace is poor")
    heater = _photo(db, org, prop, "water_heater", Condition.poor, 0.9)
    later = _walk(db, org, prop, "The furnace is original.")

    scope = _scope(db, org, prop)

    assert set(scope) == {"roof_shingles", "furnace", "water_heater"}
    assert scope["roof_shingles"][0] == "poor"
    assert scope["roof_shingles"][1].startswith(f"condition from walkthrough {first} (")
    assert scope["water_heater"][0] == "poor"
    assert scope["water_heater"][1].startswith(f"condition from photo analysis {heater} (")
    # The newer note replaces the furnace only.
    assert scope["furnace"][0] == "fair"
    assert scope["furnace"][1].startswith(f"condition from walkthrough {later} (")
    analysis = analysis_service.analyze_property(session=db, org_id=org.id, property_id=prop.id)
    lines = {_key(li.component) for li in analysis.rehab.estimate.line_items}
    assert {"roof_shingles", "furnace", "water_heater"} <= lines
    assert analysis.rehab.scope_source.startswith(f"walkthrough {later}, walkthrough {first}")


def test_a_newer_good_photo_replaces_only_its_component(db: Session) -> None:
    org = make_org(db)
    prop = _kellogg(db, org)
    _walk(db, org, prop, "roof is poor, furnace is poor")
    roof = _photo(db, org, prop, "roof", Condition.good, 0.95)

    scope = _scope(db, org, prop)

    assert scope["roof_shingles"][0] == "good"
    assert scope["roof_shingles"][1].startswith(f"condition from photo analysis {roof} (")
    assert scope["furnace"][0] == "poor"


def test_photos_alone_replace_only_their_lines_of_the_default_scope(db: Session) -> None:
    org = make_org(db)
    prop = _kellogg(db, org)
    before = analysis_service.analyze_property(session=db, org_id=org.id, property_id=prop.id)
    assert before.rehab.scope_source.startswith("default scope")
    _photo(db, org, prop, "water_heater", Condition.good, 0.93)

    after = analysis_service.analyze_property(session=db, org_id=org.id, property_id=prop.id)

    heater = next(li for li in before.rehab.estimate.line_items if li.component == "water_heater")
    assert after.rehab.estimate.subtotal == before.rehab.estimate.subtotal - heater.line_total
    assert after.rehab.estimate.total > 0
    scope = _scope(db, org, prop)
    assert scope["water_heater"][0] == "good"
    assert scope["kitchen_cabinets"] == (
        "fair",
        "condition assumed: default scope, average (rating 5-6): cosmetic rehab, systems "
        "repaired (condition rating 5; not walked)",
    )
    assert "assumed from the default scope" in after.rehab.scope_source


def test_photos_of_one_day_take_the_surest_verdict_whatever_the_order(db: Session) -> None:
    org = make_org(db)
    morning = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
    later = morning + dt.timedelta(minutes=5)
    totals = []
    for first, second in (
        ((Condition.poor, 0.82), (Condition.good, 0.92)),
        ((Condition.good, 0.92), (Condition.poor, 0.82)),
    ):
        prop = _kellogg(db, org)
        _photo(db, org, prop, "roof", first[0], first[1], at=morning)
        _photo(db, org, prop, "roof", second[0], second[1], at=later)
        observed = vision_service.latest_component_conditions(
            session=db, org_id=org.id, property_id=prop.id
        )
        assert observed is not None
        assert [(c.component, str(c.condition)) for c in observed.components] == [("roof", "good")]
        assert _scope(db, org, prop)["roof_shingles"][0] == "good"
        analysis = analysis_service.analyze_property(session=db, org_id=org.id, property_id=prop.id)
        totals.append(analysis.rehab.estimate.total)
    assert totals[0] == totals[1]
    # A later day's photo still replaces an earlier day's verdict.
    prop = _kellogg(db, org)
    _photo(db, org, prop, "roof", Condition.good, 0.92, at=morning)
    _photo(db, org, prop, "roof", Condition.poor, 0.82, at=morning + dt.timedelta(days=2))
    assert _scope(db, org, prop)["roof_shingles"][0] == "poor"


def test_the_cover_shows_the_newest_photo_that_decodes(db: Session) -> None:
    org = make_org(db)
    prop = _kellogg(db, org)
    stored = []
    for name, data in (("front.jpg", photo_bytes("roof_good")), ("broken.jpg", corrupt_jpeg())):
        stored.append(
            documents_service.store_document(
                session=db,
                org_id=org.id,
                data=data,
                filename=name,
                declared_content_type="image/jpeg",
                kind=DocumentKind.photo,
                source=DocumentSource.upload,
                entity_type="property",
                entity_id=prop.id,
            )
        )

    analysis = analysis_service.analyze_property(session=db, org_id=org.id, property_id=prop.id)

    assert analysis.photo is not None and analysis.photo.document_id == stored[0].id
    report = generate_property_report(session=db, org_id=org.id, property_id=prop.id)
    pdf = documents_service.read_document_bytes(
        session=db, org_id=org.id, document_id=report.document_id
    )
    assert "Photo: not available" not in _pdf_text(pdf)


def test_only_broken_photos_say_why_none_is_shown(db: Session) -> None:
    org = make_org(db)
    prop = _kellogg(db, org)
    documents_service.store_document(
        session=db,
        org_id=org.id,
        data=corrupt_jpeg(),
        filename="broken.jpg",
        declared_content_type="image/jpeg",
        kind=DocumentKind.photo,
        source=DocumentSource.upload,
        entity_type="property",
        entity_id=prop.id,
    )

    analysis = analysis_service.analyze_property(session=db, org_id=org.id, property_id=prop.id)

    assert analysis.photo is None
    assert analysis.photo_missing is not None
    assert analysis.photo_missing.startswith("none of the property's 1 stored photo(s) can be read")
    assert "broken.jpg" in analysis.photo_missing


def test_an_unsure_poor_photo_says_so_in_the_pdf_and_the_chat_result(db: Session) -> None:
    org = make_org(db)
    prop = _kellogg(db, org)
    roof = _photo(db, org, prop, "roof", Condition.poor, 0.57)

    analysis = analysis_service.analyze_property(session=db, org_id=org.id, property_id=prop.id)

    line = next(li for li in analysis.rehab.estimate.line_items if li.component == "roof")
    assert str(line.condition) == "fair"
    text = _pdf_text(render_property_report(analysis).data)
    assert "poor but the model is unsure, so priced as a repair: have a person check" in text
    assert f"condition from photo analysis {str(roof)[:8]}" in text
    notes = analysis_result(analysis)["notes"]
    assert any("roof" in n and "unsure" in n and "have a person check" in n for n in notes)


def test_a_walkthrough_between_a_days_photos_wins_over_the_earlier_surer_photo(
    db: Session,
) -> None:
    """Live QA: good 0.92 at 01:06:00, "the roof is shot" at 01:06:03, poor 0.32 at 01:06:28.

    The day's surest verdict (good) was dated at the day's last photo, so it beat the newer
    walkthrough and the roof was priced good.
    """
    from domain.audio.models import Walkthrough

    org = make_org(db)
    prop = _kellogg(db, org)
    walked = _walk(db, org, prop, "The roof is shot.")
    said_at = dt.datetime(2026, 3, 2, 17, 6, 3, tzinfo=dt.UTC)
    walkthrough = db.get(Walkthrough, walked)
    assert walkthrough is not None
    walkthrough.completed_at = said_at
    db.add(walkthrough)
    db.flush()
    _photo(db, org, prop, "roof", Condition.good, 0.92, at=said_at - dt.timedelta(seconds=3))
    _photo(db, org, prop, "roof", Condition.poor, 0.32, at=said_at + dt.timedelta(seconds=25))

    scope = _scope(db, org, prop)

    assert scope["roof_shingles"][0] == "poor", scope
    assert scope["roof_shingles"][1].startswith(f"condition from walkthrough {walked} ("), scope
    analysis = analysis_service.analyze_property(session=db, org_id=org.id, property_id=prop.id)
    (roof,) = [
        li for li in analysis.rehab.estimate.line_items if _key(li.component) == "roof_shingles"
    ]
    assert str(roof.condition) == "poor"
    # The look is dated at its verdict's photo, never later.
    (look,) = vision_service.photo_observations(session=db, org_id=org.id, property_id=prop.id)
    assert look.observed_at == said_at - dt.timedelta(seconds=3)
    assert str(look.components[0].condition) == "good"

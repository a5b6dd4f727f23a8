"""QA round 9 (analysis, PDF, underwriting, chat CLI): the findings fixed, one test each.

Real database, the real analysis and underwriting services, the real PDF renderer and the real
CLI process; nothing of ours is mocked.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import Engine
from sqlmodel import Session

from domain.analysis import service as analysis_service
from domain.analysis.assumptions import VerdictThresholds
from domain.auth.enums import Role
from domain.underwriting import service as underwriting
from domain.underwriting.models import FlipInput, FlipResult, HoldingCosts, ShortTermLoan
from reports.property_report import render_property_report
from tests.agent.world import SUBJECT_ADDRESS, World, build_world
from tests.conftest import truncate_all
from tests.factories import (
    auth_headers,
    make_deal,
    make_org,
    make_sold_market,
    make_subject_property,
    make_user,
)
from workers.reports import _requesters_deal

REPO = Path(__file__).resolve().parents[1]


def _url(property_id: object) -> str:
    return f"/api/v1/properties/{property_id}/analysis"


def _pdf_text(pdf: bytes) -> str:
    return " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages).split())


# --- 1. REST analysis uses the caller's relevant deal, as the PDF and chat do ----------------


def test_rest_analysis_uses_the_callers_deal_unless_told_not_to(
    client: TestClient, db: Session
) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    prop = make_subject_property(db, org)  # listed at $45,000
    analyst = make_user(db, org, Role.analyst)
    headers = auth_headers(db, analyst)
    deal = make_deal(
        db,
        org,
        property_id=prop.id,
        strategy="flip",
        purchase_price=Decimal("41000"),
        estimated_repairs=Decimal("20000"),
    )

    body = client.post(_url(prop.id), json={}, headers=headers).json()
    # The deal the PDF worker picks for the same caller is the one used here.
    picked = _requesters_deal(session=db, org_id=org.id, property_id=prop.id, user_id=analyst.id)
    assert picked == deal.id
    assert body["deal_id"] == str(deal.id) and body["deal_status"]
    assert Decimal(body["purchase_price"]["amount"]) == Decimal("41000")
    assert Decimal(body["max_offer"]["rehab_total"]) == Decimal("20000.00")

    listed = client.post(_url(prop.id), json={"use_deal": False}, headers=headers)
    assert listed.status_code == 200, listed.text
    assert listed.json()["deal_id"] is None
    price = listed.json()["purchase_price"]
    assert (Decimal(price["amount"]), price["source"]) == (Decimal(45000), "list price")

    both = client.post(
        _url(prop.id), json={"deal_id": str(deal.id), "use_deal": False}, headers=headers
    )
    assert both.status_code == 422 and "use_deal" in both.text

    # An investor who is not on the deal gets the property as listed (no deal they may see).
    investor = make_user(db, org, Role.investor)
    theirs = client.post(_url(prop.id), json={}, headers=auth_headers(db, investor)).json()
    assert theirs["deal_id"] is None
    assert Decimal(theirs["purchase_price"]["amount"]) == Decimal(45000)


# --- 2 and 9. The annualised ROI: undefined is not infinite; no 1-month compounding ---------


def _flip(**fields: object) -> FlipResult:
    values: dict[str, object] = {"arv": Decimal("150000"), "rehab_cost": Decimal("0")}
    values.update(fields)
    return underwriting.analyze_flip(inputs=FlipInput.model_validate(values))


def _line(formulas: list[str], start: str) -> str:
    return next(line for line in formulas if line.startswith(start))


def test_a_loss_over_the_cash_invested_is_undefined_not_infinite() -> None:
    flip = _flip(
        arv=Decimal("50000"),
        purchase_price=Decimal("100000"),
        hold_months=6,
        financing=ShortTermLoan(ltc_pct=Decimal("90"), annual_rate_pct=Decimal("10")),
    )
    assert flip.roi_pct is not None and flip.roi_pct < -100
    assert flip.annualized_roi_pct is None and flip.infinite_return is False
    line = _line(flip.formulas, "annualised ROI")
    assert "∞" not in line
    assert "undefined (the loss is at least the cash invested" in line


def test_a_one_month_flip_is_not_compounded_into_an_absurd_annual_rate() -> None:
    short = _flip(purchase_price=Decimal("50000"), hold_months=1)
    assert short.roi_pct is not None and short.roi_pct > 100
    assert short.annualized_roi_pct is None and short.infinite_return is False
    assert "not reported" in _line(short.formulas, "annualised ROI")
    # A usual six-month flip is still annualised.
    usual = _flip(purchase_price=Decimal("120000"), hold_months=6)
    assert usual.roi_pct is not None and usual.annualized_roi_pct is not None
    assert usual.annualized_roi_pct > usual.roi_pct


# --- 8. Holding costs: multiply first, round once ---------------------------------------------


def test_flip_and_brrrr_holding_costs_are_rounded_once() -> None:
    # 8.9 % a year of $50,000 is 370.8333... a month: six months are $2,225.00, not 2,224.98.
    flip = _flip(
        purchase_price=Decimal("50000"),
        hold_months=6,
        holding_costs=HoldingCosts(price_pct_yearly=Decimal("8.9")),
    )
    assert flip.holding_costs == Decimal("2225.00")
    line = _line(flip.formulas, "holding costs")
    assert "= 2,225.00" in line and "370.8333" in line


# --- 4. Percentages: the exact ratio, rounded once, half up -------------------------------


def test_percentages_round_the_exact_ratio_half_up() -> None:
    ratio = Decimal("-14805.08") / Decimal("28011.28") * 100
    assert analysis_service.pct_text(Decimal("-52.85"), ratio) == "-52.9%"
    assert analysis_service.pct_text(Decimal("-82.35"), Decimal("-82.347")) == "-82.3%"
    assert analysis_service.pct_text(Decimal("12.25")) == "12.3%"  # half up, not half even


def test_the_verdict_and_the_pdf_show_the_flip_roi_from_the_exact_ratio(db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    prop = make_subject_property(db, org)
    analysis = analysis_service.analyze_property(
        session=db, org_id=org.id, property_id=prop.id, rehab_cost=Decimal("20000")
    )
    assert analysis.flip is not None
    # The QA figures: -14,805.08 / 28,011.28 = -52.854 %, stored -52.85.
    flip = analysis.flip.model_copy(
        update={
            "profit": Decimal("-14805.08"),
            "cash_invested": Decimal("28011.28"),
            "roi_pct": Decimal("-52.85"),
        }
    )
    verdict = analysis_service.decide(
        flip=flip,
        rental=None,
        brrrr=None,
        max_offer=None,
        price=None,
        rent=analysis.rent,
        missing=[],
        thresholds=VerdictThresholds(),
    )
    assert "flip ROI -52.9% < 20.0%" in verdict.reasons
    content = _pdf_text(render_property_report(analysis.model_copy(update={"flip": flip})).data)
    assert "ROI -52.9%" in content and "-52.8%" not in content


# --- 3 and 6. The deal's repairs: labelled on the PDF cover, named by a what-if --------------


def test_the_cover_labels_the_deals_repairs_and_a_what_if_names_them(db: Session) -> None:
    org = make_org(db)
    make_sold_market(db, org)
    prop = make_subject_property(db, org)
    deal = make_deal(
        db,
        org,
        property_id=prop.id,
        strategy="flip",
        purchase_price=Decimal("40000"),
        estimated_repairs=Decimal("25000"),
    )
    analysis = analysis_service.analyze_property(
        session=db, org_id=org.id, property_id=prop.id, deal_id=deal.id
    )
    content = _pdf_text(render_property_report(analysis).data)
    assert "Rehab total (with contingency) $25,000" not in content
    assert content.count("Rehab budget used (the deal's estimated repairs) $25,000") == 2

    what_if = analysis_service.analyze_property(
        session=db,
        org_id=org.id,
        property_id=prop.id,
        deal_id=deal.id,
        rehab_cost=Decimal("70000"),
    )
    note = next(n for n in what_if.notes if n.startswith("rehab $70,000 as given"))
    assert f"instead of deal {deal.id}'s estimated repairs $25,000" in note


# --- 9. Projection query parameters have upper bounds -----------------------------------------


def test_projection_money_parameters_are_bounded(client: TestClient, db: Session) -> None:
    org = make_org(db)
    headers = auth_headers(db, make_user(db, org, Role.analyst))
    deal = make_deal(db, org, strategy="rental", purchase_price=Decimal("60000"))

    for query in ("rent_monthly=99999999999", "arv=1000000000", "rehab_cost=20000000"):
        response = client.get(f"/api/v1/projections/{deal.id}?{query}", headers=headers)
        assert response.status_code == 422, (query, response.text)
        assert "over the maximum" in response.text


# --- 7. The CLI chat's report links name the server's address -----------------------------


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    from store.db import get_engine

    engine: Engine = get_engine()
    with Session(engine, expire_on_commit=False) as session:
        built = build_world(session)
    yield built
    truncate_all(engine)


def test_chat_report_links_use_the_url_given(world: World) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PUBLIC_BASE_URL"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "chat",
            "--as",
            world.ivy.email,
            "--url",
            "http://127.0.0.1:8712",
        ],
        cwd=REPO,
        env=env,
        input=f"{SUBJECT_ADDRESS}\nreport\n",
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert "report links on http://127.0.0.1:8712" in done.stderr
    assert f"Here is the PDF report for {SUBJECT_ADDRESS}: http://127.0.0.1:8712/" in done.stdout

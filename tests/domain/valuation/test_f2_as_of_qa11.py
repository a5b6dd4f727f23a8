"""A value date after the company's today is refused everywhere a caller may give one.

``POST /valuations/calculate`` and ``/valuations/arv`` answered 422 ("as_of ... is after
today"); the same date still passed on ``GET /properties/{id}/comps?as_of=``,
``GET /market/analysis?as_of=``, the analysis body's ``as_of`` and the services behind them.
One check (``valuation_service.check_as_of``) now answers all of them in the valuation
routes' 422 shape, against the company-local day; the market monitor values its comps as of
that day too (it used UTC's date: tomorrow in the Detroit evening, which the check refuses).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

import core.clock
import domain.property.service as property_service_module
from core.clock import local_today
from domain.analysis import service as analysis_service
from domain.auth.enums import Role
from domain.market.models import TrackedListing
from domain.valuation import service as valuation_service
from tests.factories import (
    auth_headers,
    listing_row,
    make_org,
    make_sold_market,
    make_subject_property,
    make_user,
    run_market_scan,
)

API = "/api/v1"

# 9 pm on November 30 in Detroit is 02:00 on December 1 in UTC.
EVENING_UTC = dt.datetime(2026, 12, 1, 2, tzinfo=dt.UTC)
EVENING_LOCAL_DAY = dt.date(2026, 11, 30)


def _future_error(response: Any, where: str, as_of: dt.date) -> dict[str, Any]:
    """The one validation error of a refused value date, in FastAPI's 422 shape."""
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert isinstance(errors, list) and len(errors) == 1, errors
    error: dict[str, Any] = errors[0]
    assert error["loc"] == [where, "as_of"], error
    assert error["type"] == "value_error", error
    assert error["msg"] == (
        f"Value error, as_of {as_of.isoformat()} is after today ({local_today().isoformat()}): "
        "a valuation is as of today or an earlier date"
    ), error
    return error


@pytest.fixture
def market(db: Session) -> tuple[Any, dict[str, str]]:
    org = make_org(db)
    make_sold_market(db, org)
    subject = make_subject_property(db, org)
    return subject, auth_headers(db, make_user(db, org, role=Role.analyst))


def test_the_check_refuses_only_dates_after_the_company_s_today() -> None:
    today = local_today()
    assert valuation_service.check_as_of(None) is None
    assert valuation_service.check_as_of(today) == today
    assert valuation_service.check_as_of(today - dt.timedelta(days=400)) is not None
    with pytest.raises(valuation_service.ValueDateAfterTodayError) as caught:
        valuation_service.check_as_of(today + dt.timedelta(days=1))
    assert isinstance(caught.value, valuation_service.ValuationInputError)
    assert caught.value.today == today
    assert "is after today" in str(caught.value)


def test_the_check_uses_the_company_day_in_the_evening(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core.clock, "utcnow", lambda: EVENING_UTC)
    assert valuation_service.check_as_of(EVENING_LOCAL_DAY) == EVENING_LOCAL_DAY
    with pytest.raises(valuation_service.ValueDateAfterTodayError):
        valuation_service.check_as_of(EVENING_UTC.date())  # UTC's date: tomorrow there


def test_comps_market_and_analysis_routes_answer_the_valuation_routes_422(
    client: TestClient, market: tuple[Any, dict[str, str]]
) -> None:
    subject, headers = market
    tomorrow = local_today() + dt.timedelta(days=1)
    for as_of in (tomorrow, dt.date(2031, 1, 1)):
        body = {"property_id": str(subject.id), "as_of": as_of.isoformat()}
        reference = _future_error(
            client.post(f"{API}/valuations/calculate", json=body, headers=headers), "body", as_of
        )
        for response, where in (
            (client.post(f"{API}/comparables/analyze", json=body, headers=headers), "body"),
            (
                client.get(
                    f"{API}/properties/{subject.id}/comps",
                    params={"as_of": as_of.isoformat()},
                    headers=headers,
                ),
                "query",
            ),
            (
                client.get(
                    f"{API}/market/analysis",
                    params={"zip": "48201", "as_of": as_of.isoformat()},
                    headers=headers,
                ),
                "query",
            ),
            (
                client.post(
                    f"{API}/properties/{subject.id}/analysis",
                    json={"as_of": as_of.isoformat()},
                    headers=headers,
                ),
                "body",
            ),
        ):
            error = _future_error(response, where, as_of)
            assert error["msg"] == reference["msg"]
            assert set(error) == set(reference)


def test_today_and_earlier_still_pass_on_those_routes(
    client: TestClient, market: tuple[Any, dict[str, str]]
) -> None:
    subject, headers = market
    today = local_today().isoformat()
    comps = client.get(
        f"{API}/properties/{subject.id}/comps", params={"as_of": today}, headers=headers
    )
    assert comps.status_code == 200, comps.text
    assert comps.json()["as_of"] == today
    area = client.get(
        f"{API}/market/analysis", params={"zip": "48201", "as_of": "2025-01-01"}, headers=headers
    )
    assert area.status_code == 200, area.text
    analysis = client.post(
        f"{API}/properties/{subject.id}/analysis", json={"as_of": today}, headers=headers
    )
    assert analysis.status_code == 200, analysis.text
    assert analysis.json()["as_of"] == today


def test_the_services_refuse_it_for_callers_that_skip_the_api(
    db: Session, market: tuple[Any, dict[str, str]]
) -> None:
    subject, _ = market
    org_id = subject.org_id
    tomorrow = local_today() + dt.timedelta(days=1)
    with pytest.raises(valuation_service.ValueDateAfterTodayError):
        valuation_service.find_comps(
            session=db, org_id=org_id, property_id=subject.id, as_of=tomorrow
        )
    with pytest.raises(valuation_service.ValueDateAfterTodayError):
        valuation_service.market_analysis(
            session=db, org_id=org_id, zip_code="48201", as_of=tomorrow
        )
    # The analysis refuses it outright: its values would only have been "missing".
    with pytest.raises(analysis_service.AnalysisInputError, match="is after today"):
        analysis_service.analyze_property(
            session=db, org_id=org_id, property_id=subject.id, as_of=tomorrow
        )


def test_the_market_monitor_values_comps_as_of_the_company_s_day_in_the_evening(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both clocks at 9 pm Detroit time: UTC's date is already the next day.
    monkeypatch.setattr(core.clock, "utcnow", lambda: EVENING_UTC)
    monkeypatch.setattr(property_service_module, "utcnow", lambda: EVENING_UTC)
    org = make_org(db)
    make_sold_market(db, org)
    run_market_scan(db, org, [listing_row(1500)])
    listing = db.exec(select(TrackedListing).where(TrackedListing.org_id == org.id)).one()
    figures = listing.score_details["figures"]
    for name in ("as_is_value", "arv"):
        assert figures[name] is not None, listing.score_details
        assert f"comps as of {EVENING_LOCAL_DAY.isoformat()}" in figures[name]["source"], figures

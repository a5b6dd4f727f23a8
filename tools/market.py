"""Market monitor tools: the latest opportunities, the caller's deal alerts, market trends.

The market service scopes everything to the caller's organisation; ``configure_alerts``
changes only the caller's own criteria (the tool never takes a user).
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import ToolRuntime
from pydantic import Field
from sqlmodel import Session

from agent.context import Context
from core.clock import local_day
from domain.market import alerts as alert_service
from domain.market import service as market_service
from domain.market import trends as trend_service
from domain.market.enums import OpportunityStrategy, TrendSource
from domain.market.models import (
    DEFAULT_TIMEZONE,
    DETAILS_MONEY_KEYS,
    AlertCriteria,
    AlertCriteriaIn,
    Opportunity,
    OpportunitySort,
    ScoreBreakdown,
    TrackedListing,
)
from tools._common import ToolError, money, require_user, run_tool


def _dollars(value: Any) -> Any:
    """A stored amount ("45000.00") as the chat writes it; anything else as it is."""
    try:
        return money(Decimal(str(value))) if value is not None else None
    except ArithmeticError:
        return value


def _whole(value: Decimal) -> Decimal | int:
    """100.00 as 100; 88.89 as it is."""
    return int(value) if value == value.to_integral() else value


def _breakdown_for_chat(breakdown: ScoreBreakdown) -> dict[str, Any]:
    """The score breakdown, compact: each part's points of its maximum, figures and why.

    The figures' sources are listed once (``sources``); the cash flow's formulas and the comps
    behind a value stay in the REST answer (``GET /opportunities/{id}``).
    """
    sources: dict[str, str] = {}
    parts = []
    for part in breakdown.components:
        figures: dict[str, Any] = {}
        for key, value in part.inputs.items():
            if key == "formulas":
                continue
            if isinstance(value, dict):
                figures[key] = _dollars(value.get("amount"))
                if value.get("source"):
                    sources.setdefault(key, str(value["source"]))
            else:
                figures[key] = _dollars(value) if key in DETAILS_MONEY_KEYS else value
        parts.append(
            {
                "name": part.name,
                "status": part.status,
                "points": part.points,
                "max_points": part.max_points,
                "value": part.value,
                "explanation": part.explanation,
                "figures": figures,
            }
        )
    return {
        "score": breakdown.score,
        "out_of": _whole(
            sum((c.max_points or Decimal(0) for c in breakdown.components), Decimal(0))
        ),
        "points_add_up": breakdown.reproducible,
        "components": parts,
        "notes": breakdown.notes,
        "sources": sources,
    }


def _opportunity_row(opp: Opportunity, listing: TrackedListing) -> dict[str, Any]:
    """An opportunity as the tools show it: where, price, score, why, and the numbers."""
    place = ", ".join(p for p in (listing.address_line, listing.city) if p)
    breakdown = market_service.opportunity_breakdown(opp)
    reasons = sorted(
        (c for c in breakdown.components if c.points),
        key=lambda c: c.points or Decimal(0),
        reverse=True,
    )[:3]
    return {
        "opportunity_id": opp.id,
        "address": f"{place} {listing.zip_code or ''}".strip(),
        "list_price": money(listing.list_price),
        "score": opp.score,
        "strategy": opp.strategy,
        "roi_pct": opp.roi_estimate,
        "rehab_estimate": money(opp.rehab_estimate),
        "as_is_value": money(opp.as_is_value),
        "arv": money(opp.arv),
        "why": [c.explanation for c in reasons],
        "score_breakdown": _breakdown_for_chat(breakdown),
        "found": local_day(opp.created_at),
    }


def _asked_about(rows: list[dict[str, Any]], said: str) -> list[dict[str, Any]]:
    """The listed opportunities ``said`` names: by score ("79") or by address words.

    A ToolError when none of those listed matches (the user can list more or name another).
    """
    wanted = said.strip().lower()
    try:
        score = Decimal(wanted)
    except ArithmeticError:
        score = None
    if score is not None:
        found = [r for r in rows if r["score"] is not None and Decimal(r["score"]) == score]
        if not found and score == score.to_integral():
            # "why is it scored 56?" of a 56.47: people round (or cut) the decimals.
            found = [
                r
                for r in rows
                if r["score"] is not None
                and int(Decimal(r["score"])) == score
                or r["score"] is not None
                and Decimal(r["score"]).quantize(Decimal(1), ROUND_HALF_UP) == score
            ]
    else:
        found = [r for r in rows if wanted in str(r["address"]).lower()]
    if not found:
        shown = ", ".join(f"{r['address']} ({r['score']})" for r in rows) or "none"
        raise ToolError(f"none of the opportunities listed is {said!r}; listed: {shown}")
    return found[:3]


@tool(parse_docstring=True)
def latest_opportunities(
    runtime: ToolRuntime[Context],
    limit: Annotated[int, Field(ge=1, le=20)] = 5,
    min_score: Annotated[Decimal | None, Field(ge=0, le=100)] = None,
    strategy: OpportunityStrategy | None = None,
    zip_code: Annotated[str | None, Field(max_length=10)] = None,
    max_price: Annotated[Decimal | None, Field(ge=0, le=100_000_000)] = None,
    min_price: Annotated[Decimal | None, Field(ge=0, le=100_000_000)] = None,
    sort: OpportunitySort = OpportunitySort.score_desc,
    explain: Annotated[str | None, Field(min_length=1, max_length=200)] = None,
) -> dict[str, Any]:
    """The deal opportunities the market monitor found in listing feeds, best first.

    Use it for "any new deals?", "what did the monitor find in 48201?", "show me flips" or
    "why is it scored 79?". Each has its score (0-100) with the main reasons and its
    score_breakdown (every component's points of its maximum, adding up to the score, with
    the figures it used), the best strategy and its return, the rehab estimate, as-is value
    and ARV.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        limit: At most this many opportunities.
        min_score: Only opportunities scoring at least this (0-100).
        strategy: Only this strategy: flip, rental, brrrr or wholesale.
        zip_code: Only listings in this ZIP code.
        max_price: Only listings at most this list price, dollars ("under 80k").
        min_price: Only listings at least this list price, dollars.
        sort: -score (best first, the default), score (lowest first), newest or oldest
            (when the monitor first saw the listing), price or -price (list price low to
            high, high to low).
        explain: For "why is it scored 79?" or "why is 123 Main St scored so high?": the
            score or address asked about; the result's ``explained`` holds the ones among
            those listed that match, with their whole breakdown.

    """
    ctx = runtime.context
    ctx.progress("looking up the latest opportunities…")

    def body(session: Session) -> dict[str, Any]:
        filters = market_service.OpportunityFilters(
            min_score=min_score,
            strategy=strategy.value if strategy else None,
            zip_code=zip_code,
            min_price=min_price,
            max_price=max_price,
        )
        rows = market_service.latest_opportunities(
            session=session, org_id=ctx.org_id, limit=limit, filters=filters, sort=sort
        )
        price = (
            f"{money(min_price) if min_price is not None else 'any'} to "
            f"{money(max_price) if max_price is not None else 'any'}"
            if min_price is not None or max_price is not None
            else None
        )
        listed = [_opportunity_row(opp, listing) for opp, listing in rows]
        explained = _asked_about(listed, explain) if explain else None
        return {
            "count": len(rows),
            **({"list_price": price} if price else {}),
            **({"explained": explained} if explained is not None else {}),
            "opportunities": listed,
            "source": "market_monitor.opportunities (scored from listing feeds: comps, "
            "cost book, HUD FMR, underwriting)",
        }

    return run_tool(ctx, "latest_opportunities", body)


def _time(text: str | None, name: str) -> dt.time | None:
    if text is None or not text.strip():
        return None
    try:
        return dt.time.fromisoformat(text.strip())
    except ValueError:
        raise ToolError(f"{name} must be a time like 21:00, not {text!r}") from None


def _criteria_result(criteria: AlertCriteria) -> dict[str, Any]:
    """Saved alert criteria as the tool answers them."""
    quiet = (
        f"{criteria.quiet_hours_start:%H:%M}-{criteria.quiet_hours_end:%H:%M} {criteria.timezone}"
        if criteria.quiet_hours_start and criteria.quiet_hours_end
        else None
    )
    return {
        "saved": True,
        "active": criteria.active,
        "zip_codes": criteria.zip_codes,
        "cities": criteria.cities,
        "price_range": [money(criteria.min_price), money(criteria.max_price)],
        "min_score": criteria.min_score,
        "min_roi_pct": criteria.min_roi_pct,
        "strategies": criteria.strategies,
        "quiet_hours": quiet,
        "channel": "WhatsApp, to the phone number on the user's account",
    }


@tool(parse_docstring=True)
def configure_alerts(
    runtime: ToolRuntime[Context],
    zip_codes: Annotated[list[str] | None, Field(max_length=50)] = None,
    cities: Annotated[list[str] | None, Field(max_length=50)] = None,
    min_price: Annotated[Decimal | None, Field(ge=0, le=100_000_000)] = None,
    max_price: Annotated[Decimal | None, Field(ge=0, le=100_000_000)] = None,
    min_score: Annotated[Decimal | None, Field(ge=0, le=100)] = None,
    min_roi_pct: Annotated[Decimal | None, Field(ge=-100, le=1000)] = None,
    strategies: list[OpportunityStrategy] | None = None,
    quiet_hours_start: Annotated[str | None, Field(max_length=8)] = None,
    quiet_hours_end: Annotated[str | None, Field(max_length=8)] = None,
    timezone: Annotated[str | None, Field(max_length=64)] = None,
    active: bool = True,
    quiet_hours_off: bool = False,
) -> dict[str, Any]:
    """Set the user's own deal alerts: which new opportunities to text them on WhatsApp.

    Replaces their earlier criteria (a time zone or quiet hours not given stay as saved).
    Empty lists mean any area or strategy. Alerts during quiet hours are held and sent when
    the quiet hours end; the best existing matches are sent right away. Use active=false to
    stop alerts.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        zip_codes: Five-digit ZIP codes to watch.
        cities: City names to watch.
        min_price: Lowest list price in dollars.
        max_price: Highest list price in dollars.
        min_score: Lowest opportunity score (0-100).
        min_roi_pct: Lowest return in percent (flip ROI or cash-on-cash).
        strategies: Only these strategies: flip, rental, brrrr, wholesale.
        quiet_hours_start: Local time alerts stop, like 21:00.
        quiet_hours_end: Local time alerts resume, like 07:30.
        quiet_hours_off: True for "no quiet hours" / "remove my quiet hours": alerts are
            sent at any hour (alone, the saved criteria stay as they are).
        timezone: The user's IANA time zone (default: the saved one, else the company's,
            America/Detroit).
        active: False turns the alerts off, true back on; with no other argument the saved
            criteria are kept (with none saved, stopping saves nothing).

    """
    ctx = runtime.context
    criteria_said = (zip_codes, cities, min_price, max_price, min_score, min_roi_pct, strategies)
    quiet_said = (quiet_hours_start, quiet_hours_end)
    if quiet_hours_off and any(quiet_said):
        raise ToolError("quiet_hours_off removes the quiet hours: give no quiet hours with it")
    # "quiet hours 10pm to 6am" alone changes the quiet hours of the saved criteria (it must
    # not save criteria with no area, which would alert on every opportunity).
    only_quiet = all(quiet_said) and not any(x is not None and x != [] for x in criteria_said)

    def _quiet_hours_only(session: Session) -> dict[str, Any]:
        saved = (
            alert_service.get_criteria(session=session, org_id=ctx.org_id, user_id=ctx.user_id)
            if ctx.user_id is not None
            else None
        )
        if saved is None:
            raise ToolError(
                "you have no deal alerts set up, so there are no quiet hours to change: say "
                "'alert me' with ZIP codes or cities first"
            )
        criteria = alert_service.configure_alerts(
            session=session,
            org_id=ctx.org_id,
            principal=ctx.principal,
            criteria_in=AlertCriteriaIn(
                zip_codes=list(saved.zip_codes or []),
                cities=list(saved.cities or []),
                min_price=saved.min_price,
                max_price=saved.max_price,
                min_score=saved.min_score,
                min_roi_pct=saved.min_roi_pct,
                strategies=[OpportunityStrategy(x) for x in saved.strategies or []],
                active=saved.active,
                timezone=timezone or saved.timezone,
                quiet_hours_start=None
                if quiet_hours_off
                else _time(quiet_hours_start, "quiet_hours_start"),
                quiet_hours_end=None
                if quiet_hours_off
                else _time(quiet_hours_end, "quiet_hours_end"),
            ),
        )
        return _criteria_result(criteria) | (
            {"quiet_hours_removed": True} if quiet_hours_off else {"quiet_hours_changed": True}
        )

    only_switch = timezone is None and not any(
        (zip_codes, cities, min_price, max_price, min_score, min_roi_pct, strategies,
         quiet_hours_start, quiet_hours_end)
    )  # fmt: skip

    def body(session: Session) -> dict[str, Any]:
        require_user(ctx)
        criteria_given = any(x is not None and x != [] for x in criteria_said)
        if (quiet_hours_off and not criteria_given) or only_quiet:
            return _quiet_hours_only(session)
        # "stop my alerts" / "turn them back on": keep the criteria, switch them off or on.
        kept = (
            alert_service.set_alerts_active(
                session=session, org_id=ctx.org_id, principal=ctx.principal, active=active
            )
            if only_switch
            else None
        )
        if only_switch and kept is None:
            # Nothing to stop or resume: saving empty criteria would later read as "kept", and
            # resuming none would switch on alerts for every opportunity ("any area").
            return {"saved": False, "active": False, "had_alerts": False, "resume": active}
        # The time zone and quiet hours only when given: left out, the saved ones stay (a new
        # "alert me to flips in 50014" must not release alerts held for the night).
        when: dict[str, Any] = {}
        if quiet_hours_off:
            pass  # "alert me to flips in 50014, no quiet hours": saved with none
        elif quiet_hours_start or quiet_hours_end:
            when["quiet_hours_start"] = _time(quiet_hours_start, "quiet_hours_start")
            when["quiet_hours_end"] = _time(quiet_hours_end, "quiet_hours_end")
        elif (
            not only_switch
            and ctx.user_id is not None
            and (
                saved := alert_service.get_criteria(
                    session=session, org_id=ctx.org_id, user_id=ctx.user_id
                )
            )
        ):
            if saved.quiet_hours_start and saved.quiet_hours_end:
                when["quiet_hours_start"] = saved.quiet_hours_start
                when["quiet_hours_end"] = saved.quiet_hours_end
        if timezone is not None:
            when["timezone"] = timezone
        criteria = kept or alert_service.configure_alerts(
            session=session,
            org_id=ctx.org_id,
            principal=ctx.principal,
            criteria_in=AlertCriteriaIn(
                zip_codes=zip_codes or [],
                cities=cities or [],
                min_price=min_price,
                max_price=max_price,
                min_score=min_score,
                min_roi_pct=min_roi_pct,
                strategies=strategies or [],
                active=active,
                **when,
            ),
        )
        return _criteria_result(criteria) | (
            {"quiet_hours_removed": True} if quiet_hours_off else {}
        )

    return run_tool(ctx, "configure_alerts", body)


def _alert_row(
    alert: Any,
    opp: Opportunity,
    listing: TrackedListing,
    timezone: str = DEFAULT_TIMEZONE,
    delivery: str | None = None,
) -> dict[str, Any]:
    """One alert as the tools show it: the listing, and whether and when it was sent.

    Times are in the investor's own time zone (``timezone``), with its offset.
    """
    place = ", ".join(p for p in (listing.address_line, listing.city) if p)
    row: dict[str, Any] = {
        "address": f"{place} {listing.zip_code or ''}".strip(),
        "list_price": money(listing.list_price),
        "score": opp.score,
        "status": str(alert.status),
        "created": alert.created_at.isoformat(timespec="minutes"),
    }
    if alert.sent_at is not None:
        row["sent_at"] = alert.sent_at.isoformat(timespec="minutes")
    if alert.send_after is not None and str(alert.status) == "held":
        try:
            zone = ZoneInfo(timezone)
        except (ValueError, KeyError):  # a zone this machine lacks: UTC, said so by the offset
            zone = ZoneInfo("UTC")
        row["held_until"] = alert.send_after.astimezone(zone).isoformat(timespec="minutes")
        row["held_until_local"] = alert_service.local_time_text(alert.send_after, timezone)
    if delivery is not None:
        # What the outbox did with it: "recorded" when WhatsApp sending is not set up.
        row["whatsapp"] = delivery
    if alert.status_reason:
        row["not_sent_because"] = alert.status_reason
    return row


@tool(parse_docstring=True)
def my_alerts(
    runtime: ToolRuntime[Context],
    limit: Annotated[int, Field(ge=1, le=20)] = 5,
) -> dict[str, Any]:
    """The user's own deal alert settings and their newest alerts, sent or not.

    Use it for "what alerts did I get?", "show my alert settings" or "why didn't I get an
    alert?". Each alert says which listing it was about, whether it was queued on WhatsApp,
    held for quiet hours, or not sent and why.

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        limit: At most this many alerts, newest first.

    """
    ctx = runtime.context

    def body(session: Session) -> dict[str, Any]:
        user_id = ctx.user_id
        if user_id is None:
            raise ToolError("alerts belong to a signed-in user; this conversation has none")
        criteria = alert_service.get_criteria(session=session, org_id=ctx.org_id, user_id=user_id)
        rows = alert_service.own_alerts_with_listings(
            session=session, org_id=ctx.org_id, user_id=user_id, limit=limit
        )
        delivered = alert_service.deliveries(
            session=session, org_id=ctx.org_id, alerts=[alert for alert, _o, _l in rows]
        )
        settings: dict[str, Any] | None = None
        if criteria is not None:
            settings = {
                "active": criteria.active,
                "zip_codes": criteria.zip_codes,
                "cities": criteria.cities,
                "price_range": [money(criteria.min_price), money(criteria.max_price)],
                "min_score": criteria.min_score,
                "strategies": criteria.strategies,
                "quiet_hours": (
                    f"{criteria.quiet_hours_start:%H:%M}-{criteria.quiet_hours_end:%H:%M} "
                    f"{criteria.timezone}"
                    if criteria.quiet_hours_start and criteria.quiet_hours_end
                    else None
                ),
            }
        return {
            "settings": settings,
            "count": len(rows),
            "alerts": [
                _alert_row(
                    alert,
                    opp,
                    listing,
                    criteria.timezone if criteria is not None else DEFAULT_TIMEZONE,
                    delivered.get(alert.id),
                )
                for alert, opp, listing in rows
            ],
            "source": "market_monitor.alert_criteria and market_monitor.alerts",
        }

    return run_tool(ctx, "my_alerts", body)


# The longest trend the tool reads (sales trends cover at most this many months).
MAX_TREND_MONTHS = 120


def _month_row(month: Any) -> dict[str, Any]:
    """One month as the agent quotes it: dollars formatted, counts as they are."""
    row: dict[str, Any] = {"month": month.month}
    if month.median_price is not None:
        row["median_price"] = money(month.median_price)
    if month.median_price_per_sqft is not None:
        row["median_price_per_sqft"] = f"${month.median_price_per_sqft:,.2f}"
    for name in ("sales", "new_listings", "inventory", "months_of_inventory"):
        value = getattr(month, name)
        if value is not None:
            row[name] = value
    if month.dollar_volume is not None:
        row["dollar_volume"] = money(month.dollar_volume)
    return row


@tool(parse_docstring=True)
def market_trends(
    runtime: ToolRuntime[Context],
    area: Annotated[str, Field(min_length=1, max_length=100)],
    source: TrendSource = TrendSource.sales,
    months: Annotated[int, Field(ge=1)] = 12,
) -> dict[str, Any]:
    """Monthly market trend for an area: median price, $/sqft, sales volume and inventory.

    Use it for "how is the market in 48201?" or "Austin prices over the last year". Sources:
    sales (the team's imported sales, by ZIP or neighbourhood), listings (listings the monitor
    tracks, by ZIP or city) or txhousing (Texas city statistics 2000-2015, e.g. Austin).

    Args:
        runtime: The run context (organisation, user, role), injected: never a model
            argument.
        area: A ZIP code, neighbourhood or city.
        source: sales, listings or txhousing.
        months: How many months back, at most 120 (10 years); more is cut to 120.

    """
    ctx = runtime.context
    ctx.progress("reading the market trend…")
    used = min(months, MAX_TREND_MONTHS)

    def body(session: Session) -> dict[str, Any]:
        result = trend_service.market_trends(
            session=session, org_id=ctx.org_id, area=area, source=source, months=used
        )
        out: dict[str, Any] = {
            "area": result.area,
            "source": result.source,
            "months_requested": used,
            "period": [result.period_start, result.period_end],
            "months": [_month_row(m) for m in result.months],
            "where_from": result.inputs.get("source"),
        }
        if months > used:
            out["months_asked"] = months
            out["months_limit"] = MAX_TREND_MONTHS
            out["months_limit_years"] = MAX_TREND_MONTHS // 12
        if not result.months and result.source != TrendSource.listings:
            # Nothing here, but the monitor may track listings in the area: say so.
            out["listings_in_area"] = trend_service.listings_in_area(
                session=session, org_id=ctx.org_id, area=result.area
            )
        return out

    return run_tool(ctx, "market_trends", body)


TOOLS: list[BaseTool] = [latest_opportunities, configure_alerts, my_alerts, market_trends]

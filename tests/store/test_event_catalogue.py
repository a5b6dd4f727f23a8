"""The event catalogue matches the original architecture's list, and the registry guards names."""

from __future__ import annotations

import re

import pytest
from sqlmodel import Session

from store import events
from store.events import Event
from tests.seed import seed_lines


def _seed_lines() -> list[tuple[str, str, str]]:
    return [(module, verb, name) for module, verb, name in seed_lines("events.txt")]


def test_catalogue_equals_the_seed_event_list_plus_the_documented_additions() -> None:
    seed = _seed_lines()
    assert len(seed) == len(set(seed)), "the seed lists an event twice"
    assert not set(events.BEYOND_SEED) & set(seed), "an addition is already in the seed"
    assert set(events.DROPPED_FROM_SEED) <= set(seed), "a dropped line is not in the seed"
    kept = [line for line in seed if line not in events.DROPPED_FROM_SEED]
    assert sorted(events.catalogue_lines()) == sorted(kept + list(events.BEYOND_SEED))


def test_every_seed_event_name_is_accepted_and_nothing_else() -> None:
    seed_names = {name for _, _, name in _seed_lines()}
    assert seed_names | {name for _, _, name in events.BEYOND_SEED} == events.EVENT_NAMES
    for name in seed_names:
        assert events.check_event_name(name) == name


def test_event_names_are_lowercase_dotted() -> None:
    for name in events.EVENT_NAMES:
        assert re.fullmatch(r"[a-z]+(\.[a-z]+)+", name), name


@pytest.mark.parametrize("name", ["property.creatd", "", "PROPERTY.CREATED", "deal"])
def test_unknown_event_name_is_refused_with_a_clear_message(name: str) -> None:
    with pytest.raises(ValueError, match="unknown event name"):
        events.check_event_name(name)


def _handler(session: Session, event: Event) -> None:
    del session, event


def _other_handler(session: Session, event: Event) -> None:
    del session, event


def test_subscribe_registers_and_unsubscribe_removes() -> None:
    with events.isolated_registry():
        events.subscribe("deal.created", name="finance.open_ledger")(_handler)
        events.subscribe("property.created")(_handler)
        (sub,) = events.subscribers("deal.created")
        assert sub.name == "finance.open_ledger"
        assert sub.handler is _handler
        assert events.resolve_handler(sub.handler_path) is _handler
        # The default name is the function's dotted path (stable across processes).
        (default,) = events.subscribers("property.created")
        assert default.name == f"{__name__}._handler"
        events.unsubscribe("finance.open_ledger")
        assert events.subscribers("deal.created") == []
        assert [s.name for s in events.all_subscribers()] == [default.name]
    assert events.get_subscriber("property.created", default.name) is None


def test_subscribe_refuses_unknown_events_local_functions_and_name_clashes() -> None:
    with events.isolated_registry():
        with pytest.raises(ValueError, match="unknown event name"):
            events.subscribe("property.exploded")

        def local(session: Session, event: Event) -> None:
            del session, event

        with pytest.raises(ValueError, match="module-level"):
            events.subscribe("deal.created")(local)

        events.subscribe("deal.created", name="same")(_handler)
        events.subscribe("deal.created", name="same")(_handler)  # re-import: fine
        with pytest.raises(ValueError, match="already taken"):
            events.subscribe("deal.created", name="same")(_other_handler)


def test_missing_subscriptions_lists_catalogue_subscriptions_without_a_handler() -> None:
    with events.isolated_registry():
        missing = events.missing_subscriptions()
        expected = [(m, n) for m, verb, n in events.catalogue_lines() if verb == "subscribes"]
        assert missing == expected
        # A handler outside domain.<module> serves no catalogue module.
        events.subscribe("property.created")(_handler)
        assert ("valuation", "property.created") in events.missing_subscriptions()


def test_a_domain_handler_serves_its_modules_catalogue_subscription() -> None:
    sub = events.Subscriber(
        name="domain.deal.subscribers.on_property_created",
        event_name="property.created",
        handler=_handler,
        handler_path="domain.deal.subscribers:on_property_created",
    )
    assert sub.domain_module == "deal"
    assert events.Subscriber("x", "property.created", _handler, "tests:x").domain_module is None

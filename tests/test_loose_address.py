"""An address with words after it, a typo or a wrong suffix (investor QA).

Was: "can you run 1215 Kellogg for me" and "is 1215 kellogg a good deal" answered "no property
at '1215 Kellogg for me' is on file" (everything from the house number on was taken as the
address), and "1215 Kelog Ave" or "1215 Kellogg St" got no hint. Now the one house whose street
the text starts with is used when the following words are no part of an address, and houses
with the same number on a street spelt alike are offered ("Did you mean ...?"), never used
unasked.
"""

from __future__ import annotations

from sqlmodel import Session

from domain.auth.enums import Role
from domain.auth.models import Organisation
from domain.property import service as property_service
from domain.property.models import Property
from tests.agent.turns import checked_turn
from tests.factories import make_org, make_property, make_user


def _world(db: Session) -> tuple[Organisation, Property]:
    org = make_org(db)
    kellogg = make_property(
        db, org, address_line="1215 Kellogg Ave", city="Ames", state="IA", zip_code="50010"
    )
    make_property(db, org, address_line="1215 Duff Ave", city="Ames", state="IA", zip_code="50010")
    make_property(db, org, address_line="77 Kellogg Ave", city="Ames", state="IA", zip_code="50010")
    return org, kellogg


def test_trailing_words_still_find_the_one_house(db: Session) -> None:
    org, kellogg = _world(db)
    for text in ("1215 Kellogg for me", "1215 kellogg a good deal", "1215 KELLOGG AVE today"):
        loose = property_service.find_loose_address(session=db, org_id=org.id, text=text)
        assert loose.property is not None and loose.property.id == kellogg.id, text


def test_typos_and_a_wrong_suffix_are_offered_not_used(db: Session) -> None:
    org, kellogg = _world(db)
    for text in ("1215 Kelog Ave", "1215 kellog", "1215 Kellogg St"):
        loose = property_service.find_loose_address(session=db, org_id=org.id, text=text)
        assert loose.property is None, text
        assert [p.id for p in loose.suggestions] == [kellogg.id], text
    nothing = property_service.find_loose_address(session=db, org_id=org.id, text="1215 Main St")
    assert nothing.property is None and nothing.suggestions == []


def test_the_assistant_uses_and_offers_them(committed_db: Session) -> None:
    org, _ = _world(committed_db)
    user = make_user(committed_db, org, Role.analyst)
    committed_db.commit()
    found = checked_turn(user, "is 1215 Kellogg for sale? is it on file")
    assert "1215 Kellogg Ave" in found.reply
    typo = checked_turn(user, "is 1215 Kelog Ave on file?")
    assert "Did you mean 1215 Kellogg Ave" in typo.reply

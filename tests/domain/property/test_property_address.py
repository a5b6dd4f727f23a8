"""Address normalisation: the same house typed differently gets the same key; junk is refused."""

from __future__ import annotations

import pytest

from domain.property.address import match_score, parse_address
from domain.property.errors import AddressParseError


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        # The example: both forms are one property.
        ("14500 kercheval avenue apt 2", "14500 KERCHEVAL AVE #2", "14500 Kercheval Ave #2"),
        ("14500 Kercheval Ave #2", "14500 KERCHEVAL AVE #2", "14500 Kercheval Ave #2"),
        ("14500 KERCHEVAL AVENUE, UNIT 2", "14500 KERCHEVAL AVE #2", "14500 Kercheval Ave #2"),
        ("14500 Kercheval Ave. # 2, Detroit, MI 48215", "14500 KERCHEVAL AVE #2", None),
        # Suffixes take their USPS abbreviation.
        ("123 Main Street", "123 MAIN ST", "123 Main St"),
        ("9 Oak Boulevard", "9 OAK BLVD", "9 Oak Blvd"),
        ("40 Elm Parkway", "40 ELM PKWY", "40 Elm Pkwy"),
        ("77 Cedar Terrace", "77 CEDAR TER", "77 Cedar Ter"),
        # Directionals, before and after the street name.
        ("2345 West Grand Boulevard", "2345 W GRAND BLVD", "2345 W Grand Blvd"),
        ("2345 W. Grand Blvd", "2345 W GRAND BLVD", "2345 W Grand Blvd"),
        ("1600 Pennsylvania Avenue Northwest", "1600 PENNSYLVANIA AVE NW", None),
        # Every unit designator becomes "#<id>".
        ("10 Main St Suite 4b", "10 MAIN ST #4B", "10 Main St #4B"),
        ("10 Main St Ste 4B", "10 MAIN ST #4B", "10 Main St #4B"),
        ("10 Main St Apartment 4B", "10 MAIN ST #4B", "10 Main St #4B"),
        # A mixed-case street name is kept as typed for display; the key is upper case.
        ("5 McDougall St", "5 MCDOUGALL ST", "5 McDougall St"),
    ],
)
def test_address_forms_normalise_to_one_key(text: str, key: str, line: str | None) -> None:
    parsed = parse_address(text)
    assert parsed.address_key == key
    if line is not None:
        assert parsed.address_line == line


def test_city_state_and_zip_are_canonical() -> None:
    parsed = parse_address("14500 KERCHEVAL AVENUE, APT. 2, DETROIT, MICHIGAN 48215-1234")
    assert (parsed.city, parsed.state, parsed.zip_code) == ("DETROIT", "MI", "48215")
    assert parsed.one_line() == "14500 Kercheval Ave #2, Detroit, MI 48215"
    # Given separately, they fill in what the text lacks.
    separate = parse_address("14500 kercheval ave", city="detroit", state="mi", zip_code="48215")
    assert (separate.city, separate.state, separate.zip_code) == ("DETROIT", "MI", "48215")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("hello world", "no house number"),
        ("Detroit, MI 48215", "no house number"),
        ("PO Box 12", "PO box"),
        ("Main St & 5th Ave", "intersection"),
        ("main street", "no house number"),
    ],
)
def test_unparseable_addresses_raise_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(AddressParseError, match=message):
        parse_address(text)


def test_bad_state_and_zip_are_refused() -> None:
    with pytest.raises(AddressParseError, match="not a US state"):
        parse_address("1 Main St", state="Ontario")
    with pytest.raises(AddressParseError, match="not a ZIP code"):
        parse_address("1 Main St", zip_code="4821")


def test_match_score_ranks_exact_first_and_rules_out_conflicts() -> None:
    stored = parse_address("14500 Kercheval Ave #2, Detroit, MI 48215").components()
    same = match_score(parse_address("14500 kercheval avenue apt 2"), stored)
    with_zip = match_score(parse_address("14500 Kercheval Ave #2 Detroit MI 48215"), stored)
    no_suffix = match_score(parse_address("14500 Kercheval #2"), stored)
    no_unit = match_score(parse_address("14500 Kercheval Ave"), stored)
    assert same == 100
    assert with_zip is not None and with_zip > same  # the ZIP confirms it
    assert no_suffix is not None and no_unit is not None
    assert same > no_suffix > no_unit
    # Conflicting parts rule the candidate out.
    assert match_score(parse_address("14500 Kercheval Ave #3"), stored) is None
    assert match_score(parse_address("14500 Kercheval St #2"), stored) is None
    assert match_score(parse_address("14500 Kercheval Ave #2, 48201"), stored) is None
    assert match_score(parse_address("14501 Kercheval Ave #2"), stored) is None

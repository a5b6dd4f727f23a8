"""The default rehab cost catalogue every organisation starts from, and its quantity rules.

Figures are typical 2024 Midwest (Detroit / Ohio / Indiana) contractor pricing for
rental-grade rehab work, materials and labour per unit, gathered from published cost guides
and contractor bids of that kind. They are planning numbers, not quotes: each organisation
gets its own copy of this catalogue on first use and should adjust it to its market and crews
through ``PUT /component-costs/{id}`` (every change is kept in ``cost_history``).

``repair_fraction`` is what a *repair* of a component in fair condition costs as a share of
replacing it (material and labour alike); 0 means a fair component needs no work of that kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from domain.pricing.enums import CostUnit

CATALOGUE_BASIS = (
    "dealdesk default catalogue: typical 2024 Midwest contractor pricing for rental-grade rehab "
    "(materials + labour per unit); planning figures, adjust per market"
)
CATALOGUE_VENDOR = "dealdesk default (2024 Midwest typical)"

# A pitched roof has more surface than the floor below it: 6/12 pitch (x1.12) plus overhangs.
ROOF_AREA_FACTOR = Decimal("1.15")
SQFT_PER_SQUARE = Decimal("100")


class QuantityKind(StrEnum):
    """How a component's quantity is found when the caller gives none."""

    fixed = "fixed"  # ``value`` units (1 furnace, 20 linear ft of cabinets ...)
    living_area = "living_area"  # living area x ``value`` (sqft)
    roof_squares = "roof_squares"  # footprint (area / stories) x 1.15 / 100, rounded up
    perimeter = "perimeter"  # 4 x sqrt(footprint): the footprint taken as a square
    count_per_area = "count_per_area"  # one per ``value`` sqft of living area, at least ``minimum``


@dataclass(frozen=True)
class QuantityRule:
    """The default quantity of a component and the assumption to state when it is used."""

    kind: QuantityKind
    value: Decimal = Decimal("1")
    minimum: Decimal = Decimal("0")

    @property
    def needs_area(self) -> bool:
        """True when the rule needs the house's living area."""
        return self.kind is not QuantityKind.fixed


@dataclass(frozen=True)
class CatalogueEntry:
    """One default catalogue row: unit costs, the fair-condition repair share and aliases."""

    key: str
    name: str
    category: str
    unit: CostUnit
    material: Decimal
    labour: Decimal
    repair_fraction: Decimal
    repair_scope: str
    quantity: QuantityRule
    aliases: tuple[str, ...] = field(default_factory=tuple)


def _d(value: str) -> Decimal:
    return Decimal(value)


_FIXED_1 = QuantityRule(QuantityKind.fixed, _d("1"))
_AREA = QuantityRule(QuantityKind.living_area, _d("1"))
_ROOF = QuantityRule(QuantityKind.roof_squares, ROOF_AREA_FACTOR)

DEFAULT_CATALOGUE: tuple[CatalogueEntry, ...] = (
    # Roof and exterior
    CatalogueEntry(
        key="roof_shingles",
        name="Roof: architectural asphalt shingles",
        category="roof",
        unit=CostUnit.square,
        material=_d("180.00"),
        labour=_d("220.00"),
        repair_fraction=_d("0.15"),
        repair_scope="patch shingles, flashing and boots",
        quantity=_ROOF,
        aliases=("roof", "roofing", "roof replacement", "shingles", "new roof", "reroof"),
    ),
    CatalogueEntry(
        key="roof_tear_off",
        name="Roof tear-off (one layer, labour and haul-off)",
        category="roof",
        unit=CostUnit.square,
        material=_d("0.00"),
        labour=_d("100.00"),
        repair_fraction=_d("0"),
        repair_scope="none: a repair keeps the existing layer",
        quantity=_ROOF,
        aliases=("tear off", "tearoff", "roof tear off", "roof removal", "strip roof"),
    ),
    CatalogueEntry(
        key="gutters",
        name="Gutters and downspouts, seamless aluminium",
        category="exterior",
        unit=CostUnit.linear_ft,
        material=_d("4.00"),
        labour=_d("5.00"),
        repair_fraction=_d("0.20"),
        repair_scope="reseal, rehang and clean sections",
        quantity=QuantityRule(QuantityKind.perimeter),
        aliases=("gutter", "downspouts", "eavestrough"),
    ),
    CatalogueEntry(
        key="siding",
        name="Vinyl siding (per sqft of wall)",
        category="exterior",
        unit=CostUnit.sqft,
        material=_d("3.00"),
        labour=_d("3.00"),
        repair_fraction=_d("0.15"),
        repair_scope="replace damaged panels and trim",
        quantity=_AREA,
        aliases=("vinyl siding", "exterior siding", "cladding"),
    ),
    CatalogueEntry(
        key="exterior_paint",
        name="Exterior paint (per sqft of living area)",
        category="exterior",
        unit=CostUnit.sqft,
        material=_d("0.75"),
        labour=_d("2.00"),
        repair_fraction=_d("0.40"),
        repair_scope="scrape, prime and paint trim and worst faces",
        quantity=_AREA,
        aliases=("exterior painting", "paint exterior", "outside paint"),
    ),
    CatalogueEntry(
        key="landscaping_cleanup",
        name="Landscaping and yard clean-up / trash-out",
        category="exterior",
        unit=CostUnit.job,
        material=_d("500.00"),
        labour=_d("1000.00"),
        repair_fraction=_d("0.40"),
        repair_scope="trim, mow, light clean-up",
        quantity=_FIXED_1,
        aliases=(
            "landscaping",
            "yard",
            "cleanup",
            "clean up",
            "clean-up",
            "trash out",
            "trash-out",
            "yard cleanup",
            "debris removal",
        ),
    ),
    CatalogueEntry(
        key="foundation_repair",
        name="Foundation repair (piers / wall bracing, typical job)",
        category="structure",
        unit=CostUnit.job,
        material=_d("3000.00"),
        labour=_d("4500.00"),
        repair_fraction=_d("0.30"),
        repair_scope="seal cracks, tuckpoint, minor waterproofing",
        quantity=_FIXED_1,
        aliases=("foundation", "basement wall", "structural repair", "foundation crack"),
    ),
    CatalogueEntry(
        key="sewer_line",
        name="Sewer lateral replacement (excavated)",
        category="plumbing",
        unit=CostUnit.linear_ft,
        material=_d("35.00"),
        labour=_d("85.00"),
        repair_fraction=_d("0.25"),
        repair_scope="jet, scope and spot repair",
        quantity=QuantityRule(QuantityKind.fixed, _d("50")),
        aliases=("sewer", "sewer lateral", "main line", "sewer main", "drain line"),
    ),
    # Mechanical, electrical, plumbing
    CatalogueEntry(
        key="furnace",
        name="Gas furnace, 80k BTU high-efficiency, installed",
        category="hvac",
        unit=CostUnit.each,
        material=_d("2200.00"),
        labour=_d("1300.00"),
        repair_fraction=_d("0.10"),
        repair_scope="service, igniter / blower parts",
        quantity=_FIXED_1,
        aliases=(
            "hvac",
            "heating",
            "heater",
            "gas furnace",
            "forced air",
            "heating system",
            "boiler",
        ),
    ),
    CatalogueEntry(
        key="ac_condenser",
        name="A/C condenser and coil, 3-ton, installed",
        category="hvac",
        unit=CostUnit.each,
        material=_d("2800.00"),
        labour=_d("1400.00"),
        repair_fraction=_d("0.10"),
        repair_scope="recharge, capacitor / contactor",
        quantity=_FIXED_1,
        aliases=(
            "ac",
            "a/c",
            "air conditioner",
            "air conditioning",
            "condenser",
            "central air",
            "ac unit",
            "cooling",
        ),
    ),
    CatalogueEntry(
        key="water_heater",
        name="Water heater, 40-50 gal gas tank, installed",
        category="plumbing",
        unit=CostUnit.each,
        material=_d("900.00"),
        labour=_d("600.00"),
        repair_fraction=_d("0.15"),
        repair_scope="thermocouple / valve / venting fix",
        quantity=_FIXED_1,
        aliases=("hot water tank", "hot water heater", "water tank", "hwt", "hot water"),
    ),
    CatalogueEntry(
        key="electrical_panel",
        name="Electrical panel upgrade, 200 A",
        category="electrical",
        unit=CostUnit.each,
        material=_d("900.00"),
        labour=_d("1600.00"),
        repair_fraction=_d("0.20"),
        repair_scope="replace breakers, fix bonding / labelling",
        quantity=_FIXED_1,
        aliases=(
            # not "panel" alone: "solar panels" is not an electrical panel
            "breaker panel",
            "electric panel",
            "service panel",
            "fuse box",
            "electrical service",
        ),
    ),
    CatalogueEntry(
        key="rewire",
        name="Whole-house rewire (per sqft of living area)",
        category="electrical",
        unit=CostUnit.sqft,
        material=_d("2.50"),
        labour=_d("5.50"),
        repair_fraction=_d("0.25"),
        repair_scope="correct deficiencies, outlets, GFCIs",
        quantity=_AREA,
        aliases=("electrical", "wiring", "rewiring", "knob and tube", "electrical wiring"),
    ),
    CatalogueEntry(
        key="plumbing_repipe",
        name="Plumbing repipe in PEX (per sqft of living area)",
        category="plumbing",
        unit=CostUnit.sqft,
        material=_d("1.50"),
        labour=_d("2.50"),
        repair_fraction=_d("0.20"),
        repair_scope="fix leaks, replace valves",
        quantity=_AREA,
        aliases=("plumbing", "repipe", "re-pipe", "pipes", "supply lines", "water lines"),
    ),
    # Kitchen
    CatalogueEntry(
        key="kitchen_cabinets",
        name="Kitchen cabinets, stock, upper and lower (per linear ft)",
        category="kitchen",
        unit=CostUnit.linear_ft,
        material=_d("150.00"),
        labour=_d("75.00"),
        repair_fraction=_d("0.30"),
        repair_scope="paint / reface, hinges and hardware",
        quantity=QuantityRule(QuantityKind.fixed, _d("20")),
        aliases=("cabinets", "cabinet", "kitchen cabinet", "cupboards"),
    ),
    CatalogueEntry(
        key="countertops",
        name="Countertops, level-1 granite / quartz (per sqft)",
        category="kitchen",
        unit=CostUnit.sqft,
        material=_d("38.00"),
        labour=_d("17.00"),
        repair_fraction=_d("0.20"),
        repair_scope="reseal, repair chips",
        quantity=QuantityRule(QuantityKind.fixed, _d("30")),
        aliases=("countertop", "counters", "counter tops", "granite", "kitchen counters"),
    ),
    CatalogueEntry(
        key="kitchen_appliances",
        name="Kitchen appliance package (range, fridge, dishwasher, microwave)",
        category="kitchen",
        unit=CostUnit.each,
        material=_d("2800.00"),
        labour=_d("200.00"),
        repair_fraction=_d("0.25"),
        repair_scope="repair or replace one appliance",
        quantity=_FIXED_1,
        aliases=(
            "appliances",
            "appliance package",
            "appliance",
            "stove",
            "range",
            "refrigerator",
            "fridge",
            "dishwasher",
        ),
    ),
    # Bathrooms
    CatalogueEntry(
        key="bath_full_remodel",
        name="Full bathroom remodel, rental grade (5x8)",
        category="bath",
        unit=CostUnit.each,
        material=_d("4000.00"),
        labour=_d("5000.00"),
        repair_fraction=_d("0.35"),
        repair_scope="cosmetic refresh: caulk, fixtures, paint",
        quantity=_FIXED_1,
        aliases=("bathroom", "bath", "bathroom remodel", "bath remodel", "full bath", "bathrooms"),
    ),
    CatalogueEntry(
        key="bath_tile",
        name="Bath tile, ceramic, floor and tub surround (per sqft)",
        category="bath",
        unit=CostUnit.sqft,
        material=_d("5.00"),
        labour=_d("9.00"),
        repair_fraction=_d("0.25"),
        repair_scope="regrout, replace cracked tiles",
        quantity=QuantityRule(QuantityKind.fixed, _d("100")),
        aliases=("tile", "shower tile", "tub surround", "bathroom tile", "tiles", "bathroom floor"),
    ),
    CatalogueEntry(
        key="bathtub",
        name="Bathtub, 60in steel / acrylic alcove tub, replaced (tear-out, drain, install)",
        category="bath",
        unit=CostUnit.each,
        material=_d("500.00"),
        labour=_d("900.00"),
        repair_fraction=_d("0.35"),
        repair_scope="reglaze the tub (refinish its surface)",
        quantity=_FIXED_1,
        # Not "tub" alone: a "hot tub" is no bathtub (the walkthrough hears "tub" as a spoken
        # form of "bathtub").
        aliases=("bath tub", "bathtubs", "tub replacement", "bathtub replacement"),
    ),
    CatalogueEntry(
        key="vanity",
        name="Bath vanity 36in with top and faucet",
        category="bath",
        unit=CostUnit.each,
        material=_d("450.00"),
        labour=_d("250.00"),
        repair_fraction=_d("0.30"),
        repair_scope="new faucet / top repair",
        quantity=_FIXED_1,
        aliases=("bathroom vanity", "bathroom sink", "vanity cabinet"),
    ),
    CatalogueEntry(
        key="toilet",
        name="Toilet, installed",
        category="bath",
        unit=CostUnit.each,
        material=_d("250.00"),
        labour=_d("200.00"),
        repair_fraction=_d("0.20"),
        repair_scope="rebuild kit, wax ring, reset",
        quantity=_FIXED_1,
        aliases=("toilets", "commode", "wc"),
    ),
    # Openings
    CatalogueEntry(
        key="windows",
        name="Window, vinyl double-hung replacement",
        category="openings",
        unit=CostUnit.each,
        material=_d("400.00"),
        labour=_d("250.00"),
        repair_fraction=_d("0.15"),
        repair_scope="reglaze, sash cords, locks",
        quantity=QuantityRule(QuantityKind.count_per_area, _d("100"), _d("4")),
        aliases=("window", "window replacement", "vinyl windows", "glass"),
    ),
    CatalogueEntry(
        key="exterior_doors",
        name="Exterior door, steel prehung, installed",
        category="openings",
        unit=CostUnit.each,
        material=_d("450.00"),
        labour=_d("350.00"),
        repair_fraction=_d("0.25"),
        repair_scope="weatherstrip, lockset, adjust",
        quantity=QuantityRule(QuantityKind.fixed, _d("2")),
        aliases=("exterior door", "entry door", "front door", "back door", "doors exterior"),
    ),
    CatalogueEntry(
        key="interior_doors",
        name="Interior door, hollow-core prehung, installed",
        category="openings",
        unit=CostUnit.each,
        material=_d("110.00"),
        labour=_d("140.00"),
        repair_fraction=_d("0.30"),
        repair_scope="rehang, hardware, patch",
        quantity=QuantityRule(QuantityKind.count_per_area, _d("150"), _d("3")),
        aliases=("interior door", "doors", "door", "bedroom doors", "closet doors"),
    ),
    # Finishes
    CatalogueEntry(
        key="flooring_lvp",
        name="Flooring: luxury vinyl plank (per sqft)",
        category="flooring",
        unit=CostUnit.sqft,
        material=_d("2.50"),
        labour=_d("2.00"),
        repair_fraction=_d("0.20"),
        repair_scope="replace damaged planks, transitions",
        quantity=_AREA,
        aliases=(
            "flooring",
            "floors",
            "floor",
            "lvp",
            "vinyl plank",
            "luxury vinyl",
            "vinyl flooring",
            "laminate",
        ),
    ),
    CatalogueEntry(
        key="flooring_carpet",
        name="Flooring: carpet with pad (per sqft)",
        category="flooring",
        unit=CostUnit.sqft,
        material=_d("2.00"),
        labour=_d("1.00"),
        repair_fraction=_d("0.15"),
        repair_scope="clean, stretch, patch",
        quantity=_AREA,
        aliases=("carpet", "carpeting", "carpets"),
    ),
    CatalogueEntry(
        key="hardwood_refinish",
        name="Hardwood floor sand and refinish (per sqft)",
        category="flooring",
        unit=CostUnit.sqft,
        material=_d("0.75"),
        labour=_d("2.75"),
        repair_fraction=_d("0.40"),
        repair_scope="screen and recoat",
        quantity=_AREA,
        aliases=(
            "hardwood",
            "hardwood floors",
            "refinish floors",
            "wood floors",
            "floor refinish",
            "hardwood refinishing",
        ),
    ),
    CatalogueEntry(
        key="interior_paint",
        name="Interior paint, walls / ceilings / trim (per sqft of floor)",
        category="finishes",
        unit=CostUnit.sqft,
        material=_d("0.75"),
        labour=_d("2.25"),
        repair_fraction=_d("0.50"),
        repair_scope="touch-up and partial repaint",
        quantity=_AREA,
        aliases=("paint", "painting", "interior painting", "walls", "paint interior"),
    ),
    CatalogueEntry(
        key="drywall_repair",
        name="Drywall hang / patch / finish (per sqft of board)",
        category="finishes",
        unit=CostUnit.sqft,
        material=_d("1.00"),
        labour=_d("2.50"),
        repair_fraction=_d("0.40"),
        repair_scope="patch holes and cracks",
        quantity=QuantityRule(QuantityKind.living_area, _d("0.25")),
        aliases=("drywall", "sheetrock", "plaster", "walls repair", "drywall patch"),
    ),
    CatalogueEntry(
        key="mold_remediation",
        name="Mold remediation: contain, remove affected material, treat (per sqft affected)",
        category="environmental",
        unit=CostUnit.sqft,
        material=_d("4.00"),
        labour=_d("11.00"),
        repair_fraction=_d("0.30"),
        repair_scope="clean and treat surface mold, no removal",
        # A typical rental find: one bathroom ceiling and wall, or a basement corner.
        quantity=QuantityRule(QuantityKind.fixed, _d("50")),
        aliases=(
            "mold",
            "mould",
            "black mold",
            "mildew",
            "mold remediation",
            "mould remediation",
            "mold removal",
        ),
    ),
    # Job costs
    CatalogueEntry(
        key="dumpster",
        name="Dumpster, 30-yard, one haul incl. disposal",
        category="job",
        unit=CostUnit.each,
        material=_d("550.00"),
        labour=_d("0.00"),
        repair_fraction=_d("0.50"),
        repair_scope="a smaller (15-yard) container",
        quantity=_FIXED_1,
        aliases=("roll off", "roll-off", "debris container", "dumpster rental"),
    ),
    CatalogueEntry(
        key="permits",
        name="Building permits and inspections, typical rehab",
        category="job",
        unit=CostUnit.job,
        material=_d("1000.00"),
        labour=_d("0.00"),
        repair_fraction=_d("0.50"),
        repair_scope="a single-trade permit",
        quantity=_FIXED_1,
        aliases=("permit", "building permit", "inspections", "permit fees"),
    ),
    # Basement water and the whole-house gut (2025-26 US typical pricing, materials and labour;
    # a walkthrough prices "the basement has water" as the drain tile plus a sump pump, and
    # "it's a gut job" as the gut line over the living area: domain/audio/extraction.py).
    CatalogueEntry(
        key="basement_drain_tile",
        name="Basement waterproofing: interior drain tile to a sump (per linear ft)",
        category="waterproofing",
        unit=CostUnit.linear_ft,
        # Cut the slab along the walls, perforated pipe in washed stone, dimple board on the
        # wall, re-pour: US interior drain tile runs about $40-$100 per linear ft; $60 mid-range.
        material=_d("18.00"),
        labour=_d("42.00"),
        repair_fraction=_d("0.20"),
        repair_scope="seal wall cracks and penetrations, flush the existing drain tile",
        # The basement's walls: the perimeter of the house's footprint.
        quantity=QuantityRule(QuantityKind.perimeter),
        aliases=(
            "drain tile",
            "drain tiles",
            "interior drain tile",
            "french drain",
            "perimeter drain",
            "basement waterproofing",
            "waterproofing",
        ),
    ),
    CatalogueEntry(
        key="sump_pump",
        name="Sump pump, 1/2 HP submersible with basin, check valve and discharge, installed",
        category="waterproofing",
        unit=CostUnit.each,
        # US installs run about $1,000-$2,500 with a new pit; $1,500 mid-range.
        material=_d("600.00"),
        labour=_d("900.00"),
        repair_fraction=_d("0.35"),
        repair_scope="replace the pump only (basin and discharge kept)",
        quantity=_FIXED_1,
        aliases=("sump pump", "sump pumps", "sump", "sump pit", "sump basin"),
    ),
    CatalogueEntry(
        key="gut_rehab",
        # What the line covers (a walkthrough's "full gut" drops these components' own lines,
        # so nothing is priced twice): interior demolition to the studs and haul-off, framing
        # touch-up, insulation, drywall, interior paint, flooring, interior doors and trim,
        # the kitchen (cabinets, countertops, appliances), the bathrooms (tile, tub, vanity,
        # toilet), a whole-house rewire and a repipe. Not covered, priced on their own lines:
        # roof, gutters, siding, exterior paint, windows, exterior doors, foundation, sewer,
        # basement waterproofing, furnace, A/C, water heater, electrical panel, mold, permits.
        name="Full gut rehab, interior to the studs (per sqft of living area)",
        category="whole house",
        unit=CostUnit.sqft,
        # US full-gut renovations run about $60-$150 per sqft; rental-to-mid grade $65.
        material=_d("26.00"),
        labour=_d("39.00"),
        repair_fraction=_d("0"),
        repair_scope="none: a gut is all or nothing; price the components instead",
        quantity=_AREA,
        aliases=("gut rehab", "full gut", "gut job", "gut renovation", "full gut rehab"),
    ),
)

# The components a full gut rehab's line covers (see its entry): not priced again beside it.
GUT_REHAB_COVERS: frozenset[str] = frozenset(
    {
        "kitchen_cabinets",
        "countertops",
        "kitchen_appliances",
        "bath_full_remodel",
        "bath_tile",
        "bathtub",
        "vanity",
        "toilet",
        "interior_doors",
        "flooring_lvp",
        "flooring_carpet",
        "hardwood_refinish",
        "interior_paint",
        "drywall_repair",
        "rewire",
        "plumbing_repipe",
        "dumpster",
    }
)

CATALOGUE_BY_KEY: dict[str, CatalogueEntry] = {entry.key: entry for entry in DEFAULT_CATALOGUE}

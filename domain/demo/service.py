"""The demo data set `make run` loads: an organisation, its admin, and demo market data."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session

from core.observability import mask
from domain.auth import service as auth_service
from domain.auth.enums import Role
from domain.auth.models import UserCreate
from domain.demo.listings import DEMO_LISTINGS, load_demo_listings
from domain.property.ames import load_ames
from domain.section8 import hud_import
from domain.valuation.service import reindex_comps

DEMO_ORG_SLUG = "demo"
DEMO_ORG_NAME = "Demo Investments"
DEMO_ADMIN_EMAIL = "admin@demo.dealdesk.dev"
# The investor `dealdesk simulate whatsapp` texts as by default.
DEMO_INVESTOR_EMAIL = "investor@demo.dealdesk.dev"
DEMO_INVESTOR_PHONE = "+13135550100"
CREDENTIALS_FILE = "demo-credentials.txt"


# HUD's published FY2012 FMR row for Ames, in HUD's layout; its source is in the .md beside it.
AMES_FMR_FILE = Path(__file__).with_name("ames_fmr_fy2012.csv")


@dataclass
class DemoSummary:
    """What seeding did, for the terminal."""

    org_slug: str
    admin_email: str
    credentials_file: Path
    created: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable lines describing the demo data and how to log in."""
        done = ", ".join(self.created) if self.created else "nothing new (already loaded)"
        return [
            f"demo data: {done}",
            f"demo login: {self.admin_email} (organisation '{self.org_slug}'); "
            f"password in {self.credentials_file}",
        ]


def _read_password(path: Path) -> str | None:
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        if line.startswith("password="):
            return line.split("=", 1)[1]
    return None


def seed_demo(*, session: Session, data_dir: Path) -> DemoSummary:
    """Create the demo organisation and admin once; re-running changes nothing."""
    data_dir.mkdir(parents=True, exist_ok=True)
    credentials = data_dir / CREDENTIALS_FILE
    summary = DemoSummary(DEMO_ORG_SLUG, DEMO_ADMIN_EMAIL, credentials)

    org = auth_service.get_organisation_by_slug(session=session, slug=DEMO_ORG_SLUG)
    if org is None:
        org = auth_service.create_organisation(
            session=session, name=DEMO_ORG_NAME, slug=DEMO_ORG_SLUG
        )
        summary.created.append(f"organisation '{DEMO_ORG_SLUG}'")

    if auth_service.get_user_by_email(session=session, email=DEMO_ADMIN_EMAIL) is None:
        password = _read_password(credentials) or secrets.token_urlsafe(12)
        auth_service.create_user(
            session=session,
            org_id=org.id,
            user_in=UserCreate(
                email=DEMO_ADMIN_EMAIL, full_name="Demo Admin", role=Role.admin, password=password
            ),
        )
        credentials.write_text(f"email={DEMO_ADMIN_EMAIL}\npassword={password}\n")
        credentials.chmod(0o600)
        summary.created.append(f"admin user {DEMO_ADMIN_EMAIL}")

    if (
        auth_service.get_user_by_phone(session=session, phone_number=DEMO_INVESTOR_PHONE) is None
        and auth_service.get_user_by_email(session=session, email=DEMO_INVESTOR_EMAIL) is None
    ):
        auth_service.create_user(
            session=session,
            org_id=org.id,
            user_in=UserCreate(
                email=DEMO_INVESTOR_EMAIL,
                full_name="Demo Investor",
                role=Role.investor,
                phone_number=DEMO_INVESTOR_PHONE,
            ),
        )
        # Masked: the banner goes to stdout, which production captures into the logs.
        summary.created.append(
            f"investor {DEMO_INVESTOR_EMAIL} (WhatsApp {mask(DEMO_INVESTOR_PHONE)})"
        )

    # The Ames, Iowa sales (2,930, 2006-2010) as the demo market; indexed for comps.
    ames = load_ames(session=session, org_id=org.id)
    # A few fictional listings on real Ames streets: addresses to text the assistant.
    listings = load_demo_listings(session=session, org_id=org.id)
    if ames.inserted or listings:
        reindex_comps(session=session, org_id=org.id)
    if ames.inserted:
        summary.created.append(f"{ames.inserted} Ames, Iowa home sales (2006-2010) for comps")
    if listings:
        summary.created.append(
            f"{len(listings)} fictional demo listings for sale in Ames "
            f"(e.g. {DEMO_LISTINGS[0].address})"
        )
    # HUD's FY2012 FMRs for the Ames, IA MSA (shared HUD rows, as `dealdesk import fmr` loads
    # them), so rent vs FMR and Section 8 cash flow work for the Ames listings.
    fmr = hud_import.import_fmr_csv(session=session, text=AMES_FMR_FILE.read_text())
    if fmr.inserted:
        summary.created.append(f"{fmr.inserted} HUD FY2012 FMR rows for the Ames, IA MSA")
    return summary

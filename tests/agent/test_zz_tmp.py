import time
from sqlmodel import Session
from store.db import get_engine
from tests.factories import make_org
from domain.property.ames import load_ames
from domain.valuation.service import reindex_comps
def test_t(db):
    t=time.monotonic(); org = make_org(db); r = load_ames(session=db, org_id=org.id, limit=600); reindex_comps(session=db, org_id=org.id); print(r, time.monotonic()-t)

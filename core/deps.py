"""FastAPI dependency aliases (placeholder until the auth work lands)."""

from typing import Annotated

from fastapi import Depends
from sqlmodel import Session

from store.db import get_session

SessionDep = Annotated[Session, Depends(get_session)]

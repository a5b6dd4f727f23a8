"""HTTP routes of the property module (placeholder until its work lands)."""

from fastapi import APIRouter

router = APIRouter()

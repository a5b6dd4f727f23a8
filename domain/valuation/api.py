"""HTTP routes of the valuation module (placeholder until its work lands)."""

from fastapi import APIRouter

router = APIRouter()

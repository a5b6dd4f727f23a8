"""HTTP routes of the deal module (placeholder until its work lands)."""

from fastapi import APIRouter

router = APIRouter()

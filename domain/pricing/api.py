"""HTTP routes of the pricing module (placeholder until its work lands)."""

from fastapi import APIRouter

router = APIRouter()

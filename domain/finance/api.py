"""HTTP routes of the finance module (placeholder until its work lands)."""

from fastapi import APIRouter

router = APIRouter()

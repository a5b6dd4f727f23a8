"""HTTP routes of the section8 module (placeholder until its work lands)."""

from fastapi import APIRouter

router = APIRouter()

"""Placeholder; replaced by the operations work (/health, /ready, /metrics)."""

from fastapi import APIRouter

router = APIRouter()

"""Placeholder; replaced by the auth work."""

from fastapi import APIRouter

router = APIRouter()

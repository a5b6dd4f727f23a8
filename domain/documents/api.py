"""Placeholder; replaced by the storage/documents work."""

from fastapi import APIRouter

router = APIRouter()

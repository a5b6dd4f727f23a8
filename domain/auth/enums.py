"""Roles a user can hold."""

from enum import StrEnum


class Role(StrEnum):
    """What a user may do; tools and endpoints check it."""

    admin = "admin"
    analyst = "analyst"
    investor = "investor"
    contractor = "contractor"

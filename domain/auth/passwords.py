"""Which passwords are refused: too common to resist guessing (NIST SP 800-63B, 5.1.1.2).

No composition rules (they make passwords worse); at least 8 characters (the models check the
length) and not one an attacker tries first: a password on the list of the most common ones,
one character repeated, or a straight run of keys or digits. The list is short and kept here
(nothing is fetched); the sign-in lockout covers guessing beyond it.
"""

from __future__ import annotations

# The most common passwords of 8 or more characters in public breach corpora (lower case).
COMMON_PASSWORDS = frozenset(
    {
        "password", "password1", "password12", "password123", "password1234", "passw0rd",
        "p@ssw0rd", "p@ssword", "12345678", "123456789", "1234567890", "0123456789",
        "87654321", "11111111", "00000000", "12341234", "11223344", "qwertyuiop", "qwerty123",
        "qwerty12", "qwerty1234", "1q2w3e4r", "1q2w3e4r5t", "1qaz2wsx", "zaq12wsx",
        "asdfghjkl", "asdfasdf", "iloveyou", "iloveyou1", "sunshine", "princess", "football",
        "baseball", "welcome1", "welcome123", "letmein1", "trustno1", "superman", "starwars",
        "whatever", "michelle", "jennifer", "computer", "corvette", "mercedes", "internet",
        "changeme", "changeme1", "abcd1234", "abc12345", "abcdefgh", "aa123456", "q1w2e3r4",
        "monkey123", "dragon123", "master123", "admin123", "administrator", "realestate",
        "dealdesk", "dealdesk1", "dealdesk123",
    }
)  # fmt: skip
_RUNS = ("0123456789", "9876543210", "abcdefghijklmnopqrstuvwxyz", "qwertyuiop", "asdfghjkl")


def weak_password_reason(password: str) -> str | None:
    """Why ``password`` is refused (a sentence to show the person), or None when it may be used."""
    folded = password.casefold()
    if folded in COMMON_PASSWORDS:
        return "that password is one of the most common ones; choose a less guessable one"
    if len(set(folded)) == 1:
        return "a password of one repeated character is too easy to guess"
    if any(folded in run for run in _RUNS):
        return "a straight run of keys or digits is too easy to guess"
    return None

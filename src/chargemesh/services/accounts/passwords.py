"""Drivers' passwords: what makes one too weak, and argon2id hashes (argon2-cffi).

An unknown email is answered after verifying a dummy hash, so a wrong email costs as long as a
wrong password and timing does not tell which emails have accounts."""

from __future__ import annotations

import re
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH: Final = 8
MAX_LENGTH: Final = 128
#: too common to protect anything, whatever their length
COMMON: Final = frozenset(
    {"password", "password1", "12345678", "123456789", "1234567890", "qwertyui", "qwerty123",
     "abcd1234", "11111111", "iloveyou", "chargemesh", "00000000", "88888888", "a1234567"}
)  # fmt: skip
EMAIL: Final = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def normal_email(text: str) -> str:
    """An email as accounts are keyed by it: trimmed, lower case."""
    return text.strip().lower()


def email_problem(email: str) -> str | None:
    if len(email) > 254 or not EMAIL.match(email):
        return "this is not an email address"
    return None


def weakness(password: str, email: str) -> str | None:
    """Why ``password`` is too weak for the account of ``email``, or None."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"a password has at most {MAX_LENGTH} characters"
    if password.isdigit() or password.isalpha():
        return "a password needs letters and something else (digits or signs)"
    lowered = password.lower()
    if lowered in COMMON or lowered in {email, email.split("@", 1)[0]}:
        return "this password is too easy to guess"
    if len(set(password)) < 4:
        return "a password needs more different characters"
    return None


class Passwords:
    """argon2id hashing at argon2-cffi's defaults (RFC 9106's second recommended profile)."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()
        self._dummy = self.hasher.hash("not a password of anyone")

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> tuple[bool, str | None]:
        """Whether ``password`` matches, and a new hash when the stored one's parameters are
        outdated. ``password_hash`` None (no such account) verifies the dummy hash: False."""
        try:
            self.hasher.verify(password_hash or self._dummy, password)
        except (VerificationError, InvalidHashError):
            return False, None
        if password_hash is None:
            return False, None
        if self.hasher.check_needs_rehash(password_hash):
            return True, self.hasher.hash(password)
        return True, None

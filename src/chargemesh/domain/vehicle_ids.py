"""The two ids a driver types in when registering a car, checked before we store them: the
**VIN** (what a GB/T pile reads from the car's BMS, so T/CEC plug-and-charge can recognise it)
and, for ISO 15118 cars, the **EMAID** (the e-mobility account id of the driver's contract, the
token an OCPI operator asks us to authorize at a plug-and-charge EVSE). Both carry a check
character, so a typing error is caught at registration instead of showing up later as a car no
pile recognises.

* **VIN** (GB 16735-2019, like ISO 3779 and the North American rule): 17 characters from
  ``0-9`` and ``A-Z`` without ``I``, ``O`` and ``Q``; position 9 is a check digit: letters are
  transliterated (A1 B2 C3 D4 E5 F6 G7 H8, J1 K2 L3 M4 N5, P7, R9, S2 T3 U4 V5 W6 X7 Y8 Z9),
  weighted 8 7 6 5 4 3 2 10 0 9 8 7 6 5 4 3 2, summed modulo 11, 10 written ``X``. Cars sold in
  China carry it; a VIN without one (some European-market cars) is refused. It catches every
  single-character error *except* swapping a character for one with the same transliterated
  value (``A``, ``J`` and ``1`` all count 1), and every adjacent transposition of characters with
  different values away from the check digit.
* **EMAID** (ISO 15118-2:2014 Annex H, the eMI3 contract id; DIN SPEC 91286 before it):
  ``<country 2 letters> [-] <provider 3 alphanumeric> [-] <eMA instance 9 alphanumeric> [-]
  <check character>``, case-insensitive, the hyphens optional (Hubject and ISO 15118-2 carry it
  without them: at most 15 characters go between car and charger). The instance is often
  ``C`` + 8 characters (eMI3's "contract" type), but ISO 15118 and the German registry (BDEW)
  allow any 9 alphanumerics, so we do too. The standard calls the check character optional but
  recommended; we *require* it (issue 15: "format and check character verified"), so a
  14-character id is refused with a reason saying so.

  The check character is the eMI3 / ISO 15118 Annex H algorithm ("Check Digit Calculation for
  Contract-IDs", Chen, Niemenmaa and Vinck): each character's value v (``0``-``9`` 0-9, ``A``-``Z``
  10-35) is split as v = 9·q + r into q (two bits, over GF(2)) and r (two trits, over GF(3)); the
  character at position i (1-15) contributes q·P1^i and r·P2^i with P1 = [[0, 1], [1, 1]] mod 2
  and P2 = [[0, 1], [1, 2]] mod 3, and an id is valid when both sums are zero. The 15th character
  is the one that makes them zero. Both matrices, and I - P, I - P², I + P, are invertible, so every
  single error, adjacent transposition, jump transposition (abc → cba) and twin error (aa → bb) is
  caught.

Nothing here does I/O. ``normalize_*`` gives the form we store; ``*_problem`` gives a short
reason a driver can act on (``None`` when the id is fine) for the normalized form of its argument;
``*_with_check_*`` completes an id for the simulator and tests.
"""

from __future__ import annotations

import string
from typing import Final

__all__ = [
    "EMAID_ALPHABET",
    "EMAID_LENGTH",
    "VIN_ALPHABET",
    "VIN_LENGTH",
    "emaid_check_character",
    "emaid_problem",
    "emaid_with_check_character",
    "normalize_emaid",
    "normalize_vin",
    "vin_check_digit",
    "vin_problem",
    "vin_with_check_digit",
]

# ----------------------------------------------------------------------------- VIN

VIN_LENGTH: Final = 17
#: The characters a VIN may use: digits and capital letters without I, O and Q.
VIN_ALPHABET: Final = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
_VIN_FORMAT: Final = "a VIN is 17 letters and digits without I, O or Q"
_VIN_VALUE: Final[dict[str, int]] = {
    **{d: int(d) for d in string.digits},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_VIN_WEIGHTS: Final = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_VIN_CHECK_AT: Final = 8  # the 9th character


def normalize_vin(text: str) -> str:
    """The VIN as we store and compare it: no surrounding blanks, capital letters."""
    return text.strip().upper()


def _vin_format_problem(vin: str) -> str | None:
    if len(vin) != VIN_LENGTH:
        return f"{_VIN_FORMAT} (this one has {len(vin)})"
    for position, char in enumerate(vin, 1):
        if char not in VIN_ALPHABET:
            return f"{_VIN_FORMAT} (character {position} is {char!r})"
    return None


def vin_check_digit(vin: str) -> str:
    """The check digit (``0``-``9`` or ``X``) that belongs at position 9 of the 17-character
    ``vin`` (its own 9th character does not count). ``ValueError`` if ``vin`` is not 17
    characters of :data:`VIN_ALPHABET` (lower case is accepted)."""
    vin = vin.upper()
    problem = _vin_format_problem(vin)
    if problem is not None:
        raise ValueError(problem)
    rest = sum(_VIN_VALUE[c] * w for c, w in zip(vin, _VIN_WEIGHTS, strict=True)) % 11
    return "X" if rest == 10 else str(rest)


def vin_problem(vin: str) -> str | None:
    """Why ``normalize_vin(vin)`` is not a VIN a car could carry, in words for the driver, or
    ``None`` when it is one."""
    vin = normalize_vin(vin)
    problem = _vin_format_problem(vin)
    if problem is not None:
        return problem
    expected, given = vin_check_digit(vin), vin[_VIN_CHECK_AT]
    if expected != given:
        return (
            f"the VIN's check digit (9th character) should be {expected}, not {given}: "
            "check for a typing error"
        )
    return None


def vin_with_check_digit(vin17: str) -> str:
    """``vin17`` (17 characters, whatever its 9th) with the right check digit at position 9:
    how the simulator and tests make valid VINs."""
    vin = normalize_vin(vin17)
    check = vin_check_digit(vin)
    return vin[:_VIN_CHECK_AT] + check + vin[_VIN_CHECK_AT + 1 :]


# ----------------------------------------------------------------------------- EMAID

EMAID_LENGTH: Final = 15
#: The characters of an EMAID once normalized; a character's value is its index.
EMAID_ALPHABET: Final = string.digits + string.ascii_uppercase
_EMAID_VALUE: Final = {c: v for v, c in enumerate(EMAID_ALPHABET)}
_EMAID_FORMAT: Final = (
    "an EMAID is 15 letters and digits: country (2 letters), provider (3), contract (9) and a "
    "check character, hyphens between them allowed"
)

_Vec = tuple[int, int]
_Mat = tuple[_Vec, _Vec]


def _times(v: _Vec, m: _Mat, mod: int) -> _Vec:
    """The row vector ``v`` times ``m``."""
    return ((v[0] * m[0][0] + v[1] * m[1][0]) % mod, (v[0] * m[0][1] + v[1] * m[1][1]) % mod)


def _mul(a: _Mat, b: _Mat, mod: int) -> _Mat:
    return (_times(a[0], b, mod), _times(a[1], b, mod))


def _inverse(m: _Mat, mod: int) -> _Mat:
    """``m``'s inverse modulo the prime ``mod`` (adjugate over determinant)."""
    det_inv = pow((m[0][0] * m[1][1] - m[0][1] * m[1][0]) % mod, -1, mod)
    return (
        ((m[1][1] * det_inv) % mod, (-m[0][1] * det_inv) % mod),
        ((-m[1][0] * det_inv) % mod, (m[0][0] * det_inv) % mod),
    )


def _powers(p: _Mat, mod: int) -> tuple[_Mat, ...]:
    """p¹ … p¹⁵ modulo ``mod``: the weight of each of the 15 positions."""
    out = [p]
    while len(out) < EMAID_LENGTH:
        out.append(_mul(out[-1], p, mod))
    return tuple(out)


_P1: Final = _powers(((0, 1), (1, 1)), 2)  # the bits' weights
_P2: Final = _powers(((0, 1), (1, 2)), 3)  # the trits' weights
_LAST_P1_INV: Final = _inverse(_P1[-1], 2)
_LAST_P2_INV: Final = _inverse(_P2[-1], 3)


def _bits_and_trits(char: str) -> tuple[_Vec, _Vec]:
    q, r = divmod(_EMAID_VALUE[char], 9)
    return (q >> 1, q & 1), (r // 3, r % 3)


def emaid_check_character(emaid14: str) -> str:
    """The check character that completes the first 14 characters of an EMAID (hyphens and case
    do not matter). ``ValueError`` unless ``emaid14`` normalizes to 14 letters and digits."""
    body = normalize_emaid(emaid14)
    if len(body) != EMAID_LENGTH - 1 or any(c not in _EMAID_VALUE for c in body):
        raise ValueError("the first 14 characters of an EMAID are letters and digits")
    s1, s2 = (0, 0), (0, 0)
    for char, p1, p2 in zip(body, _P1, _P2, strict=False):
        q, r = _bits_and_trits(char)
        a, b = _times(q, p1, 2), _times(r, p2, 3)
        s1 = ((s1[0] + a[0]) % 2, (s1[1] + a[1]) % 2)
        s2 = ((s2[0] + b[0]) % 3, (s2[1] + b[1]) % 3)
    # the 15th character must cancel both sums: q·P1¹⁵ = -s1 (mod 2), r·P2¹⁵ = -s2 (mod 3)
    q1, q2 = _times(((-s1[0]) % 2, (-s1[1]) % 2), _LAST_P1_INV, 2)
    r1, r2 = _times(((-s2[0]) % 3, (-s2[1]) % 3), _LAST_P2_INV, 3)
    return EMAID_ALPHABET[9 * (2 * q1 + q2) + 3 * r1 + r2]


def normalize_emaid(text: str) -> str:
    """The EMAID as we store and compare it (the form ISO 15118-2 sends between car and
    charger): no surrounding blanks, no hyphens, capital letters."""
    return text.strip().upper().replace("-", "")


def emaid_problem(emaid: str) -> str | None:
    """Why ``normalize_emaid(emaid)`` is not a complete EMAID, in words for the driver, or
    ``None`` when it is one."""
    emaid = normalize_emaid(emaid)
    bad = next((c for c in emaid if c not in _EMAID_VALUE), None)
    if bad is not None:
        return f"{_EMAID_FORMAT} ({bad!r} is not a letter or digit)"
    if len(emaid) == EMAID_LENGTH - 1:
        return (
            "the EMAID lacks its check character (the last one, after the 9-character contract "
            "id): copy it from your contract or card"
        )
    if len(emaid) != EMAID_LENGTH:
        return f"{_EMAID_FORMAT} (this one has {len(emaid)})"
    if not emaid[:2].isalpha():
        return f"an EMAID starts with a 2-letter country code (like CN), not {emaid[:2]!r}"
    expected, given = emaid_check_character(emaid[:-1]), emaid[-1]
    if expected != given:
        return (
            f"the EMAID's check character (the last one) should be {expected}, not {given}: "
            "check for a typing error"
        )
    return None


def emaid_with_check_character(emaid14: str) -> str:
    """The 14 characters of ``emaid14`` (normalized) followed by their check character: how the
    simulator and tests make valid EMAIDs."""
    body = normalize_emaid(emaid14)
    return body + emaid_check_character(body)

"""A car's VIN and EMAID as a driver registers them: published ids pass, typing errors are caught
with a reason the driver can act on, and the generators' completions are valid."""

from __future__ import annotations

import random
import string

import pytest

from chargemesh.domain.vehicle_ids import (
    EMAID_ALPHABET,
    VIN_ALPHABET,
    emaid_check_character,
    emaid_problem,
    emaid_with_check_character,
    normalize_emaid,
    normalize_vin,
    vin_check_digit,
    vin_problem,
    vin_with_check_digit,
)
from tests.factories import valid_emaid, valid_vin

#: Real VINs with their check digit, as published:
PUBLISHED_VINS = (
    "1M8GDM9AXKP042788",  # Wikipedia, "Vehicle identification number", the check digit example
    "1FACP45EXLF192944",  # datacleaner/extension_vehicles wiki: "1FA-CP45E-?-LF192944" is X
    "WDBEA30D3HA391172",  # CRAN vindecodr docs, valid_check_digit() example ("# True")
    "JN1DA31D63T505967",  # lucasdavila/vin_checker README, "Valid vin example" (Nissan 2003)
    "1XPTD40X6JD456115",  # same README: the suggested correction of 1XPTD40X0JD456115
    "HE9XR1C48PS083871",  # dromara/hutool VinTest.java (a Chinese WMI, model year 2023)
)
#: Published EMAIDs (14 characters → check character):
PUBLISHED_EMAIDS = {
    # "Check Digit Calculation for Contract-IDs" (eMI3; ISO 15118 Annex H), its worked example;
    # also the IDRR Annex 1 example quoted by the codetics-evse-id crate docs (docs.rs)
    "DE83DUIEN83QGZ": "D",
    # ShellRechargeSolutionsEU/mobilityid (Scala), CheckDigitSpec "CheckDigitISO": "T24RZDM0"
    "NN123ABCDEFGHI": "T",
    "FRXYZ123456789": "2",
    "ITA1B2C3E4F5G6": "4",
    "ESZU8WOX834H1D": "R",
    "PT73902837ABCZ": "Z",
    "DE83DUIEN83ZGQ": "M",
    "DE8AA001234567": "0",
    # the same project's README: ISO 15118-1 "NL-TNM-000122045-U", eMI3 "NL-TNM-C00122045-K"
    "NL-TNM-000122045": "U",
    "NL-TNM-C00122045": "K",
}


#: A VIN character's value in the check-digit sum (the table of GB 16735 / ISO 3779), written
#: out here again rather than taken from the module under test.
_VALUE_GROUPS = ("AJ1", "BKS2", "CLT3", "DMU4", "ENV5", "FW6", "GPX7", "HY8", "RZ9", "0")


def _transliterated(char: str) -> int:
    return next(int(group[-1]) for group in _VALUE_GROUPS if char in group)


# ----------------------------------------------------------------------------- VIN


@pytest.mark.parametrize("vin", PUBLISHED_VINS)
def test_published_vins_pass(vin: str) -> None:
    assert vin_problem(vin) is None
    assert vin_check_digit(vin) == vin[8]
    assert vin_with_check_digit(vin[:8] + "0" + vin[9:]) == vin
    assert vin_problem(f"  {vin.lower()}\n") is None  # what a driver pastes
    assert normalize_vin(f" {vin.lower()} ") == vin


def test_a_wrong_check_digit_says_which_it_should_be() -> None:
    assert vin_problem("1M8GDM9A1KP042788") == (
        "the VIN's check digit (9th character) should be X, not 1: check for a typing error"
    )
    assert vin_problem("1XPTD40X0JD456115") == (  # vin_checker's "Invalid vin example"
        "the VIN's check digit (9th character) should be 6, not 0: check for a typing error"
    )


VIN_FORMAT = "a VIN is 17 letters and digits without I, O or Q"


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("", "this one has 0"),
        ("1M8GDM9AXKP04278", "this one has 16"),
        ("1M8GDM9AXKP0427881", "this one has 18"),
        ("IM8GDM9AXKP042788", "character 1 is 'I'"),
        ("1M8GDM9AXKPO42788", "character 12 is 'O'"),
        ("1M8GDM9AXKP0427Q8", "character 16 is 'Q'"),
        ("1M8GDM9A-KP042788", "character 9 is '-'"),
        ("1M8GDM 9AXKP04278", "character 7 is ' '"),
    ],
)
def test_format_errors_give_the_reason(text: str, detail: str) -> None:
    assert vin_problem(text) == f"{VIN_FORMAT} ({detail})"
    with pytest.raises(ValueError, match="a VIN is 17"):
        vin_check_digit(text)


def test_every_single_character_error_that_changes_the_sum_is_caught() -> None:
    # exhaustive over the published VINs: every position, every other allowed character. The
    # check digit cannot see a character swapped for one of the same value (A, J and 1 all count
    # 1): those are the only misses, and the test says so rather than hiding them
    missed = 0
    for vin in PUBLISHED_VINS:
        for i, old in enumerate(vin):
            for new in VIN_ALPHABET.replace(old, ""):
                typo = vin[:i] + new + vin[i + 1 :]
                same_value = i != 8 and _transliterated(new) == _transliterated(old)
                assert (vin_problem(typo) is None) is same_value, typo
                missed += same_value
    assert 0 < missed < 0.1 * len(PUBLISHED_VINS) * 17 * 32


def test_random_typing_errors_are_caught() -> None:
    rng = random.Random(15)
    for n in range(500):
        vin = vin_with_check_digit("".join(rng.choice(VIN_ALPHABET) for _ in range(17)))
        assert vin_problem(vin) is None
        i = rng.randrange(17)
        new = rng.choice([c for c in VIN_ALPHABET if _transliterated(c) != _transliterated(vin[i])])
        assert vin_problem(vin[:i] + new + vin[i + 1 :]) is not None, (n, vin, i, new)


def test_adjacent_transpositions_away_from_the_check_digit_are_caught() -> None:
    for vin in PUBLISHED_VINS:
        for i in [*range(7), *range(9, 16)]:  # pairs (i, i+1) not touching position 9
            a, b = vin[i], vin[i + 1]
            if _transliterated(a) != _transliterated(b):
                assert vin_problem(vin[:i] + b + a + vin[i + 2 :]) is not None, (vin, i)


def test_a_vin_with_a_check_digit_is_completed() -> None:
    assert vin_with_check_digit("1m8gdm9a?kp042788".replace("?", "0")) == "1M8GDM9AXKP042788"
    with pytest.raises(ValueError, match="this one has 16"):
        vin_with_check_digit("1M8GDM9AXKP04278")


# ----------------------------------------------------------------------------- EMAID


@pytest.mark.parametrize(("body", "check"), PUBLISHED_EMAIDS.items())
def test_published_emaids_pass(body: str, check: str) -> None:
    assert emaid_check_character(body) == check
    compact = normalize_emaid(body) + check
    assert emaid_with_check_character(body) == compact
    assert emaid_problem(compact) is None
    assert emaid_problem(f"{body}-{check}".lower()) is None  # with hyphens, in lower case
    assert normalize_emaid(f" {body}-{check.lower()} ") == compact


def test_the_platforms_own_shape_passes() -> None:
    emaid = emaid_with_check_character("CN-CMH-C00000042")
    assert emaid == "CNCMHC00000042" + emaid[-1]
    assert emaid_problem(emaid) is None
    assert emaid_problem("CN-CMH-" + emaid[5:14] + "-" + emaid[-1]) is None
    assert emaid_problem(emaid_with_check_character("CNCMH000000042")) is None  # any instance


def test_a_wrong_check_character_says_which_it_should_be() -> None:
    assert emaid_problem("DE83DUIEN83QGZE") == (
        "the EMAID's check character (the last one) should be D, not E: check for a typing error"
    )
    assert emaid_problem("NL-TNM-C00122045-U") == (  # the ISO form's check on the eMI3 id
        "the EMAID's check character (the last one) should be K, not U: check for a typing error"
    )


EMAID_FORMAT = (
    "an EMAID is 15 letters and digits: country (2 letters), provider (3), contract (9) and a "
    "check character, hyphens between them allowed"
)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "DE83DUIEN83QGZ",  # no check character: the standard allows it, issue 15 does not
            "the EMAID lacks its check character (the last one, after the 9-character contract "
            "id): copy it from your contract or card",
        ),
        ("NL-TNM-012204-5", f"{EMAID_FORMAT} (this one has 12)"),  # an old DIN SPEC 91286 id
        ("", f"{EMAID_FORMAT} (this one has 0)"),
        ("DE83DUIEN83QGZD1", f"{EMAID_FORMAT} (this one has 16)"),
        ("DE*83D*UIEN83QGZD", f"{EMAID_FORMAT} ('*' is not a letter or digit)"),
        ("DE 83D UIEN83QGZD", f"{EMAID_FORMAT} (' ' is not a letter or digit)"),
        ("D383DUIEN83QGZD", "an EMAID starts with a 2-letter country code (like CN), not 'D3'"),
    ],
)
def test_emaid_format_errors_give_the_reason(text: str, reason: str) -> None:
    assert emaid_problem(text) == reason


def test_every_single_character_error_is_caught() -> None:
    # exhaustive: every position of every published id, every other character
    for body, check in PUBLISHED_EMAIDS.items():
        emaid = normalize_emaid(body) + check
        for i, old in enumerate(emaid):
            for new in EMAID_ALPHABET.replace(old, ""):
                typo = emaid[:i] + new + emaid[i + 1 :]
                assert emaid_problem(typo) is not None, typo


def _random_body(rng: random.Random) -> str:
    country = "".join(rng.choice(string.ascii_uppercase) for _ in range(2))
    return country + "".join(rng.choice(EMAID_ALPHABET) for _ in range(12))


def _other(rng: random.Random, char: str) -> str:
    return rng.choice(EMAID_ALPHABET.replace(char, ""))


def test_transpositions_and_twin_errors_are_caught() -> None:
    # what the algorithm promises beyond single errors: ab → ba, abc → cba, aa → bb, aca → bcb,
    # anywhere behind the country code (a digit there is a format error anyway)
    rng = random.Random(91286)
    for _ in range(300):
        emaid = emaid_with_check_character(_random_body(rng))
        for i in range(2, 14):
            a, b = emaid[i], emaid[i + 1]
            if a != b:
                assert emaid_problem(emaid[:i] + b + a + emaid[i + 2 :]) is not None
            if i + 2 < 15 and a != emaid[i + 2]:
                jump = emaid[:i] + emaid[i + 2] + b + a + emaid[i + 3 :]
                assert emaid_problem(jump) is not None
        # twins, made on purpose: the body has xx (or xcx) at i, a typo turns it into yy (ycy)
        body, i = list(_random_body(rng)), rng.randrange(2, 12)
        x = rng.choice(EMAID_ALPHABET)
        body[i] = body[i + 1] = x
        twin = emaid_with_check_character("".join(body))
        y = _other(rng, x)
        assert emaid_problem(twin[:i] + y + y + twin[i + 2 :]) is not None
        body[i + 1] = _other(rng, x)
        body[i + 2] = x
        jump_twin = emaid_with_check_character("".join(body))
        assert emaid_problem(jump_twin[:i] + y + jump_twin[i + 1] + y + jump_twin[i + 3 :])


def test_a_check_character_needs_fourteen_letters_and_digits() -> None:
    for bad in ("DE83DUIEN83QG", "DE83DUIEN83QGZD", "DE83DUIEN83QG*"):
        with pytest.raises(ValueError, match="14"):
            emaid_check_character(bad)


# ----------------------------------------------------------------------------- test helpers


def test_the_factories_make_distinct_valid_ids() -> None:
    numbers = [*range(300), 999_999, *random.Random(3).sample(range(1_000_000), 300)]
    vins = [valid_vin(n) for n in numbers]
    emaids = [valid_emaid(n) for n in [*numbers, 99_999_999]]
    assert all(vin_problem(v) is None and normalize_vin(v) == v for v in vins)
    assert all(emaid_problem(e) is None and normalize_emaid(e) == e for e in emaids)
    assert len(set(vins)) == len(set(numbers))
    assert len(set(emaids)) == len(set(numbers)) + 1
    with pytest.raises(ValueError, match="n must be"):
        valid_vin(1_000_000)
    with pytest.raises(ValueError, match="n must be"):
        valid_emaid(-1)

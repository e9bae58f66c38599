"""JSON from outside parsed with a nesting limit (issue 19, item 2): refused as a ``ValueError``
before any parser recurses, exactly at the limit, whatever brackets hide in strings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chargemesh.protocols.json_input import MAX_DEPTH, JsonTooDeep, check_depth, loads
from chargemesh.protocols.tcec.codec import Ret, Secrets, TcecError, open_request, seal_request

SECRETS = Secrets("op-secret-00001", "data-key-0000001", "data-iv-00000001", "sig")


def nested(levels: int, inner: Any = 1) -> Any:
    value = inner
    for level in range(levels):
        value = [value] if level % 2 else {"k": value}
    return value


@pytest.mark.parametrize("as_text", [False, True])
def test_nesting_up_to_the_limit_parses_and_one_level_more_is_refused(as_text: bool) -> None:
    for levels, fine in ((MAX_DEPTH, True), (MAX_DEPTH + 1, False), (100_000, False)):
        text = json.dumps(nested(levels)) if levels < 500 else "[" * levels + "]" * levels
        body: bytes | str = text if as_text else text.encode()
        if fine:
            assert loads(body) == nested(levels)
        else:
            with pytest.raises(JsonTooDeep, match=f"deeper than {MAX_DEPTH} levels"):
                loads(body)


def test_brackets_in_strings_neither_count_nor_hide_nesting() -> None:
    quoted = {"name": "[" * 1000, "escaped": 'a \\" [[[[ " {{{{', "nested": nested(5)}
    assert loads(json.dumps(quoted)) == quoted
    assert loads(json.dumps(quoted).encode()) == quoted
    # closing brackets inside a string do not make the real nesting look shallow
    hidden = "[" * 40 + '"' + "]" * 40 + '"' + "]" * 40
    deeper = "[" * 40 + '"' + "]" * 40 + '",' + "[" * 40 + "1" + "]" * 80
    assert loads(hidden) is not None
    with pytest.raises(JsonTooDeep):
        loads(deeper)


def test_unclosed_brackets_are_a_value_error_not_a_recursion() -> None:
    for text in ("[" * 100_000, '{"a":' * 100_000, "[" * 70 + "]" * 10):
        with pytest.raises(ValueError):  # noqa: PT011 - JsonTooDeep or "not JSON", both fine
            loads(text)
        with pytest.raises(ValueError):  # noqa: PT011
            check_depth(text)


def test_a_t_cec_envelope_or_payload_nested_deep_is_malformed() -> None:
    for body in (b"[" * 100_000 + b"]" * 100_000, b"[" * 100_000):
        with pytest.raises(TcecError) as refused:
            open_request(body, lambda _: SECRETS)
        assert refused.value.ret is Ret.MALFORMED
    sealed = seal_request("MA01", {"Deep": nested(200)}, SECRETS, seq="0001",
                          timestamp="20260101080000")  # fmt: skip
    with pytest.raises(TcecError, match="nested deeper") as refused:
        open_request(sealed, lambda _: SECRETS)
    assert refused.value.ret is Ret.MALFORMED

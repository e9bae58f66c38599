"""The envelope: published vectors (tcec.md §3), round trips, tampering, garbage, time stamps."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from chargemesh.protocols.tcec.codec import (
    CHINA_TZ,
    Ret,
    Secrets,
    SeqCounter,
    TcecError,
    decrypt_data,
    encrypt_data,
    format_timestamp,
    open_request,
    open_response,
    parse_timestamp,
    request_sig,
    response_sig,
    seal_request,
    seal_response,
)
from tests.protocols.tcec.samples import (
    VECTOR_DATA,
    VECTOR_OPERATOR_ID,
    VECTOR_PLAINTEXT,
    VECTOR_SECRET,
    VECTOR_SEQ,
    VECTOR_SIG,
    VECTOR_TIMESTAMP,
)

VECTOR = Secrets(
    operator_secret=VECTOR_SECRET,
    data_secret=VECTOR_SECRET,
    data_secret_iv=VECTOR_SECRET,
    sig_secret=VECTOR_SECRET,
)
OTHER = Secrets(
    operator_secret="op-secret-2",
    data_secret="a1b2c3d4e5f6a7b8",
    data_secret_iv="0f1e2d3c4b5a6978",
    sig_secret="sig-secret-2",
)
SECRET_VALUES = (
    VECTOR_SECRET,
    "op-secret-2",
    "a1b2c3d4e5f6a7b8",
    "0f1e2d3c4b5a6978",
    "sig-secret-2",
)
AT = datetime(2026, 11, 1, 8, 0, 5, tzinfo=CHINA_TZ)


def known(operator_id: str) -> Secrets | None:
    return {VECTOR_OPERATOR_ID: VECTOR, "MA1FY5992": OTHER}.get(operator_id)


def vector_envelope() -> dict[str, Any]:
    return {
        "OperatorID": VECTOR_OPERATOR_ID,
        "Data": VECTOR_DATA,
        "TimeStamp": VECTOR_TIMESTAMP,
        "Seq": VECTOR_SEQ,
        "Sig": VECTOR_SIG,
    }


def assert_no_secret(error: TcecError) -> None:
    text = f"{error} {error!r} {error.reason}"
    for secret in SECRET_VALUES:
        assert secret not in text


# ----------------------------------------------------------------------------- published vectors


def test_vector_encrypts_to_published_data() -> None:
    assert encrypt_data(VECTOR_PLAINTEXT, VECTOR) == VECTOR_DATA


def test_vector_data_decrypts_to_published_plaintext() -> None:
    assert decrypt_data(VECTOR_DATA, VECTOR) == VECTOR_PLAINTEXT.encode("utf-8")


def test_vector_signature() -> None:
    sig = request_sig(VECTOR_OPERATOR_ID, VECTOR_DATA, VECTOR_TIMESTAMP, VECTOR_SEQ, VECTOR)
    assert sig == VECTOR_SIG


def test_vector_request_opens() -> None:
    opened = open_request(json.dumps(vector_envelope()).encode(), known)
    assert opened.operator_id == VECTOR_OPERATOR_ID
    assert opened.payload == {"OperatorID": "123456789", "OperatorSecret": "1234567890abcdef"}
    assert opened.seq == "0001"
    assert opened.timestamp == datetime(2018, 1, 20, 16, 57, 55, tzinfo=CHINA_TZ)
    assert opened.timestamp.utcoffset() == timedelta(hours=8)


def test_lower_case_sig_is_accepted() -> None:
    envelope = vector_envelope() | {"Sig": VECTOR_SIG.lower()}
    assert open_request(envelope, known).seq == "0001"


def test_wrapped_base64_is_accepted() -> None:
    wrapped = VECTOR_DATA[:40] + "\r\n" + VECTOR_DATA[40:]
    assert decrypt_data(wrapped, VECTOR) == VECTOR_PLAINTEXT.encode("utf-8")


# ----------------------------------------------------------------------------- round trips


def test_request_round_trip() -> None:
    payload = {"StationIDs": ["3101120001", "G2-YCH-N"], "Note": "虹桥枢纽"}
    sealed = seal_request("MA1FY5992", payload, OTHER, seq="0042", timestamp=AT)
    assert set(sealed) == {"OperatorID", "Data", "TimeStamp", "Seq", "Sig"}
    assert sealed["TimeStamp"] == "20261101080005"
    assert len(sealed["Sig"]) == 32
    assert sealed["Sig"] == sealed["Sig"].upper()
    opened = open_request(json.dumps(sealed), known)
    assert opened.payload == payload
    assert (opened.operator_id, opened.seq, opened.timestamp) == ("MA1FY5992", "0042", AT)


def test_seal_request_converts_aware_times_to_china_time() -> None:
    sealed = seal_request("MA1FY5992", {}, OTHER, seq="0001", timestamp=AT.astimezone(UTC))
    assert sealed["TimeStamp"] == "20261101080005"


def test_seal_request_rejects_naive_time_and_bad_text() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        seal_request("MA1FY5992", {}, OTHER, seq="0001", timestamp=datetime(2026, 11, 1))
    with pytest.raises(ValueError, match="14 digits"):
        seal_request("MA1FY5992", {}, OTHER, seq="0001", timestamp="2026-11-01")
    with pytest.raises(ValueError, match="14 digits"):
        seal_request("MA1FY5992", {}, OTHER, seq="0001", timestamp="202611010800")
    sealed = seal_request("MA1FY5992", {}, OTHER, seq="0001", timestamp="20261101080005")
    assert sealed["TimeStamp"] == "20261101080005"


def test_decimals_are_sent_as_numbers() -> None:
    sealed = seal_request("MA1FY5992", {"ElecPrice": Decimal("0.75")}, OTHER, seq="1", timestamp=AT)
    assert json.loads(decrypt_data(sealed["Data"], OTHER)) == {"ElecPrice": 0.75}


def test_response_round_trip() -> None:
    sealed = seal_response(Ret.OK, "", {"Status": 0}, OTHER)
    assert sealed["Ret"] == 0
    assert sealed["Sig"] == response_sig(0, "", sealed["Data"], OTHER)
    assert open_response(json.dumps(sealed).encode(), OTHER) == {"Status": 0}


def test_response_without_payload_has_empty_data() -> None:
    sealed = seal_response(Ret.OK, "ok", None, OTHER)
    assert sealed["Data"] == ""
    assert open_response(sealed, OTHER) == {}


def test_response_ret_as_string_is_signed_as_sent() -> None:
    data = encrypt_data('{"Total":0}', OTHER)
    envelope = {"Ret": "0", "Msg": "", "Data": data, "Sig": response_sig("0", "", data, OTHER)}
    assert open_response(envelope, OTHER) == {"Total": 0}


# ----------------------------------------------------------------------------- tampering


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Data", encrypt_data('{"OperatorID":"123456789","OperatorSecret":"x"}', VECTOR)),
        ("Sig", "D2D584A14F3F284445DF85D0E8C0697D"),
        ("Seq", "0002"),
        ("TimeStamp", "20180120165756"),
        ("OperatorID", "MA1FY5992"),  # another known operator
    ],
)
def test_tampered_request_is_bad_signature(field: str, value: str) -> None:
    with pytest.raises(TcecError) as caught:
        open_request(vector_envelope() | {field: value}, known)
    assert caught.value.ret is Ret.BAD_SIGNATURE
    assert caught.value.reason == "bad_signature"
    assert_no_secret(caught.value)


def test_signature_is_checked_before_decrypting() -> None:
    # Garbage Data with a wrong Sig must fail on the signature, not on the padding.
    with pytest.raises(TcecError) as caught:
        open_request(vector_envelope() | {"Data": "AAAA" * 8}, known)
    assert caught.value.ret is Ret.BAD_SIGNATURE


def test_unknown_operator_looks_like_a_bad_signature() -> None:
    with pytest.raises(TcecError) as caught:
        open_request(vector_envelope() | {"OperatorID": "999999999"}, known)
    assert caught.value.ret is Ret.BAD_SIGNATURE
    assert caught.value.reason == "unknown_operator"
    assert str(caught.value) == "Sig verification failed"


def test_tampered_response_is_bad_signature() -> None:
    sealed = seal_response(Ret.OK, "", {"Status": 0}, OTHER)
    with pytest.raises(TcecError) as caught:
        open_response(sealed | {"Msg": "changed"}, OTHER)
    assert caught.value.ret is Ret.BAD_SIGNATURE
    assert_no_secret(caught.value)


def test_response_signed_with_other_secrets_is_bad_signature() -> None:
    sealed = seal_response(Ret.OK, "", {"Status": 0}, VECTOR)
    with pytest.raises(TcecError) as caught:
        open_response(sealed, OTHER)
    assert caught.value.ret is Ret.BAD_SIGNATURE


# ----------------------------------------------------------------------------- garbage


def signed(data: str, secrets: Secrets = VECTOR) -> dict[str, Any]:
    """An envelope with a valid signature over ``data``, to reach the decryption step."""
    envelope = vector_envelope() | {"Data": data}
    envelope["Sig"] = request_sig(VECTOR_OPERATOR_ID, data, VECTOR_TIMESTAMP, VECTOR_SEQ, secrets)
    return envelope


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "bad_json"),
        (b"\xff\xfe\x00garbage", "bad_json"),
        ("[1, 2]", "bad_json"),
        ({k: v for k, v in vector_envelope().items() if k != "Sig"}, "missing_field"),
        ({k: v for k, v in vector_envelope().items() if k != "Seq"}, "missing_field"),
        (vector_envelope() | {"Data": None}, "missing_field"),
        (vector_envelope() | {"Data": ["x"]}, "bad_field"),
        (vector_envelope() | {"TimeStamp": "2018-01-20 16:57"}, "bad_timestamp"),
        (vector_envelope() | {"TimeStamp": "20181320165755"}, "bad_timestamp"),
        (signed("not base64!"), "bad_base64"),
        (signed("AAAA"), "bad_ciphertext"),  # 3 bytes, not a whole block
        (signed(encrypt_data("hello", OTHER)), "bad_padding"),  # other key: padding breaks
        (signed(encrypt_data("not json", VECTOR)), "bad_plaintext"),
        (signed(encrypt_data("[1, 2, 3]", VECTOR)), "bad_plaintext"),
        (signed(encrypt_data(b"\xff\xfe", VECTOR)), "bad_plaintext"),
    ],
)
def test_garbage_is_malformed(body: Any, reason: str) -> None:
    with pytest.raises(TcecError) as caught:
        open_request(body, known)
    assert caught.value.ret is Ret.MALFORMED
    assert caught.value.reason == reason
    assert_no_secret(caught.value)


def test_decrypted_data_never_appears_in_errors() -> None:
    plaintext = '{"OperatorSecret":"op-secret-2"'  # truncated JSON containing a secret
    with pytest.raises(TcecError) as caught:
        open_request(signed(encrypt_data(plaintext, VECTOR)), known)
    assert caught.value.ret is Ret.MALFORMED
    assert_no_secret(caught.value)
    assert "OperatorSecret" not in str(caught.value)


def test_empty_data_opens_as_empty_payload() -> None:
    assert open_request(signed(""), known).payload == {}


def test_garbage_response_is_malformed() -> None:
    for body in (b"<html>502</html>", '{"Ret": "ok"}', '{"Ret": 0, "Msg": "", "Data": ""}'):
        with pytest.raises(TcecError) as caught:
            open_response(body, OTHER)
        assert caught.value.ret is Ret.MALFORMED


# ----------------------------------------------------------------------------- error responses


@pytest.mark.parametrize(
    ("code", "ret"),
    [
        (4002, Ret.BAD_TOKEN),
        (4001, Ret.BAD_SIGNATURE),
        (4003, Ret.MALFORMED),
        (4004, Ret.INVALID_PARAMETER),
        (500, Ret.SYSTEM_ERROR),
        (-1, Ret.BUSY),
        (1, Ret.BUSY),
        (4099, Ret.SYSTEM_ERROR),
    ],
)
def test_error_response_raises_its_ret(code: int, ret: Ret) -> None:
    envelope = {"Ret": code, "Msg": "token 已过期", "Data": "", "Sig": ""}  # unsigned, as often
    with pytest.raises(TcecError) as caught:
        open_response(envelope, OTHER)
    assert caught.value.ret is ret
    assert caught.value.code == code
    assert caught.value.reason == "peer"
    assert str(caught.value) == "token 已过期"


def test_error_response_sealed_by_us_reads_back() -> None:
    sealed = seal_response(Ret.BAD_TOKEN, "AccessToken expired", None, OTHER)
    assert sealed["Ret"] == 4002
    with pytest.raises(TcecError) as caught:
        open_response(sealed, OTHER)
    assert caught.value.ret is Ret.BAD_TOKEN


# ----------------------------------------------------------------------------- time stamps


def test_twelve_digit_timestamps_are_accepted() -> None:
    assert parse_timestamp("201801201657") == datetime(2018, 1, 20, 16, 57, tzinfo=CHINA_TZ)
    stamp = "201801201657"
    envelope = vector_envelope() | {"TimeStamp": stamp}
    envelope["Sig"] = request_sig(VECTOR_OPERATOR_ID, VECTOR_DATA, stamp, VECTOR_SEQ, VECTOR)
    assert open_request(envelope, known).timestamp == datetime(2018, 1, 20, 16, 57, tzinfo=CHINA_TZ)


@pytest.mark.parametrize(
    "text", ["", "2018012016575", "201801201657550", "2018012016575x", "２０１８"]
)
def test_bad_timestamps(text: str) -> None:
    with pytest.raises(ValueError, match="TimeStamp"):
        parse_timestamp(text)


def test_format_timestamp() -> None:
    assert format_timestamp(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "20260102110405"


def test_numeric_seq_and_timestamp_are_signed_as_their_text() -> None:
    stamp, seq = 20180120165755, 1
    envelope = vector_envelope() | {"TimeStamp": stamp, "Seq": seq}
    envelope["Sig"] = request_sig(VECTOR_OPERATOR_ID, VECTOR_DATA, str(stamp), "1", VECTOR)
    assert open_request(envelope, known).seq == "1"


# ----------------------------------------------------------------------------- secrets and seq


def test_secrets_repr_hides_values() -> None:
    text = repr(VECTOR) + str(VECTOR) + repr(OTHER)
    for secret in SECRET_VALUES:
        assert secret not in text


@pytest.mark.parametrize("field", ["data_secret", "data_secret_iv"])
def test_secrets_need_sixteen_byte_key_and_iv(field: str) -> None:
    values = {
        "operator_secret": "op",
        "data_secret": "a1b2c3d4e5f6a7b8",
        "data_secret_iv": "0f1e2d3c4b5a6978",
        "sig_secret": "sig",
    }
    with pytest.raises(ValueError, match=field) as caught:
        Secrets(**(values | {field: "short-key"}))
    assert "short-key" not in str(caught.value)
    with pytest.raises(ValueError, match=field):
        Secrets(**(values | {field: "密钥密钥密钥密钥"}))  # 16 characters, 48 bytes


def test_secrets_from_config() -> None:
    from chargemesh.config import TcecSecrets

    config = TcecSecrets.model_validate(
        {
            "operator_secret": "op",
            "data_secret": "a1b2c3d4e5f6a7b8",
            "data_secret_iv": "0f1e2d3c4b5a6978",
            "sig_secret": "sig",
        }
    )
    secrets = Secrets.from_config(config)
    assert secrets.data_secret == "a1b2c3d4e5f6a7b8"
    assert secrets.sig_secret == "sig"


def test_seq_counter_rolls_over() -> None:
    counter = SeqCounter(start=9998)
    assert [counter.next() for _ in range(4)] == ["9998", "9999", "0001", "0002"]
    assert SeqCounter().next() == "0001"
    with pytest.raises(ValueError, match="start"):
        SeqCounter(start=0)


def test_error_survives_pickling() -> None:
    import pickle

    error = pickle.loads(pickle.dumps(TcecError(Ret.BAD_TOKEN, "expired")))  # noqa: S301
    assert (error.ret, str(error)) == (Ret.BAD_TOKEN, "expired")


def test_null_msg_and_data_in_a_response() -> None:
    envelope = {"Ret": 0, "Msg": None, "Data": None, "Sig": response_sig(0, "", "", OTHER)}
    assert open_response(envelope, OTHER) == {}

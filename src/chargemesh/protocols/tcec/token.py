"""``query_token``: both directions, signed and encrypted, no bearer token."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from chargemesh.protocols.tcec.wire import WireModel, wire

__all__ = ["QueryTokenRequest", "QueryTokenResponse"]


class QueryTokenRequest(WireModel):
    operator_id: Annotated[str, wire("OperatorID")]
    operator_secret: Annotated[str, wire("OperatorSecret"), Field(repr=False)]


class QueryTokenResponse(WireModel):
    """``SuccStat`` 0 success / 1 failure; ``FailReason`` 0 none, 1 no such operator, 2 wrong
    secret. ``TokenAvailableTime`` is in seconds (7200 is typical)."""

    operator_id: Annotated[str, wire("OperatorID")]
    succ_stat: Annotated[int, wire("SuccStat")]
    access_token: Annotated[str, wire("AccessToken"), Field(repr=False)] = ""
    token_available_time: Annotated[int, wire("TokenAvailableTime")] = 0
    fail_reason: Annotated[int, wire("FailReason")] = 0

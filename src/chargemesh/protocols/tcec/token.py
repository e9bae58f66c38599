"""``query_token``: both directions, signed and encrypted, no bearer token."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from chargemesh.protocols.tcec.sizes import Int32, OperatorId, Secret
from chargemesh.protocols.tcec.wire import WireModel, wire

__all__ = ["QueryTokenRequest", "QueryTokenResponse"]


class QueryTokenRequest(WireModel):
    operator_id: Annotated[OperatorId, wire("OperatorID")]
    operator_secret: Annotated[Secret, wire("OperatorSecret"), Field(repr=False)]


class QueryTokenResponse(WireModel):
    """``SuccStat`` 0 success / 1 failure; ``FailReason`` 0 none, 1 no such operator, 2 wrong
    secret. ``TokenAvailableTime`` is in seconds (7200 is typical)."""

    operator_id: Annotated[OperatorId, wire("OperatorID")]
    succ_stat: Annotated[Int32, wire("SuccStat")]
    access_token: Annotated[Secret, wire("AccessToken"), Field(repr=False)] = ""
    token_available_time: Annotated[Int32, wire("TokenAvailableTime")] = 0
    fail_reason: Annotated[Int32, wire("FailReason")] = 0

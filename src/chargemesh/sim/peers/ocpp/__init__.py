"""The simulator's own network of charge points: real OCPP 1.6J and 2.0.1 clients over
websockets (the ``ocpp`` library, client side) that connect to the platform's CSMS."""

from chargemesh.sim.peers.ocpp.charge_point import ConnectorState, SimChargePoint
from chargemesh.sim.peers.ocpp.fleet import Fleet
from chargemesh.sim.peers.ocpp.transaction import Reading, Token, Transaction, TxMessage

__all__ = [
    "ConnectorState",
    "Fleet",
    "Reading",
    "SimChargePoint",
    "Token",
    "Transaction",
    "TxMessage",
]

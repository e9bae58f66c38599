"""Peers we talk to, simulated over real loopback HTTP."""

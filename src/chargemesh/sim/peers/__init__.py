"""The simulated peers the platform talks to over the protocols: an OCPI CPO (:mod:`.ocpi`) and
a T/CEC operator (:mod:`.tcec`). Only the simulator, tests and benchmarks import them."""

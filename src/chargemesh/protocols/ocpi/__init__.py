"""OCPI 2.2.1, wire only: chargemesh is the eMSP (the simulated CPO: ``chargemesh.sim.peers``).

Modules:

* ``transport`` — envelope, status codes, ``Authorization`` token (raw or Base64), ``Link``
  pagination, request ids. No I/O.
* ``models`` — Pydantic v2 wire models of every object (lenient in, strict out) and ``enums``.
* ``mapping`` — wire models → the domain (Station/Evse/Connector, status, access methods,
  GCJ-02 coordinates inside China, opening times, parking, tariffs).
* ``client`` — :class:`OcpiClient`, the HTTP side both roles call with: versions, details,
  credentials, paginated GETs that resume at a failed page, PUT/PATCH/POST pushes, commands.

The eMSP endpoints themselves live in ``chargemesh.api.ocpi``; registration, sync and commands
in ``chargemesh.services.ocpi``.
"""

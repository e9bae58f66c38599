"""OCPP-J for the own chargers' CSMS: 1.6J (:mod:`.v16`) and 2.0.1 (:mod:`.v201`) on the
``ocpp`` library (messages and JSON-schema validation), mapped to one version-neutral set of
messages (:mod:`.messages`) that the CSMS (``chargemesh.csms``) answers. docs/csms.md."""

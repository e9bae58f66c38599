"""The own chargers' CSMS (docs/csms.md): the websocket gateway (:mod:`.gateway`) and one module
per functional block — :mod:`.provisioning` (boot, heartbeat, silence), :mod:`.availability`
(status), :mod:`.authorization` (tokens, plug-and-charge), :mod:`.transactions` (meter, bill),
:mod:`.remote` (the sessions' adapter and operations' commands) — over :mod:`.network` (the
registered chargers and their stations, the own tariff)."""

"""Search over the registry: an in-memory index of every live station, kept current from the
event bus, answering nearby, viewport-cluster and along-route queries with filters."""

"""A simulated OCPI 2.2.1 CPO: its HTTP server (:mod:`.server`), its charging (:mod:`.sessions`)."""

"""A simulated T/CEC operator: its data (:mod:`.network`), the interfaces it serves
(:mod:`.server`), its pushes to the platform (:mod:`.push`) and its charging (:mod:`.charging`)."""

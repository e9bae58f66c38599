"""The simulated country: operator networks (:mod:`.operators`), their stations and piles
(:mod:`.country`) and the config manifest that points the platform at them (:mod:`.manifest`)."""

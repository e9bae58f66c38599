"""Events on their way out: the outbox codec and the relay from the outbox to the event bus."""

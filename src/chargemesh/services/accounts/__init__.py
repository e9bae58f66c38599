"""Who may call the platform: drivers' accounts and sign-ins (:mod:`.service`), their access
tokens (:mod:`.tokens`), passwords (:mod:`.passwords`) and the operations team's keys
(:mod:`.ops_keys`). docs/accounts.md."""

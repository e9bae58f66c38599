-- RFID charge cards of drivers (docs/accounts.md): the UID of a card starts a charge on an own charger
-- in the account it belongs to. One account per card: the UID is the key.
CREATE TABLE charge_cards (
    uid TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    label TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX charge_cards_account ON charge_cards (account_id);

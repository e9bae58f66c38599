"""A driver's charge on any network: sessions, QR codes, prices, one adapter per protocol."""

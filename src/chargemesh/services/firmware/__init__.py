"""Firmware for the own chargers: images (kept by content, signed, served with expiring links)
and the signing key (docs/firmware.md). Campaigns run in ``csms/campaigns.py``."""

"""What operators send us and how it is taken in: syncs, pushes, merge, delisting, freshness."""

"""The web map: static files served at ``/`` and ``/static/`` (MapLibre GL JS vendored)."""

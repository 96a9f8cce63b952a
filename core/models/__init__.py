"""Models: load any spec (``loader``, ``builtin``), wrap it once per process (``handle``), run it on the
backend that pays (``backends``, ``backend_choice``, ``cpu``), key its caches (``fingerprint``), read its
cosines on the 0–5 scale (``calibration``, ``similarity``) and score it (``evaluators``)."""

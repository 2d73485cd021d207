"""``gaplab serve``: a local, read-only web dashboard over the results store (see ``app`` and ``server``)."""

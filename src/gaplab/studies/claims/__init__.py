"""The claims, one study per module: each defines ``STUDY = Study(...)`` and the registry finds it here."""

"""Report pages of workflow results (doctor diagnoses, advice): each module registers with ``artifact_page``.

Importing this package registers every page; ``write_report`` does so before it writes.
"""

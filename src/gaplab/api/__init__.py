"""The Python API behind ``gaplab.train``, ``gaplab.sweep``, ``gaplab.study`` and ``gaplab.Store``.

Import those from ``gaplab`` itself; the modules here each hold one of them (and the CLI's ``train`` and
``sweep`` commands call the same functions, so both doors run the same code).
"""

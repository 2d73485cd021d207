"""``gaplab doctor``: diagnose the training of the user's own model on the user's own data (claim C21).

``diagnose(spec) -> Diagnosis`` runs check families (data, init, input dependence, overfitting a tiny set,
learning-rate range, training dynamics, bias/variance, label noise); each check gives a measured value, a band
scaled to the task, a verdict (PASS/WARN/FAIL), a likely cause and what to try.
"""

from gaplab.doctor.result import FAMILIES, Diagnosis, Finding
from gaplab.doctor.workflow import diagnose

__all__ = ["FAMILIES", "Finding", "Diagnosis", "diagnose"]

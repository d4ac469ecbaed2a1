"""PHI canaries: unique, recognisable values for patient fields.

A test that puts patient data anywhere takes it from here, so the suite's last case (S13,
tests/reliability/test_phi_canary.py) can prove that none of it reached a log, the broker or
a URL: it searches everything the run left behind for the common prefix.
"""

import itertools
import uuid

PREFIX = "PHICANARY"

_serial = itertools.count(1)
_run = uuid.uuid4().hex[:6].upper()


def canary_token() -> str:
    """A fresh canary made of letters and digits only: valid in every DICOM string VR."""
    return f"{PREFIX}{_run}{next(_serial):05d}"


def canary_name() -> str:
    """A fresh canary patient name in DICOM PN form (family^given)."""
    return f"{canary_token()}^TEST"

"""Roles of the touches of a path: who introduced, who influenced, who closed.

The first eligible touch is the introducer, the last the closer, the others influencers.
A path of a single touch has one touch that is both introducer and closer: it is recorded as
`Role.SOLE` (not as two credits), so that every credit carries exactly one role.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from attribution.columns import I8, Role


def roles(position: NDArray[np.int32], length: NDArray[np.int32]) -> I8:
    """Role of each path entry from its 0-based position and its path's length."""
    role = np.full(position.shape[0], Role.INFLUENCER, np.int8)
    role[position == length - 1] = Role.CLOSER
    role[position == 0] = Role.INTRODUCER
    role[length == 1] = Role.SOLE
    return role


def role_of(position: int, length: int) -> Role:
    """Scalar form (explain, reference)."""
    if length == 1:
        return Role.SOLE
    if position == 0:
        return Role.INTRODUCER
    if position == length - 1:
        return Role.CLOSER
    return Role.INFLUENCER

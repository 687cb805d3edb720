"""The indicators' request rules, shared by the contacts service and the gateway's schemas."""

from __future__ import annotations

import re

DIMENSION_ID = re.compile(r"[a-z][a-z0-9_]{0,39}")
MAX_DIMENSIONS = 3  # per aggregate query
K_RANGE = (2, 20)  # contacts per published cell
P_RANGE = (1, 100)  # dominance, percent
MIN_COMPONENTS_RANGE = (2, 100)  # one component's figure is its own

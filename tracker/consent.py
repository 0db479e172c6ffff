"""Privacy signals sent with a click or an event.

* ``gdpr`` query parameter (IAB TCF convention): ``1`` GDPR applies, ``0`` it does not;
  absent, or anything else (an unreplaced macro such as ``{gdpr}``), means unknown.
* ``gdpr_consent`` query parameter: the TCF consent string, carried verbatim for downstream
  processing. It is kept only if it is made of TCF characters (base64url segments separated
  by dots) and at most :data:`MAX_TCF_CHARS` long; otherwise it is dropped and
  ``tcf_string_dropped`` says so.
* ``Sec-GPC: 1`` request header (Global Privacy Control): the visitor opts out of sale and
  sharing. Any other value is not a signal.

The core does not decode TCF purposes; :attr:`Consent.requires_minimisation` is the
conservative reading the collector can apply (e.g. anonymise the IP fully).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_TCF_CHARS = 4096
_TCF_RE = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")


@dataclass(frozen=True, slots=True)
class Consent:
    gdpr_applies: bool | None = None
    tcf_string: str | None = None
    gpc: bool = False
    tcf_string_dropped: bool = False

    @property
    def requires_minimisation(self) -> bool:
        """GPC opt-out, or GDPR applies and no usable consent string came with it."""
        return self.gpc or (self.gdpr_applies is True and self.tcf_string is None)


NO_SIGNALS = Consent()


def parse_consent(gdpr: str | None, gdpr_consent: str | None, sec_gpc: str | None) -> Consent:
    """Read the ``gdpr`` and ``gdpr_consent`` query values and the ``Sec-GPC`` header value."""
    flag = (gdpr or "").strip()
    gdpr_applies = True if flag == "1" else False if flag == "0" else None
    tcf: str | None = None
    dropped = False
    if gdpr_consent:
        if len(gdpr_consent) <= MAX_TCF_CHARS and _TCF_RE.fullmatch(gdpr_consent):
            tcf = gdpr_consent
        else:
            dropped = True
    gpc = (sec_gpc or "").strip() == "1"
    return Consent(gdpr_applies=gdpr_applies, tcf_string=tcf, gpc=gpc, tcf_string_dropped=dropped)

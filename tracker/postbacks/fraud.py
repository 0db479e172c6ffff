"""Fraud signals for mobile installs: per postback, and click flooding per partner.

Per postback (``postback_fraud_signals``):

* ``ctit_too_short``: click-to-install time under ``min_ctit_s`` (default 10 s), negative
  included: a real user cannot download, install and open an app that fast, so the click was
  injected (Android broadcast hijacking) or reported after the fact.
* ``datacenter_ip``: the device address of the install is in a configured data-centre list
  (server farms do not install apps: emulators, device farms, SDK spoofing).

Per partner (``click_flooding_report``), from arrays of clicks (partner, click time, install
time or ``NO_INSTALL``), computed with numpy:

* ``clicks_per_install``: clicks divided by the installs they led to; flooding partners send
  huge numbers of clicks hoping to be the last click before organic installs;
* ``share_ctit_over_24h``: share of installs whose CTIT exceeds 24 hours;
* ``ctit_flatness``: how uniform the CTIT histogram is over the attribution window, in
  ``bin_hours``-wide bins (a day by default), as ``1 - chi2 / chi2_max``: chi2 is Pearson's
  statistic against the uniform histogram and ``chi2_max = n * (k - 1)`` its value when every
  install falls in one of the k bins. 1 is perfectly flat (CTIT unrelated to the click:
  flooding), 0 fully concentrated (genuine installs cluster in the first hours). For mass
  spread evenly over m bins the score is about ``1 - 1/m``, which is why the bins are a day
  wide by default: with hourly bins over a week, a genuine CTIT spread over a few hours would
  already score about 0.75.

A partner is flagged ``click_flooding`` when its click-to-install ratio is above the threshold
(judged from ``min_clicks`` clicks on) and at least one CTIT-distribution signal is too;
distribution signals are judged only with at least ``min_installs`` installs of known CTIT
(``flood_signals``, shared with the attributor's rolling ledger in ``tracker.postbacks.flooding``).
Thresholds are passed in, never read from anywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from tracker.network import NetworkSet, ip_in_networks
from tracker.postbacks.mapping import MappedPostback, ctit_seconds

CTIT_TOO_SHORT = "ctit_too_short"
DATACENTER_IP = "datacenter_ip"
CLICKS_PER_INSTALL_HIGH = "clicks_per_install_high"
CTIT_OVER_24H_SHARE_HIGH = "ctit_over_24h_share_high"
CTIT_DISTRIBUTION_FLAT = "ctit_distribution_flat"
CLICK_FLOODING = "click_flooding"

NO_INSTALL = -1  # install_ts_ms of a click that led to no install (any negative value)
HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class FraudRules:
    min_ctit_s: float = 10.0
    datacenter_networks: NetworkSet = field(default_factory=lambda: NetworkSet.compile(()))


def is_ctit_too_short(ctit_s: float | None, min_ctit_s: float = 10.0) -> bool:
    """True when the CTIT is known and below ``min_ctit_s`` (negative CTITs included)."""
    return ctit_s is not None and ctit_s < min_ctit_s


def is_datacenter_ip(ip: str | None, networks: NetworkSet) -> bool:
    return ip_in_networks(ip, networks)


def postback_fraud_signals(postback: MappedPostback, rules: FraudRules) -> tuple[str, ...]:
    """The fraud signals one mapped postback raises, in a stable order."""
    signals: list[str] = []
    if is_ctit_too_short(
        ctit_seconds(postback.click_ts_ms, postback.install_ts_ms), rules.min_ctit_s
    ):
        signals.append(CTIT_TOO_SHORT)
    if is_datacenter_ip(postback.device_ip, rules.datacenter_networks):
        signals.append(DATACENTER_IP)
    return tuple(signals)


@dataclass(frozen=True, slots=True)
class FloodThresholds:
    max_clicks_per_install: float = 100.0
    max_share_ctit_over_24h: float = 0.5
    max_ctit_flatness: float = 0.7
    min_installs: int = 20  # of known CTIT, to judge the CTIT distribution
    min_clicks: int = 0  # to judge the click-to-install ratio
    window_hours: int = 168  # CTITs beyond the attribution window are not binned
    bin_hours: int = 24

    def bins(self) -> int:
        """Number of CTIT bins; ValueError unless the window holds at least two whole bins."""
        k, rest = divmod(self.window_hours, self.bin_hours) if self.bin_hours > 0 else (0, 0)
        if k < 2 or rest:
            raise ValueError("window_hours must be a multiple of bin_hours, at least two bins")
        return k


@dataclass(frozen=True, slots=True)
class PartnerClickStats:
    partner: str
    clicks: int
    installs: int
    clicks_per_install: float  # inf when clicks led to no install
    share_ctit_over_24h: float  # nan without installs
    ctit_flatness: float  # nan without installs in the window
    signals: tuple[str, ...]

    @property
    def click_flooding(self) -> bool:
        return CLICK_FLOODING in self.signals


def flatness(counts: NDArray[np.int64]) -> NDArray[np.float64]:
    """Per row of CTIT histograms, 1 - chi2 / (n (k - 1)) against the uniform histogram; nan
    for empty rows."""
    k = counts.shape[1]
    n = counts.sum(axis=1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = n / k
        chi2 = ((counts - expected[:, None]) ** 2).sum(axis=1) / expected
        score = 1.0 - chi2 / (n * (k - 1))
    return np.where(n > 0, np.clip(score, 0.0, 1.0), np.nan)  # clip rounding noise


def click_flooding_report(
    partners: Sequence[str] | NDArray[np.str_],
    click_ts_ms: NDArray[np.int64],
    install_ts_ms: NDArray[np.int64],
    thresholds: FloodThresholds,
) -> dict[str, PartnerClickStats]:
    """Per-partner click-to-install ratio and CTIT flatness; see the module docstring.

    One row per click; ``install_ts_ms`` is ``NO_INSTALL`` (negative) when the click led to
    no attributed install.
    """
    k, bin_ms = thresholds.bins(), thresholds.bin_hours * HOUR_MS
    names = np.asarray(partners, dtype=np.str_)
    clicks_ms = np.asarray(click_ts_ms, dtype=np.int64)
    installs_ms = np.asarray(install_ts_ms, dtype=np.int64)
    if not names.shape == clicks_ms.shape == installs_ms.shape or names.ndim != 1:
        raise ValueError("partners, click_ts_ms and install_ts_ms must be 1-D of one length")
    labels, index = np.unique(names, return_inverse=True)
    size = len(labels)
    installed = installs_ms >= 0
    ctit_ms = installs_ms - clicks_ms
    in_window = installed & (ctit_ms >= 0) & (ctit_ms < k * bin_ms)
    clicks = np.bincount(index, minlength=size)
    installs = np.bincount(index[installed], minlength=size)
    over_24h = np.bincount(index[installed & (ctit_ms > 24 * HOUR_MS)], minlength=size)
    bins = index[in_window] * k + ctit_ms[in_window] // bin_ms
    histogram = np.bincount(bins, minlength=size * k).reshape(size, k)
    flat = flatness(histogram)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(installs > 0, clicks / installs, np.inf)
        share = np.where(installs > 0, over_24h / installs, np.nan)

    report: dict[str, PartnerClickStats] = {}
    for i, partner in enumerate(labels.tolist()):
        report[str(partner)] = PartnerClickStats(
            partner=str(partner),
            clicks=int(clicks[i]),
            installs=int(installs[i]),
            clicks_per_install=float(ratio[i]),
            share_ctit_over_24h=float(share[i]),
            ctit_flatness=float(flat[i]),
            signals=flood_signals(
                int(clicks[i]), int(installs[i]), int(installs[i]), float(share[i]),
                float(flat[i]), thresholds,
            ),
        )  # fmt: skip
    return report


def flood_signals(
    clicks: int,
    installs: int,
    timed_installs: int,
    share_ctit_over_24h: float,
    ctit_flatness: float,
    thresholds: FloodThresholds,
) -> tuple[str, ...]:
    """The click-flooding signals of one partner's counts, ``click_flooding`` last when the
    ratio and a CTIT-distribution signal agree (module docstring). ``timed_installs`` are
    the installs of known CTIT the share and flatness were measured on."""
    signals: list[str] = []
    ratio = clicks / installs if installs else math.inf
    if clicks >= max(thresholds.min_clicks, 1) and ratio > thresholds.max_clicks_per_install:
        signals.append(CLICKS_PER_INSTALL_HIGH)
    if timed_installs >= thresholds.min_installs:
        if share_ctit_over_24h > thresholds.max_share_ctit_over_24h:
            signals.append(CTIT_OVER_24H_SHARE_HIGH)
        if ctit_flatness > thresholds.max_ctit_flatness:
            signals.append(CTIT_DISTRIBUTION_FLAT)
    if CLICKS_PER_INSTALL_HIGH in signals and len(signals) > 1:
        signals.append(CLICK_FLOODING)
    return tuple(signals)

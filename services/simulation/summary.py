"""What a simulation sent and how the collector answered, counted, and rendered as text."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class Summary:
    target: str = ""
    rate: float = 0.0
    duration_s: float = 0.0
    elapsed_s: float = 0.0
    journeys: Counter[str] = field(default_factory=Counter)  # by kind; "cut short"
    requests: Counter[tuple[str, int]] = field(default_factory=Counter)  # (endpoint, status)
    events: Counter[str] = field(default_factory=Counter)  # accepted, by step kind
    deliberate_rejects: Counter[str] = field(default_factory=Counter)  # by reason
    unexpected: Counter[str] = field(default_factory=Counter)  # what went wrong, counted
    transport_errors: Counter[str] = field(default_factory=Counter)  # by exception type
    notes: list[str] = field(default_factory=list)

    @property
    def server_errors(self) -> int:
        return sum(n for (_, status), n in self.requests.items() if status >= 500)

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def ok(self) -> bool:
        """No 5xx, no transport error, nothing refused or accepted against expectations."""
        return not (self.server_errors or self.transport_errors or self.unexpected)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def render(self) -> str:
        elapsed = max(self.elapsed_s, 1e-9)
        lines = [
            f"partnerstream simulate: {self.elapsed_s:.1f} s against {self.target} "
            f"(asked: {self.rate:g} events/s for {self.duration_s:g} s)",
            "journeys: " + _counts(self.journeys),
            f"requests: {self.total_requests} ({self.total_requests / elapsed:.1f}/s)",
        ]
        for (endpoint, status), n in sorted(self.requests.items()):
            lines.append(f"  {endpoint:<42} {status}  {n}")
        accepted = sum(self.events.values())
        lines.append(f"events accepted: {accepted} ({_counts(self.events)})")
        if self.deliberate_rejects:
            lines.append("refused on purpose (dead-lettered): " + _counts(self.deliberate_rejects))
        lines.append(f"server errors (5xx): {self.server_errors}")
        lines.append(f"transport errors: {_counts(self.transport_errors) or 0}")
        if self.unexpected:
            lines.append("UNEXPECTED: " + _counts(self.unexpected))
        lines += [f"note: {text}" for text in self.notes]
        return "\n".join(lines)


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counter.items()))

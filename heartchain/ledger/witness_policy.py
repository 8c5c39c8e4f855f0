"""Which witnesses the log submits its checkpoints to, and how many must cosign (C2SP
tlog-witness; DESIGN §3).

Configured through `Settings` (README "Configuration"):

    HEARTCHAIN_WITNESSES="w1=http://127.0.0.1:8101|<cosignature verifier key>,w2=..."
    HEARTCHAIN_WITNESS_POLICY=2        # k of the n witnesses; default: all of them
    HEARTCHAIN_WITNESS_TIMEOUT=10      # seconds per request to a witness
    HEARTCHAIN_WITNESS_INTERVAL=0.25   # at least this many seconds between two requests to one
                                       # witness: the log's declared call rate (here 4/s)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from heartchain.errors import VerificationError
from heartchain.ledger.notes import CosignatureVerifier
from heartchain.settings import Settings

ENV_WITNESSES = "HEARTCHAIN_WITNESSES"
ENV_POLICY = "HEARTCHAIN_WITNESS_POLICY"
ENV_TIMEOUT = "HEARTCHAIN_WITNESS_TIMEOUT"
ENV_INTERVAL = "HEARTCHAIN_WITNESS_INTERVAL"


@dataclass(frozen=True)
class WitnessEndpoint:
    label: str
    url: str  # the submission prefix: POST <url>/add-checkpoint
    verifier: CosignatureVerifier

    @property
    def name(self) -> str:
        """The witness's key name: how its cosignature lines and our rows name it."""
        return self.verifier.name

    @property
    def submit_url(self) -> str:
        return self.url.rstrip("/") + "/add-checkpoint"


@dataclass(frozen=True)
class WitnessPolicy:
    """The configured witnesses and how many must cosign for a checkpoint to count."""

    witnesses: tuple[WitnessEndpoint, ...] = ()
    required: int = 0
    timeout: float = 10.0
    interval: float = 0.0  # seconds between two submissions to one witness, at least

    def __post_init__(self) -> None:
        names = [w.name for w in self.witnesses]
        if len(set(names)) != len(names):
            raise ValueError(f"{ENV_WITNESSES}: two witnesses share a key name")
        if self.witnesses and not 1 <= self.required <= len(self.witnesses):
            raise ValueError(f"{ENV_POLICY}: must be 1..{len(self.witnesses)}, "
                             f"got {self.required}")
        if not 0 <= self.interval <= 3600:
            raise ValueError(f"{ENV_INTERVAL}: must be 0..3600 seconds, got {self.interval}")

    @property
    def calls_per_second(self) -> float | None:
        """The most requests per second this log sends one witness (None: unbounded)."""
        return round(1 / self.interval, 3) if self.interval else None

    @property
    def description(self) -> str:
        return f"{self.required} of {len(self.witnesses)}"

    def endpoint(self, name: str) -> WitnessEndpoint | None:
        return next((w for w in self.witnesses if w.name == name), None)

    @classmethod
    def parse(cls, witnesses: str, required: str | int | None = None,
              timeout: str | float | None = None,
              interval: str | float | None = None) -> WitnessPolicy:
        """Parse `label=url|verifier key` items separated by commas (or newlines)."""
        endpoints = []
        for item in witnesses.replace("\n", ",").split(","):
            item = item.strip()
            if not item:
                continue
            label, equals, rest = item.partition("=")
            url, bar, key = rest.partition("|")
            if not equals or not bar or not label.strip() or not url.strip():
                raise ValueError(f"{ENV_WITNESSES}: expected label=url|verifier-key, "
                                 f"got {item!r}")
            if not url.strip().startswith(("http://", "https://")):
                raise ValueError(f"{ENV_WITNESSES}: {url.strip()!r} is not an http(s) URL")
            try:
                verifier = CosignatureVerifier.from_verifier_key(key.strip())
            except VerificationError as exc:
                raise ValueError(f"{ENV_WITNESSES}: {label.strip()}: {exc}") from exc
            endpoints.append(WitnessEndpoint(label.strip(), url.strip(), verifier))
        k = len(endpoints) if required in (None, "") else int(required)
        return cls(tuple(endpoints), k, float(timeout) if timeout else 10.0,
                   float(interval) if interval else 0.0)

    @classmethod
    def from_settings(cls, settings: Settings) -> WitnessPolicy:
        key = (settings.witnesses, settings.witness_policy, settings.witness_timeout_s,
               settings.witness_interval_s)
        if key not in _parsed:
            _parsed[key] = cls.parse(*key)
        return _parsed[key]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WitnessPolicy:
        """The policy `Settings.from_env` describes (the environment as it is now)."""
        return cls.from_settings(Settings.from_env(environ))


# Policies by their settings: read on every /log/checkpoint, parsed (keys decoded) once.
_parsed: dict[tuple[str, int | None, float, float], WitnessPolicy] = {}

"""A witness's data directory: its key, the logs it accepts, and its database.

    <data dir>/witness.key      the Ed25519 seed (hex), mode 0600
    <data dir>/witness.json     {"name": ..., "logs": [{"origin": ..., "verifier_keys": [...]}]}
    <data dir>/witness.sqlite3  the latest cosigned checkpoint of each log, and evidence

The name is the witness's key name (C2SP tlog-cosignature: a schema-less URL such as
`witness.example.org/w1`); a log is identified by its checkpoint origin line and trusted through
one or more C2SP note verifier keys.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from heartchain.files import private_dir, private_sqlite, write_private_text
from heartchain.keys import read_secret_file, write_secret_file
from heartchain.ledger.notes import CosignatureSigner, NoteVerifier

KEY_FILE: Final = "witness.key"
CONFIG_FILE: Final = "witness.json"
DATABASE_FILE: Final = "witness.sqlite3"


@dataclass(frozen=True)
class WitnessConfig:
    data_dir: Path
    name: str
    logs: Mapping[str, tuple[NoteVerifier, ...]]  # origin -> the keys trusted to sign it

    @property
    def database(self) -> Path:
        return self.data_dir / DATABASE_FILE

    def signer(self) -> CosignatureSigner:
        seed = bytes.fromhex(read_secret_file(self.data_dir / KEY_FILE).decode().strip())
        return CosignatureSigner.from_seed(self.name, seed)


def load_config(data_dir: Path) -> WitnessConfig:
    path = data_dir / CONFIG_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `heartchain witness init` first")
    document = json.loads(path.read_text("utf-8"))
    logs: dict[str, tuple[NoteVerifier, ...]] = {}
    for item in document.get("logs", []):
        origin = str(item["origin"])
        keys = tuple(NoteVerifier.from_verifier_key(k) for k in item["verifier_keys"])
        if not keys:
            raise ValueError(f"{path}: log {origin!r} has no verifier key")
        logs[origin] = logs.get(origin, ()) + keys
    return WitnessConfig(data_dir, str(document["name"]), logs)


def init_witness(data_dir: Path, name: str | None, log_keys: Sequence[str] = ()
                 ) -> WitnessConfig:
    """Create the data directory, key and config if missing; add logs (origin = key name).

    Idempotent: an existing witness keeps its key and name, and a log key already listed is not
    added twice.
    """
    private_dir(data_dir, ours=(KEY_FILE, CONFIG_FILE))
    path = data_dir / CONFIG_FILE
    document: dict[str, Any]
    if path.exists():
        document = json.loads(path.read_text("utf-8"))
        if name is not None and name != document["name"]:
            raise ValueError(f"{path} belongs to witness {document['name']!r}, not {name!r}")
    else:
        if name is None:
            raise ValueError("a new witness needs a name (--name witness.example.org/w1)")
        CosignatureSigner.generate(name)  # validates the name before anything is written
        document = {"name": name, "logs": []}
    if not (data_dir / KEY_FILE).exists():
        write_secret_file(data_dir / KEY_FILE, os.urandom(32).hex().encode() + b"\n")
    for text in log_keys:
        verifier = NoteVerifier.from_verifier_key(text.strip())
        entry = next((log for log in document["logs"] if log["origin"] == verifier.name), None)
        if entry is None:
            document["logs"].append({"origin": verifier.name,
                                     "verifier_keys": [verifier.verifier_key]})
        elif verifier.verifier_key not in entry["verifier_keys"]:
            entry["verifier_keys"].append(verifier.verifier_key)
    write_private_text(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    private_sqlite(data_dir / DATABASE_FILE)
    return load_config(data_dir)

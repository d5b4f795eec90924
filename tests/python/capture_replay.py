"""Replay recorded LiteLLM kwargs through StackPerf's capture logger; the line it writes must be
the line recorded with them (the Python side of docs/capture-contract.md).

  capture_replay.py FIXTURES.jsonl

Runs without LiteLLM installed: the logger only subclasses LiteLLM's CustomLogger, which is
stubbed here. Prints JSON {"cases": N, "mismatches": [...]}; exit 1 on any mismatch.
"""

import datetime
import importlib.util
import json
import os
import pathlib
import sys
import tempfile
import types

ROOT = pathlib.Path(__file__).resolve().parents[2]

# LiteLLM's base class, as far as the logger uses it.
for name in ("litellm", "litellm.integrations", "litellm.integrations.custom_logger"):
    sys.modules.setdefault(name, types.ModuleType(name))
sys.modules["litellm.integrations.custom_logger"].CustomLogger = type("CustomLogger", (), {"__init__": lambda self: None})


def revive(v):
    """Undo the recorder's encoding: {"$datetime": epoch} → a naive local datetime (LiteLLM's)."""
    if isinstance(v, dict):
        if set(v) == {"$datetime"}:
            return datetime.datetime.fromtimestamp(v["$datetime"])
        return {k: revive(x) for k, x in v.items()}
    if isinstance(v, list):
        return [revive(x) for x in v]
    return v


def main():
    fixtures = [json.loads(l) for l in pathlib.Path(sys.argv[1]).read_text().splitlines() if l.strip()]
    spool = pathlib.Path(tempfile.mkdtemp()) / "spool.jsonl"
    os.environ["STACKPERF_SPOOL"] = str(spool)
    os.environ.pop("STACKPERF_CAPTURE_RECORD", None)
    spec = importlib.util.spec_from_file_location("stackperf_capture", ROOT / "configs/litellm/stackperf_capture.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    logger = mod.StackPerfCapture()
    mismatches = []
    for fx in fixtures:
        before = spool.read_text() if spool.exists() else ""
        logger._write(revive(fx["kwargs"]), None, None)
        written = spool.read_text()[len(before):].splitlines()
        got = json.loads(written[0]) if len(written) == 1 else None
        if got != fx["line"]:
            diff = {k: (got or {}).get(k) for k in set(fx["line"]) | set(got or {}) if (got or {}).get(k) != fx["line"].get(k)}
            mismatches.append({"case": fx.get("case"), "differs": diff})
    # Rotation: StackPerf renames the spool; the next line must start a new file, and nothing more
    # may go into the renamed one.
    rotated = spool.with_name(spool.name + ".1")
    spool.rename(rotated)
    kept = rotated.read_text()
    logger._write(revive(fixtures[0]["kwargs"]), None, None)
    new_lines = spool.read_text().splitlines() if spool.exists() else []
    rotation = "reopened" if len(new_lines) == 1 and rotated.read_text() == kept else "wrote to the renamed file"
    print(json.dumps({"cases": len(fixtures), "mismatches": mismatches, "rotation": rotation}, default=str))
    return 1 if mismatches or rotation != "reopened" else 0


if __name__ == "__main__":
    sys.exit(main())

"""StackPerf's session-key check for LiteLLM (`general_settings.custom_auth`).

LiteLLM's virtual keys need its database, which the native stack does not run. StackPerf issues
session keys itself and keeps only their SHA-256 hashes, with alias, metadata and expiry, in a JSON
registry (path in STACKPERF_KEY_REGISTRY) that it replaces atomically. This hook:
  * accepts the master key (LITELLM_MASTER_KEY) as the proxy admin;
  * accepts a live session key and attaches its alias and session metadata to the request;
  * rejects unknown, expired and revoked keys with 401 and a message saying what to do.
The registry is re-read only when its file changes (one stat per request).
"""

import hashlib
import hmac
import json
import os
import time

from fastapi import HTTPException, Request
from litellm.proxy._types import LitellmUserRoles, UserAPIKeyAuth

_REGISTRY = os.environ.get("STACKPERF_KEY_REGISTRY", "")
_cache = {"stamp": None, "keys": {}}


def _keys():
    try:
        st = os.stat(_REGISTRY)
    except OSError:
        _cache["stamp"], _cache["keys"] = None, {}
        return _cache["keys"]
    stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
    if stamp != _cache["stamp"]:
        try:
            with open(_REGISTRY, encoding="utf-8") as f:
                data = json.load(f)
            _cache["keys"] = data.get("keys", {})
            _cache["stamp"] = stamp
        except (OSError, ValueError):
            # A registry being replaced right now: keep the previous copy until the next request.
            pass
    return _cache["keys"]


def _reject(message):
    raise HTTPException(status_code=401, detail={"error": message})


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    if api_key.lower().startswith("bearer "):
        api_key = api_key[7:]
    master = os.environ.get("LITELLM_MASTER_KEY", "")
    if api_key and master and hmac.compare_digest(api_key, master):
        return UserAPIKeyAuth(api_key=api_key, user_role=LitellmUserRoles.PROXY_ADMIN, key_alias="stackperf-admin")
    if not api_key:
        _reject("stackperf: no API key. Use the key from `stackperf session env <id>`.")
    entry = _keys().get(hashlib.sha256(api_key.encode("utf-8")).hexdigest())
    if entry is None:
        _reject("stackperf: unknown key. Create a session with `stackperf session create` and use its environment.")
    if entry.get("revoked"):
        _reject(f"stackperf: the key of session {entry.get('session_id')} was revoked when the session was finalized. Create a new session.")
    if float(entry.get("expires_at", 0)) < time.time():
        _reject(f"stackperf: the key of session {entry.get('session_id')} has expired. Create a new session.")
    metadata = {k: str(entry.get(k, "")) for k in ("session_id", "experiment", "variant", "harness", "task_card")}
    return UserAPIKeyAuth(
        api_key=api_key,
        key_alias=entry.get("alias"),
        user_id=entry.get("alias"),
        metadata=metadata,
    )

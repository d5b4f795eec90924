"""StackPerf's session-key check for LiteLLM (`general_settings.custom_auth`).

Harnesses talk to StackPerf's edge, which checks keys, routes and models first; this hook is the
check behind it (defense in depth). LiteLLM's virtual keys need its database, which the native
stack does not run. StackPerf issues session keys itself and keeps only their SHA-256 hashes, with
alias, metadata, allowed models and expiry, in a JSON registry (path in STACKPERF_KEY_REGISTRY)
that it replaces atomically. This hook:
  * accepts the master key (LITELLM_MASTER_KEY) as the proxy admin;
  * accepts a live session key, limits it to its variant's models, and attaches its alias,
    session metadata and the edge's correlation id to the request;
  * accepts a live usage key (usage mode: `stackperf key create`; registry entries with
    kind "usage"), limited to its models or to every model (`any_model`), with its alias;
  * when STACKPERF_EDGE_TOKEN is set, accepts session keys only through the edge (the edge
    sends the token; a harness pointed straight at LiteLLM would be timed wrongly);
  * rejects everything else with 401 and one line saying what to do. Nothing here may raise
    anything but HTTPException (any other exception is a 500 with a Python repr).
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
_EDGE_TOKEN = os.environ.get("STACKPERF_EDGE_TOKEN", "").encode("utf-8")
_REQUEST_ID = "x-stackperf-request-id"
_EDGE_TOKEN_HEADER = "x-stackperf-edge-token"
_MAX_KEY = 512
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


def _key_bytes(api_key):
    if not isinstance(api_key, str) or not api_key:
        return b""
    if api_key[:7].lower() == "bearer ":
        api_key = api_key[7:]
    return api_key.strip().encode("utf-8", "surrogateescape")


def _header(request, name):
    try:
        value = request.headers.get(name)
    except Exception:
        return None
    return value if isinstance(value, str) and 0 < len(value) <= 200 else None


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    try:
        return _check(request, api_key)
    except HTTPException:
        raise
    except Exception as e:  # never a 500: say what failed
        _reject(f"stackperf: the key could not be checked ({type(e).__name__}). Use the key from `stackperf session env <id>`.")


def _check(request, api_key):
    key = _key_bytes(api_key)
    if not key:
        _reject("stackperf: no API key was sent. Use the environment from `stackperf session env <id>`.")
    if len(key) > _MAX_KEY:
        _reject(f"stackperf: the API key is {len(key)} bytes long; StackPerf keys are under {_MAX_KEY}.")
    if not all(33 <= b <= 126 for b in key):
        _reject("stackperf: the API key contains characters no StackPerf key has (non-ASCII, spaces or control bytes); copy it again from `stackperf session env <id>`.")
    master = os.environ.get("LITELLM_MASTER_KEY", "").encode("utf-8")
    if master and hmac.compare_digest(key, master):
        return UserAPIKeyAuth(api_key=key.decode("ascii"), user_role=LitellmUserRoles.PROXY_ADMIN, key_alias="stackperf-admin",
                              metadata=_edge_metadata(request))
    entry = _keys().get(hashlib.sha256(key).hexdigest())
    if entry is None:
        _reject("stackperf: unknown API key. Create a session with `stackperf session create` and use its environment.")
    kind = entry.get("kind", "session")
    if kind == "usage":
        return _usage(request, key, entry)
    if kind != "session":
        _reject(f"stackperf: the key {entry.get('alias')} is of kind \"{kind}\", which this StackPerf does not know (a newer version wrote it). Update StackPerf, or use a key this version created.")
    if entry.get("revoked"):
        _reject(f"stackperf: the key of session {entry.get('session_id')} was revoked when the session was finalized. Create a new session.")
    if float(entry.get("expires_at", 0)) < time.time():
        _reject(f"stackperf: the key of session {entry.get('session_id')} has expired. Create a new session.")
    edge = _edge_metadata(request)
    if _EDGE_TOKEN and not edge:
        _reject("stackperf: session keys work only through StackPerf's edge. Use the base URL from `stackperf session env <id>`.")
    models = entry.get("models")
    if not isinstance(models, list) or not models:
        _reject("stackperf: this session key predates model scoping. Create a new session.")
    metadata = {k: str(entry.get(k, "")) for k in ("session_id", "experiment", "variant", "harness", "task_card")}
    metadata.update(edge)
    return UserAPIKeyAuth(
        api_key=key.decode("ascii"),
        key_alias=entry.get("alias"),
        user_id=entry.get("alias"),
        models=[str(m) for m in models],
        metadata=metadata,
    )


def _usage(request, key, entry):
    alias, owner = entry.get("alias"), entry.get("owner")
    if entry.get("revoked"):
        _reject(f"stackperf: the usage key {alias} (owner {owner}) was revoked. Ask for a new one (`stackperf key create`).")
    if float(entry.get("expires_at", 0)) < time.time():
        _reject(f"stackperf: the usage key {alias} (owner {owner}) has expired. Ask for a new one (`stackperf key create`).")
    edge = _edge_metadata(request)
    if _EDGE_TOKEN and not edge:
        _reject("stackperf: usage keys work only through StackPerf's edge. Use the base URL `stackperf key create` printed.")
    models = entry.get("models")
    if entry.get("any_model"):
        models = []  # LiteLLM: an empty list allows every model
    elif not isinstance(models, list) or not models:
        _reject(f"stackperf: the usage key {alias} lists no model. Create a new key.")
    return UserAPIKeyAuth(
        api_key=key.decode("ascii"),
        key_alias=alias,
        user_id=alias,
        models=[str(m) for m in models],
        metadata=edge,
    )


def _edge_metadata(request):
    """The edge's correlation id, trusted only with the edge's token (when one is configured)."""
    rid = _header(request, _REQUEST_ID)
    if not rid:
        return {}
    if _EDGE_TOKEN:
        token = (_header(request, _EDGE_TOKEN_HEADER) or "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(token, _EDGE_TOKEN):
            return {}
    return {"stackperf_request_id": rid}

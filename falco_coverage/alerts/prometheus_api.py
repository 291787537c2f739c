"""Rule matches pulled from the Prometheus server a deployment already runs.

For each rule-match counter (Falco's own ``falcosecurity_falco_rules_matches_total``, falco-exporter's
``falco_events``, falcosidekick's ``falcosecurity_falcosidekick_falco_events_total``) the server is
asked, through its HTTP API (``/api/v1/query``), for the increase per rule and instance over the
window ending at ``until`` (default: now). Each answer is one row per (rule, instance) whose ``count``
is the fires in the window, rounded (Prometheus extrapolates increases to the window's edges).
Unreachable servers, HTTP errors and answers that are not Prometheus's are one-line
:class:`AlertsError` s naming the URL.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode, urlsplit

from ..errors import AlertsError
from .rows import ALERT, PROMETHEUS, Rows
from .shapes import RULE_METRICS

#: a Prometheus duration: 30d, 12h, 1h30m, 2w
_DURATION = re.compile(r"(?:[0-9]+(?:ms|[smhdwy]))+")
#: the answer to one query may not be larger than this
MAX_ANSWER_BYTES = 64 << 20


def check_window(window: str) -> str:
    """``window`` when it is a Prometheus duration; AlertsError otherwise."""
    if not _DURATION.fullmatch(window or ""):
        raise AlertsError(f"--window {window!r} is not a Prometheus duration (e.g. 30d, 12h, 1h30m)")
    return window


def query(window: str, metric: str, label: str) -> str:
    """The PromQL for the fires of ``metric`` per rule (``label``) and instance over ``window``."""
    return f"sum by ({label}, instance, hostname) (increase({metric}[{window}]))"


def pull(url: str, rows: Rows, *, window: str = "30d", until: Any = None, timeout: float = 30.0) -> int:
    """Add to ``rows`` the fires per rule and instance that the server at ``url`` counted over ``window``
    ending at ``until``; returns how many rows were added."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise AlertsError(f"--prometheus {url!r} is not an http(s) URL of a Prometheus server")
    check_window(window)
    at = _at(until)
    name = url.rstrip("/")
    rows.start(name)
    added = 0
    for metric, label in RULE_METRICS.items():
        result = _ask(name, {"query": query(window, metric, label), "time": f"{at:.3f}"}, timeout)
        when = datetime.fromtimestamp(at, tz=timezone.utc).isoformat()
        for item in result:
            metric_labels, value = item.get("metric") or {}, item.get("value")
            rule = metric_labels.get(label) if isinstance(metric_labels, dict) else None
            try:
                fires = round(float(value[1]))  # type: ignore[index]
            except (TypeError, ValueError, IndexError):
                continue
            if not isinstance(rule, str) or fires <= 0:
                continue
            host = metric_labels.get("hostname") or metric_labels.get("instance")
            rows.add(when, rule, None, None, host, [], PROMETHEUS, 0)
            rows.counted(fires, ALERT)
            added += 1
    return added


def _at(until: Any) -> float:
    if until is None:
        return datetime.now(timezone.utc).timestamp()
    import pandas as pd

    try:
        ts = pd.Timestamp(until)
    except (ValueError, TypeError):
        raise AlertsError(f"'{until}' is not a time (use e.g. 2026-11-01 or 2026-11-01T12:00:00Z)") from None
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts).timestamp()


def _ask(url: str, params: dict[str, str], timeout: float) -> list[dict[str, Any]]:
    """The ``result`` list of an instant query; AlertsError on anything else."""
    import urllib.error
    import urllib.request

    target = f"{url}/api/v1/query?{urlencode(params)}"
    try:
        with urllib.request.urlopen(target, timeout=timeout) as resp:  # noqa: S310 (the user's own server)
            body = resp.read(MAX_ANSWER_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise AlertsError(f"Prometheus answered HTTP {exc.code}: {_error_of(exc.read(4096))}", file=url) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AlertsError(f"cannot reach Prometheus: {reason}", file=url) from None
    if len(body) > MAX_ANSWER_BYTES:
        raise AlertsError("Prometheus's answer is larger than 64 MiB; narrow the window", file=url)
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise AlertsError("the answer is not Prometheus's JSON (is this the server's base URL?)", file=url) from None
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or doc.get("status") != "success" or not isinstance(data, dict) \
            or data.get("resultType") != "vector" or not isinstance(data.get("result"), list):
        raise AlertsError(f"the answer is not a Prometheus query result: {_error_of(body)}", file=url)
    return [r for r in data["result"] if isinstance(r, dict)]


def _error_of(body: bytes) -> str:
    """Prometheus's own error text from an answer's body, or its first line."""
    try:
        doc = json.loads(body)
        if isinstance(doc, dict) and isinstance(doc.get("error"), str):
            return f"{doc.get('errorType', 'error')}: {doc['error']}"
    except (ValueError, UnicodeDecodeError):
        pass
    text = body.decode("utf-8", "replace").strip().splitlines()
    return " ".join(text[:1])[:200] or "no detail"

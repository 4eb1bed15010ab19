# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one Prometheus HTTP API client of veza.infra.

This module util is PRIVATE to veza.infra. There is no compatibility promise: do not import it
from other collections. Its interface can change (or it can be removed) in any release.

It runs on managed hosts (modules) and on the controller (action plugins, tests, benches), so it
uses the Python standard library only, plus ansible-core's ``ansible.module_utils.urls`` (``Request``, ``make_context``).

- ``connection_argument_spec()`` / ``validate_connection()``: the options every Prometheus module
  shares (doc fragment ``veza.infra._prometheus``): url, timeout, bearer token (or token file),
  basic auth, TLS CA and verification.
- ``PromClient``: instant queries (``query``), series (``series``), label values
  (``label_values``) and build info (``buildinfo``). Every call returns a tagged ``PromResult``,
  never raises. ``timeout`` bounds the whole call (connect, headers and every read of the body,
  checked against one deadline), and a body larger than ``max_body`` bytes is refused.
"""
from __future__ import annotations

import json
import math
import os
import socket
import time
from http.client import HTTPException
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlparse

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import Request, make_context

DEFAULT_URL = "http://prom.lxd:9090"
# The longest timeout accepted, in seconds: a query that takes longer is an outage, not an answer.
MAX_TIMEOUT = 600.0
# The largest answer read, in bytes (8 MiB): an SLI, series or label-values answer is a few KiB.
MAX_BODY_BYTES = 8 * 1024 * 1024
_CHUNK = 64 * 1024


class PromConfigError(Exception):
    """Bad input, found before anything is queried. The message names the field and the fix."""


def connection_argument_spec():
    """Options of every Prometheus module (a fresh dict each call); documented by the doc fragment."""
    return dict(
        url=dict(type="str", default=DEFAULT_URL, aliases=["prometheus_url"]),
        timeout=dict(type="float", default=10.0),
        bearer_token=dict(type="str", no_log=True),
        bearer_token_file=dict(type="path"),
        url_username=dict(type="str"),
        url_password=dict(type="str", no_log=True),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
    )


CONNECTION_REQUIRED_TOGETHER = [("url_username", "url_password")]
CONNECTION_MUTUALLY_EXCLUSIVE = [("bearer_token", "bearer_token_file", "url_username")]


def validate_url(url):
    try:
        parsed = urlparse(url or "")
        port = parsed.port  # raises ValueError on a bad port
    except (ValueError, TypeError) as exc:
        raise PromConfigError("url: cannot parse %r (%s); expected e.g. http://prom.lxd:9090" % (url, exc))
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise PromConfigError(
            "url: cannot parse %r as a Prometheus address; expected http(s)://host[:port][/prefix], "
            "e.g. http://prom.lxd:9090" % (url,))
    if parsed.query or parsed.fragment:
        raise PromConfigError("url: %r carries a query string or fragment; give the server base URL only" % url)
    return port


def validate_timeout(timeout):
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not math.isfinite(timeout) \
            or timeout <= 0 or timeout > MAX_TIMEOUT:
        raise PromConfigError(
            "timeout: must be a positive, finite number of seconds, at most %d (it bounds each whole "
            "query), got %r" % (MAX_TIMEOUT, timeout))
    return float(timeout)


def read_token_file(path):
    try:
        with open(path, encoding="utf-8") as fh:
            token = fh.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise PromConfigError("bearer_token_file: cannot read %s (%s)" % (path, exc))
    if not token or any(c in token for c in "\r\n"):
        raise PromConfigError("bearer_token_file: %s must hold one token on one line, it is %s"
                              % (path, "empty" if not token else "several lines"))
    return token


def validate_connection(params):
    """Check the connection options; return the keyword arguments of ``PromClient``."""
    validate_url(params.get("url"))
    timeout = validate_timeout(params.get("timeout"))
    token = params.get("bearer_token")
    if params.get("bearer_token_file"):
        token = read_token_file(params["bearer_token_file"])
    if token is not None and any(c in token for c in "\r\n"):
        raise PromConfigError("bearer_token: must be one line (no CR/LF)")
    if params.get("ca_path") and not os.path.isfile(params["ca_path"]):
        raise PromConfigError("ca_path: %s is not a file; give the PEM bundle of the CA that signed "
                              "Prometheus's certificate" % params["ca_path"])
    return dict(url=params["url"], timeout=timeout, bearer_token=token or None,
                url_username=params.get("url_username"), url_password=params.get("url_password"),
                validate_certs=params.get("validate_certs", True), ca_path=params.get("ca_path"))


def client_from_params(params, http_agent="veza.infra"):
    """A ``PromClient`` for module parameters (raises PromConfigError on bad ones)."""
    return PromClient(http_agent=http_agent, **validate_connection(params))


# --------------------------------------------------------------------------------------------
# Tagged query result
# --------------------------------------------------------------------------------------------
class PromResult:
    """Outcome of one API call: kind is ``ok``, ``empty``, ``nan`` or ``error``.

    ``values`` holds the (non-NaN) sample values of an ``ok`` query result, one per series, and
    ``data`` the decoded ``data`` of other calls (series, label values, build info).
    ``error_type`` is Prometheus's ``errorType`` (``bad_data`` for PromQL it rejects) or
    ``transport`` / ``timeout`` / ``http`` / ``auth`` / ``response`` for the client's own errors.
    """

    __slots__ = ("kind", "values", "text", "error_type", "data", "status")

    def __init__(self, kind, values=None, text="", error_type=None, data=None, status=None):
        self.kind = kind
        self.values = list(values or [])
        self.text = text
        self.error_type = error_type
        self.data = data
        self.status = status

    @classmethod
    def ok(cls, values=None, data=None):
        return cls("ok", values=values, data=data)

    @classmethod
    def empty(cls):
        return cls("empty", text="empty vector")

    @classmethod
    def nan(cls):
        return cls("nan", text="NaN")

    @classmethod
    def error(cls, text, error_type="transport", status=None):
        return cls("error", text=text, error_type=error_type, status=status)

    @classmethod
    def from_samples(cls, values):
        """ok / empty / nan from the float values of the series a query returned."""
        if not values:
            return cls.empty()
        real = [v for v in values if not math.isnan(v)]
        if not real:
            return cls.nan()
        return cls.ok(real)

    @property
    def rejected(self):
        """True when Prometheus refused the query itself (PromQL error), not a transient failure."""
        return self.kind == "error" and self.error_type == "bad_data"

    def __repr__(self):
        return "PromResult(%s, %r, %r)" % (self.kind, self.values, self.text)


def _api_error(payload):
    etype = payload.get("errorType")
    etype = etype if isinstance(etype, str) and etype else "error"
    return PromResult.error("%s: %s" % (etype, payload.get("error", "(no error text)")), etype)


def parse_query_response(payload):
    """Turn the decoded JSON of /api/v1/query into a PromResult. Never raises."""
    if not isinstance(payload, dict) or "status" not in payload:
        return PromResult.error("not a Prometheus API answer: %.200r" % (payload,), "response")
    if payload.get("status") != "success":
        return _api_error(payload)
    data = payload.get("data")
    if not isinstance(data, dict):
        return PromResult.error("malformed Prometheus answer: data is %.60r, not an object" % (data,), "response")
    rtype = data.get("resultType")
    result = data.get("result")
    try:
        if rtype == "vector":
            if not isinstance(result, list):
                raise TypeError("vector result is %.60r, not a list" % (result,))
            values = []
            for series in result:
                sample = series["value"] if isinstance(series, dict) else None
                if not isinstance(sample, list) or len(sample) != 2 or not isinstance(sample[1], (str, int, float)) \
                        or isinstance(sample[1], bool):
                    raise TypeError("series %.80r has no [time, value] sample" % (series,))
                values.append(float(sample[1]))
        elif rtype == "scalar":
            if not isinstance(result, list) or len(result) != 2 or not isinstance(result[1], (str, int, float)) \
                    or isinstance(result[1], bool):
                raise TypeError("scalar result is %.60r, not [time, value]" % (result,))
            values = [float(result[1])]
        else:
            return PromResult.error(
                "query returned a %.40s; an SLI query must return an instant vector or a scalar" % (rtype,),
                "bad_data")
    except (TypeError, ValueError, KeyError, IndexError, OverflowError) as exc:
        return PromResult.error("malformed Prometheus answer: %s" % exc, "response")
    return PromResult.from_samples(values)


def parse_data_response(payload, want=list):
    """The ``data`` of a series / label-values / build-info answer as an ``ok`` PromResult."""
    if not isinstance(payload, dict) or "status" not in payload:
        return PromResult.error("not a Prometheus API answer: %.200r" % (payload,), "response")
    if payload.get("status") != "success":
        return _api_error(payload)
    data = payload.get("data")
    if not isinstance(data, want):
        return PromResult.error("malformed Prometheus answer: data is %.60r, not a %s"
                                % (data, want.__name__), "response")
    return PromResult.ok(data=data)


class _Deadline(Exception):
    pass


class _TooBig(Exception):
    pass


def _socket_of(resp):
    """The socket under an http.client response (or an HTTPError wrapping one), if reachable."""
    for path in (("fp", "raw", "_sock"), ("fp", "fp", "raw", "_sock")):
        obj = resp
        for attr in path:
            obj = getattr(obj, attr, None)
            if obj is None:
                break
        if obj is not None and hasattr(obj, "settimeout"):
            return obj
    return None


class PromClient:
    """Prometheus HTTP API client: instant queries, series, label values; auth and TLS options.

    ``timeout`` (seconds) bounds each whole call: connecting, the headers, and the body, read
    in chunks against one deadline (a server that drips one byte a second is cut off at the
    deadline). Bodies above ``max_body`` bytes are refused without being kept in memory.
    """

    def __init__(self, url, timeout=10.0, bearer_token=None, url_username=None, url_password=None,
                 validate_certs=True, ca_path=None, max_body=MAX_BODY_BYTES, http_agent="veza.infra"):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.headers = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
        if bearer_token:
            self.headers["Authorization"] = "Bearer %s" % bearer_token
        self.url_username = url_username
        self.url_password = url_password
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.max_body = max_body
        self.http_agent = http_agent
        self._context = None  # one TLS context per client, not one per call (see _call)

    # ---- public API ------------------------------------------------------------------------
    def query(self, promql):
        """Run one instant query (evaluated at Prometheus's now). Never raises."""
        payload = self._call("/api/v1/query", {"query": promql})
        return payload if isinstance(payload, PromResult) else parse_query_response(payload)

    def series(self, match, start=None, end=None):
        """Label sets of the series matching the selector ``match`` (``data``: list of dicts)."""
        fields = [("match[]", match)] + self._range(start, end)
        payload = self._call("/api/v1/series", fields)
        return payload if isinstance(payload, PromResult) else parse_data_response(payload)

    def label_values(self, label, match=None, start=None, end=None):
        """Values of ``label`` (``data``: list of str), optionally only on series matching ``match``."""
        fields = ([("match[]", match)] if match else []) + self._range(start, end)
        payload = self._call("/api/v1/label/%s/values" % label, fields, method="GET")
        return payload if isinstance(payload, PromResult) else parse_data_response(payload)

    def buildinfo(self):
        """Prometheus's build info (``data``: dict with ``version``); the reachability + auth check."""
        payload = self._call("/api/v1/status/buildinfo", [], method="GET")
        return payload if isinstance(payload, PromResult) else parse_data_response(payload, want=dict)

    # ---- HTTP ------------------------------------------------------------------------------
    @staticmethod
    def _range(start, end):
        out = []
        if start is not None:
            out.append(("start", "%.3f" % start))
        if end is not None:
            out.append(("end", "%.3f" % end))
        return out

    def _timeout_error(self, path):
        return PromResult.error("%s%s did not answer within timeout=%ss" % (self.url, path, self.timeout), "timeout")

    def _call(self, path, fields, method="POST"):
        """The decoded JSON answer of one API call, or a PromResult error. Never raises."""
        deadline = time.monotonic() + self.timeout
        body = urlencode(fields if isinstance(fields, list) else sorted(fields.items()))
        url = self.url + path
        data = body
        if method == "GET":
            url, data = (url + "?" + body if body else url), None
        try:
            if self._context is None:
                # Built once: loading the system CA store costs about 100 ms on each call
                # otherwise (ansible's open_url builds a new context every time).
                self._context = make_context(cafile=self.ca_path, validate_certs=self.validate_certs)
            resp = Request().open(method, url, data=data, headers=self.headers, timeout=self.timeout,
                                  url_username=self.url_username, url_password=self.url_password,
                                  force_basic_auth=self.url_username is not None,
                                  http_agent=self.http_agent, use_netrc=False, context=self._context)
            try:
                raw = self._read_body(resp, deadline)
            finally:
                resp.close()
        except HTTPError as exc:
            return self._http_error(exc, path, deadline)
        except (_Deadline, socket.timeout, TimeoutError):
            return self._timeout_error(path)
        except _TooBig:
            return PromResult.error("%s%s answered more than %d bytes (max_body); refusing to read it"
                                    % (self.url, path, self.max_body), "response")
        except URLError as exc:
            if isinstance(exc.reason, (socket.timeout, TimeoutError)):
                return self._timeout_error(path)
            return PromResult.error("cannot reach Prometheus at %s: %s" % (self.url, exc.reason), "transport")
        except (OSError, ValueError, UrlsConnectionError, HTTPException) as exc:  # reset, TLS, bad status line
            return PromResult.error("cannot reach Prometheus at %s: %s" % (self.url, exc), "transport")
        try:
            return json.loads(raw.decode("utf-8", "replace"))
        except (ValueError, RecursionError):
            return PromResult.error("%s%s did not answer JSON (is url a Prometheus?): %.120r"
                                    % (self.url, path, raw[:120]), "response")

    def _read_body(self, resp, deadline):
        length = None
        try:
            length = int(resp.headers.get("Content-Length") or -1)
        except (AttributeError, TypeError, ValueError):
            pass
        if length is not None and length > self.max_body:
            raise _TooBig()
        sock = _socket_of(resp)
        read = getattr(resp, "read1", None) or resp.read
        chunks, size = [], 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Deadline()
            if sock is not None:
                try:
                    sock.settimeout(remaining)
                except OSError:
                    sock = None
            chunk = read(_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > self.max_body:
                raise _TooBig()
            chunks.append(chunk)
        return b"".join(chunks)

    def _http_error(self, exc, path, deadline):
        raw = b""
        try:
            raw = self._read_body(exc, deadline)
        except (_Deadline, _TooBig, OSError, ValueError, HTTPException, AttributeError):
            pass
        finally:
            try:
                exc.close()
            except (OSError, AttributeError):
                pass
        try:
            payload = json.loads(raw.decode("utf-8", "replace"))
        except (ValueError, RecursionError):
            payload = None
        if isinstance(payload, dict) and payload.get("status") == "error":
            # Prometheus's own words, e.g. "bad_data: 1:14: parse error: unclosed left parenthesis"
            res = _api_error(payload)
            res.status = exc.code
            return res
        if exc.code in (401, 403):
            return PromResult.error(
                "HTTP %s %s from %s%s: Prometheus refused the credentials (check url_username/url_password "
                "or the bearer token)" % (exc.code, exc.reason, self.url, path), "auth", status=exc.code)
        return PromResult.error("HTTP %s %s from %s%s: %s" % (
            exc.code, exc.reason, self.url, path, raw[:200].decode("utf-8", "replace")), "http", status=exc.code)

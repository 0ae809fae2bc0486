"""Every reply the suite's clients see, checked against openapi.yaml by a real OpenAPI validator.

The clients record what they exchange (common.Client, common.raw_exchange and the catalogue's raw
socket exchange call record()): method, path, status, headers and body, each distinct reply once.
RepliesMatchOpenAPI, which the runner adds after every other test, hands them all to
validate-replies.mjs (express-openapi-validator, pinned in package.json; the rules for what the
document cannot describe are in that script's header) and fails listing each mismatch."""
import base64
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
VALIDATOR = os.path.join(HERE, "node_modules", "express-openapi-validator", "package.json")
SCRIPT = os.path.join(HERE, "validate-replies.mjs")
# the reply headers the document declares somewhere (the others are not part of the contract)
HEADERS = ("content-type", "allow", "retry-after", "www-authenticate", "x-seed")

_lock = threading.Lock()
_seen = set()
RECORDS = []


def record(method, target, status, headers, body):
    """Keeps one reply (headers: anything with .get(name), case-insensitive or lower-case keys)."""
    kept = {}
    for name in HEADERS:
        value = headers.get(name)
        if value is None:
            value = headers.get(name.title())
        if value is not None:
            kept[name] = value
    body = body or b""
    coding = kept.get("content-encoding") or headers.get("Content-Encoding") or headers.get("content-encoding")
    if coding and coding.lower() == "gzip":
        body = gzip.decompress(body)  # the document describes what the reply says, before the coding
    key = hashlib.sha1(json.dumps([method, target, status, sorted(kept.items())]).encode() + body).digest()
    with _lock:
        if key in _seen:
            return
        _seen.add(key)
        RECORDS.append({"method": method, "target": target, "status": status, "headers": kept,
                        "body": base64.b64encode(body).decode("ascii")})


def record_raw(request, response):
    """Keeps the reply of a raw exchange: request bytes as sent, response a common.RawResponse."""
    line = request.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    method, target = (parts[0], parts[1]) if len(parts) >= 2 else (line, "")
    record(method, target, response.status, response.headers, response.body)


def validate(records, spec=os.path.join(REPO, "openapi.yaml")):
    """The validator's verdict on records: {checked, by_rule, mismatches: [...]}."""
    tmp = tempfile.mkdtemp(prefix="vae-replies-")
    try:
        path = os.path.join(tmp, "replies.jsonl")
        with open(path, "w") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")
        proc = subprocess.run(["node", SCRIPT, spec, path], capture_output=True, text=True, timeout=600, cwd=HERE)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    try:
        verdict = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError("validate-replies.mjs printed no verdict (exit %d):\n%s\n%s" % (
            proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
    assert (proc.returncode == 0) == (not verdict["mismatches"]), (proc.returncode, proc.stderr[-2000:])
    return verdict


def describe(m):
    return "%s %s -> %s %s: %s\n      body: %s" % (m["method"], m["target"], m["status"], m.get("contentType"),
                                                 m["problem"], m.get("body", "")[:300])


class RepliesMatchOpenAPI(unittest.TestCase):
    """Runs last (the runner appends it): every reply the suite saw fits openapi.yaml."""

    def test_every_reply_the_suite_saw_fits_openapi_yaml(self):
        self.assertTrue(os.path.exists(VALIDATOR),
                        "the OpenAPI validator is not installed: run `npm ci` in tests/http (run.sh does)")
        with _lock:
            records = list(RECORDS)
        verdict = validate(records)
        print("\n  replies: %d distinct replies seen, %d validated against openapi.yaml, %s" % (
            len(records), verdict["checked"],
            ", ".join("%d %s" % (n, rule) for rule, n in sorted(verdict["by_rule"].items())) or "none by rule"))
        mismatches = verdict["mismatches"]
        self.assertFalse(mismatches, "%d replies do not fit openapi.yaml:\n  %s" % (
            len(mismatches), "\n  ".join(describe(m) for m in mismatches[:60])))


class ValidatorCanFail(unittest.TestCase):
    """The reply validator refuses replies the document does not allow (so a pass means something)."""

    def test_wrong_replies_are_refused(self):
        self.assertTrue(os.path.exists(VALIDATOR),
                        "the OpenAPI validator is not installed: run `npm ci` in tests/http (run.sh does)")
        ok = json.dumps({"status": "ok"}).encode()
        native = json.dumps({"error": {"code": 405, "type": "method_not_allowed", "message": "m"}}).encode()
        wrong = {
            "undeclared status": ("GET", "/health", 418, "application/json", ok, {}),
            "wrong schema": ("GET", "/health", 200, "application/json", b'{"status": "fine"}', {}),
            "undeclared content type": ("GET", "/health", 200, "text/plain", b"ok", {}),
            "unknown error type": ("POST", "/decode", 422, "application/json",
                                   b'{"error": {"code": 422, "type": "nonsense", "message": "m"}}', {}),
            "native error on a /v2 route": ("GET", "/v2/models/mnist-decoder", 405, "application/json", native,
                                            {"allow": "GET, HEAD, OPTIONS"}),
            "not a PNG": ("GET", "/sample", 200, "image/png", b"GIF89a", {"x-seed": "1"}),
            "a body on HEAD": ("HEAD", "/health", 200, "application/json", ok, {}),
            "405 without Allow": ("GET", "/encode", 405, "application/json", native, {}),
            "unrouted 200": ("GET", "/no-such-path", 200, "application/json", ok, {}),
        }
        records = []
        for method, target, status, ctype, body, headers in wrong.values():
            headers = dict(headers, **{"content-type": ctype})
            records.append({"method": method, "target": target, "status": status, "headers": headers,
                            "body": base64.b64encode(body).decode("ascii")})
        verdict = validate(records)
        refused = {(m["method"], m["target"], m["status"]): m["problem"] for m in verdict["mismatches"]}
        for what, (method, target, status, *_rest) in wrong.items():
            with self.subTest(what):
                self.assertIn((method, target, status), refused, "%s was accepted" % what)
                if what in ("wrong schema", "unknown error type", "native error on a /v2 route"):
                    # schema errors are the OpenAPI validator's own verdict
                    self.assertTrue(refused[(method, target, status)].startswith("express-openapi-validator"),
                                    refused[(method, target, status)])


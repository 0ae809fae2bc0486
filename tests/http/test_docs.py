"""Docs from one source: the README's configuration table against `vae-server --help` (which
server/options.c prints from its options table), and the README's error table and openapi.yaml's
errors against server/errors.c's error table: every type, status, Open Inference Protocol status and
Retry-After, and for every route of server/routes.c the error statuses it can answer, each with the
schema of its dialect. Also: the request examples of openapi.yaml are accepted by the shipped models."""
import copy
import json
import os
import re
import unittest

import docsutil
from common import ServerTestCase
from server import REPO, run_server

# --- configuration ---------------------------------------------------------------------------------

HELP_INDENT = 30


def help_options(text):
    """{"--flag ARG": {"env": ..., "default": ...}} in the order --help lists them."""
    blocks, current = [], None
    for line in text.splitlines():
        m = re.match(r"^  (--[a-z-]+(?: \S+)?)(?: {2,}(.*))?$", line)
        if m:
            current = [m.group(1), [m.group(2) or ""]]
            blocks.append(current)
        elif current and line.startswith(" " * HELP_INDENT):
            current[1].append(line.strip())
        elif line.strip():
            current = None
    options = {}
    for flag, lines in blocks:
        text = ""
        for x in (x for x in lines if x):  # --help breaks long lists after a comma: join those bare
            text += x if not text or text.endswith(",") else " " + x
        env = default = None
        at = text.rfind("env VAE_")
        if at >= 0:
            m = re.match(r"env (VAE_\w+)(?:; default (.*))?$", text[at:])
            assert m, "cannot read the env/default part of %s: %r" % (flag, text[at:])
            env, default = m.group(1), m.group(2)
        elif text.rfind("default ") >= 0:
            default = text[text.rfind("default ") + len("default "):]
        options[flag] = {"env": env, "default": default}
    return options


class ConfigurationTable(unittest.TestCase):
    """README "Configuration" lists exactly what --help lists: flags with their argument, environment
    variables and defaults (the default cell without its backticks is --help's default text)."""

    def test_readme_table_is_help(self):
        proc = run_server(["--help"])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        helped = help_options(proc.stdout)
        self.assertIn("--port N", helped)
        rows = docsutil.table(docsutil.section(docsutil.readme(), "## Configuration"))
        self.assertEqual(rows[0][:3], ["flag", "environment", "default"])
        documented = {}
        for row in rows[1:]:
            flags = docsutil.code_spans(row[0])
            self.assertEqual(len(flags), 1, "one `--flag ARG` per row: %r" % row[0])
            envs = [e for e in docsutil.code_spans(row[1]) if e.startswith("VAE_")]
            documented[flags[0]] = {"env": envs[0] if envs else None,
                                    "default": row[2].replace("`", "").strip() or None}
        self.assertEqual(list(documented), list(helped),
                         "the README's flags (or their order) differ from --help's")
        for flag, facts in helped.items():
            with self.subTest(flag=flag):
                self.assertEqual(documented[flag]["env"], facts["env"], "environment variable of %s" % flag)
                self.assertEqual(documented[flag]["default"], facts["default"], "default of %s" % flag)

    def test_every_option_has_an_environment_variable_and_a_default(self):
        helped = help_options(run_server(["--help"]).stdout)
        for flag, facts in helped.items():
            if flag.split()[0] in ("--help", "--version"):
                continue
            with self.subTest(flag=flag):
                self.assertIsNotNone(facts["default"], "--help gives no default for %s" % flag)
                if flag != "--healthcheck [URL]":
                    self.assertIsNotNone(facts["env"], "--help gives no environment variable for %s" % flag)

    def test_deployment_names_every_variable(self):
        """The container's configuration bullet (README, Deployment) names every VAE_ variable."""
        helped = help_options(run_server(["--help"]).stdout)
        text = docsutil.section(docsutil.readme(), "## Deployment")
        bullet = text[text.index("- **Configuration**"):]
        bullet = bullet[:bullet.index("\n- ")]
        named = set(re.findall(r"`(VAE_\w+)`", bullet))
        for facts in helped.values():
            if facts["env"]:
                self.assertIn(facts["env"], named, "README Deployment does not name %s" % facts["env"])

    def test_help_lines_are_readable(self):
        for line in run_server(["--help"]).stdout.splitlines():
            with self.subTest(line=line):
                self.assertLessEqual(len(line), 110, "a --help line is too long")


# --- errors --------------------------------------------------------------------------------------

# What each endpoint can refuse beyond what its route's flags and the pipeline give every route
# (read off server/handlers_*.c and inputs.c). A route whose endpoint is missing here fails the test.
ENDPOINT_KINDS = {
    "vae_ep_index": set(),
    "vae_ep_health": set(),
    "vae_ep_ready": {"VAE_E_NOT_READY", "VAE_E_DRAINING"},
    "vae_ep_metrics": set(),
    "vae_ep_openapi": set(),
    "vae_ep_models": {"VAE_E_INVALID_PARAMETER"},
    "vae_ep_encode": {"VAE_E_INVALID_BASE64", "VAE_E_INVALID_PNG", "VAE_E_INVALID_REQUEST", "VAE_E_INVALID_VALUE",
                      "VAE_E_INVALID_PARAMETER", "VAE_E_IMAGE_TOO_LARGE", "VAE_E_TOO_MANY_ITEMS",
                      "VAE_E_MODEL_NOT_FOUND", "VAE_E_OVERLOADED"},
    "vae_ep_decode": {"VAE_E_INVALID_REQUEST", "VAE_E_INVALID_VALUE", "VAE_E_INVALID_PARAMETER",
                      "VAE_E_TOO_MANY_ITEMS", "VAE_E_MODEL_NOT_FOUND", "VAE_E_OVERLOADED"},
    "vae_ep_sample": {"VAE_E_INVALID_PARAMETER", "VAE_E_MODEL_NOT_FOUND", "VAE_E_OVERLOADED"},
    "vae_ep_interpolate": {"VAE_E_INVALID_BASE64", "VAE_E_INVALID_PNG", "VAE_E_INVALID_REQUEST",
                           "VAE_E_INVALID_VALUE", "VAE_E_INVALID_PARAMETER", "VAE_E_IMAGE_TOO_LARGE",
                           "VAE_E_MODEL_NOT_FOUND", "VAE_E_OVERLOADED"},
    # the /v2 routes ignore query parameters, as the protocol's servers do
    "vae_ep_oip_server": set(),
    "vae_ep_oip_live": set(),
    "vae_ep_oip_ready": set(),  # its "not ready" is a 400 {"ready": false}, not an error
    "vae_ep_oip_model": {"VAE_E_MODEL_NOT_FOUND"},
    "vae_ep_oip_model_ready": {"VAE_E_MODEL_NOT_FOUND"},
    "vae_ep_oip_infer": {"VAE_E_INVALID_REQUEST", "VAE_E_INVALID_VALUE", "VAE_E_TOO_MANY_ITEMS",
                         "VAE_E_MODEL_NOT_FOUND", "VAE_E_OVERLOADED"},
    "vae_ep_oip_stats": {"VAE_E_MODEL_NOT_FOUND"},
    "vae_ep_oip_repository_index": {"VAE_E_INVALID_REQUEST"},
    "vae_ep_oip_repository_load": {"VAE_E_INVALID_REQUEST", "VAE_E_MODEL_NOT_FOUND", "VAE_E_MODEL_LOAD_FAILED"},
    "vae_ep_oip_repository_unload": {"VAE_E_INVALID_REQUEST", "VAE_E_MODEL_NOT_FOUND"},
}
ENDPOINT_KINDS["vae_ep_reconstruct"] = ENDPOINT_KINDS["vae_ep_encode"]
ENDPOINT_KINDS["vae_ep_score"] = ENDPOINT_KINDS["vae_ep_encode"]
# the latent-space endpoints: a missing model statistic is a 422 invalid_value naming it
ENDPOINT_KINDS["vae_ep_manifold"] = {"VAE_E_INVALID_PARAMETER", "VAE_E_INVALID_VALUE", "VAE_E_MODEL_NOT_FOUND",
                                     "VAE_E_OVERLOADED"}
ENDPOINT_KINDS["vae_ep_traverse"] = ENDPOINT_KINDS["vae_ep_encode"]
ENDPOINT_KINDS["vae_ep_complete"] = ENDPOINT_KINDS["vae_ep_encode"]
# the pipeline, for every route: framing checked before routing, the method, a body past
# --max-body (even one a GET route ignores), memory for the request
EVERY_ROUTE = {"VAE_E_INVALID_FRAMING", "VAE_E_NOT_IMPLEMENTED", "VAE_E_METHOD_NOT_ALLOWED",
               "VAE_E_PAYLOAD_TOO_LARGE", "VAE_E_OUT_OF_MEMORY"}
# a route that takes a body also inflates a compressed one
BODY = {"VAE_E_UNSUPPORTED_MEDIA", "VAE_E_INVALID_ENCODING"}
FLAG_KINDS = {
    "VAE_ROUTE_AUTH": {"VAE_E_UNAUTHORIZED"},
    "VAE_ROUTE_READY": {"VAE_E_NOT_READY"},
    "VAE_ROUTE_JSON": BODY | {"VAE_E_INVALID_JSON"},
    "VAE_ROUTE_PNG": BODY | {"VAE_E_INVALID_PNG"},
    "VAE_ROUTE_BINARY": BODY | {"VAE_E_INVALID_BINARY"},
    "VAE_ROUTE_CONTROL": {"VAE_E_FORBIDDEN"},
}
METHOD_FLAGS = {"VAE_GET": "get", "VAE_POST": "post"}


def routes(path=os.path.join(REPO, "server", "routes.c")):
    """[(path, {methods}, {flags}, endpoint)] from routes.c, its flag macros expanded."""
    with open(path) as f:
        text = f.read()
    macros = dict(re.findall(r"#define (\w+) \(?([A-Z_| ]+?)\)?\n", text))

    def expand(expr):
        out = set()
        for name in (n.strip() for n in expr.split("|")):
            if name in macros:
                out |= expand(macros[name])
            elif name != "0":
                out.add(name)
        return out

    table = text[text.index("vae_routes[] = {"):]
    table = table[:table.index("};")]
    found = []
    for m in re.finditer(r'\{"([^"]+)",\s*([A-Z_| ]+?),\s*([A-Z_| 0]+?),\s*&(\w+)\}', table):
        methods = {METHOD_FLAGS[f] for f in expand(m.group(2))}
        found.append((m.group(1), methods, expand(m.group(3)), m.group(4)))
    assert found, "no routes found in routes.c"
    return found


def json_schema_of(doc, response):
    content = docsutil.resolve(doc, response).get("content", {})
    media = content.get("application/json")
    return media and media.get("schema")


def refs_in(doc, schema):
    """The names of components.schemas that schema is, or is made of (allOf/oneOf/anyOf)."""
    names = set()
    if isinstance(schema, dict):
        if "$ref" in schema:
            names.add(schema["$ref"].rsplit("/", 1)[-1])
            names |= refs_in(doc, docsutil.resolve(doc, schema))
        for key in ("allOf", "oneOf", "anyOf"):
            for part in schema.get(key, []):
                names |= refs_in(doc, part)
    return names


def type_enum(doc, schema):
    """The narrowest `error.type` enum a native error schema declares."""
    schema = docsutil.resolve(doc, schema)
    narrowed = None
    for part in schema.get("allOf", []):
        part = docsutil.resolve(doc, part)
        enum = part.get("properties", {}).get("error", {}).get("properties", {}).get("type", {}).get("enum")
        if enum is not None:
            narrowed = enum if narrowed is None else [t for t in narrowed if t in enum]
    if narrowed is None:
        narrowed = schema.get("properties", {}).get("error", {}).get("properties", {}).get("type", {}).get("enum")
    return narrowed


class ErrorTable(unittest.TestCase):
    """The README's error table and openapi.yaml follow server/errors.c."""

    @classmethod
    def setUpClass(cls):
        cls.table = docsutil.error_table()
        cls.by_kind = {row["kind"]: row for row in cls.table}
        cls.doc = docsutil.load_yaml()

    def types_with(self, status, oip=False):
        return {r["type"] for r in self.table if (r["oip_status"] if oip else r["status"]) == status}

    def test_readme_error_table(self):
        rows = docsutil.table(docsutil.section(docsutil.readme(), "## Errors"))
        self.assertEqual(rows[0][:3], ["status", "/v2 status", "`type`"])
        seen = []
        for row in rows[1:]:
            status, oip, types = int(row[0]), int(row[1]), docsutil.code_spans(row[2])
            self.assertTrue(types, row)
            for t in types:
                with self.subTest(type=t):
                    entry = [r for r in self.table if r["type"] == t]
                    self.assertTrue(entry, "the README lists a type %r that errors.c does not have" % t)
                    self.assertEqual(status, entry[0]["status"], "status of %s" % t)
                    self.assertEqual(oip, entry[0]["oip_status"], "/v2 status of %s" % t)
            retry = {self.by_type(t)["retry_after"] > 0 for t in types}
            self.assertEqual(len(retry), 1, "a row mixes types with and without Retry-After: %r" % types)
            self.assertEqual("Retry-After" in row[3], retry.pop(), "Retry-After in the row of %r" % types)
            seen += types
        self.assertEqual(sorted(seen), sorted(r["type"] for r in self.table),
                         "the README's error table and errors.c list different types")
        self.assertEqual(len(seen), len(set(seen)), "a type is listed twice")

    def by_type(self, t):
        return [r for r in self.table if r["type"] == t][0]

    def test_openapi_error_type_enum_is_the_table(self):
        enum = self.doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["type"]["enum"]
        self.assertEqual(sorted(enum), sorted(r["type"] for r in self.table))
        self.assertEqual(len(enum), len(set(enum)))

    def test_every_route_declares_its_errors_in_its_dialect(self):
        paths = self.doc["paths"]
        for path, methods, flags, endpoint in routes():
            self.assertIn(endpoint, ENDPOINT_KINDS, "%s: say in test_docs.py what %s can refuse" % (path, endpoint))
            oip = "VAE_ROUTE_OIP" in flags
            kinds = set(EVERY_ROUTE) | ENDPOINT_KINDS[endpoint]
            for flag in flags:
                kinds |= FLAG_KINDS.get(flag, set())
            rows = [self.by_kind[k] for k in kinds]
            expected = {}
            for r in rows:
                expected.setdefault(r["oip_status"] if oip else r["status"], []).append(r)
            for method in methods:
                with self.subTest(route="%s %s" % (method.upper(), path)):
                    op = paths[path][method]
                    declared = {int(s): resp for s, resp in op["responses"].items() if int(s) >= 400}
                    self.assertEqual(sorted(declared), sorted(expected),
                                     "error statuses of %s %s" % (method.upper(), path))
                    for status, resp in declared.items():
                        self.check_response(path, status, docsutil.resolve(self.doc, resp), expected.get(status, []), oip)

    def check_response(self, path, status, resp, rows, oip):
        where = "%s %d" % (path, status)
        schema = json_schema_of(self.doc, resp)
        self.assertIsNotNone(schema, "%s: no application/json schema" % where)
        names = refs_in(self.doc, schema)
        if oip:
            self.assertIn("OipError", names, "%s: a /v2 error must have the protocol's shape" % where)
            self.assertNotIn("Error", names, "%s: the native error shape on a /v2 route" % where)
        else:
            self.assertIn("Error", names, "%s: not the native error shape" % where)
            enum = set(type_enum(self.doc, schema) or [])
            self.assertLessEqual({r["type"] for r in rows}, enum, "%s: types the route can answer" % where)
            self.assertLessEqual(enum, self.types_with(status), "%s: types of another status" % where)
        headers = {name.lower(): docsutil.resolve(self.doc, h) for name, h in resp.get("headers", {}).items()}
        if any(r["retry_after"] for r in rows):
            self.assertIn("retry-after", headers, "%s: Retry-After is not declared" % where)
        if any(r["kind"] == "VAE_E_UNAUTHORIZED" for r in rows):
            self.assertTrue(headers.get("www-authenticate", {}).get("required"), "%s: WWW-Authenticate" % where)
        if any(r["kind"] == "VAE_E_METHOD_NOT_ALLOWED" for r in rows):
            self.assertTrue(headers.get("allow", {}).get("required"), "%s: Allow" % where)

    def test_per_status_schemas_match_the_table(self):
        schemas = self.doc["components"]["schemas"]
        for name, schema in schemas.items():
            m = re.fullmatch(r"Error(\d{3})", name)
            if not m:
                continue
            with self.subTest(schema=name):
                status = int(m.group(1))
                self.assertEqual(set(type_enum(self.doc, schema)), self.types_with(status), name)


class OpenAPIExamples(ServerTestCase):
    """Every request example of openapi.yaml is accepted (200) by the shipped models."""

    def test_request_examples_are_accepted(self):
        doc = docsutil.load_yaml()
        count = 0
        for path, item in doc["paths"].items():
            for method, op in item.items():
                body = op.get("requestBody") if isinstance(op, dict) else None
                if not body:
                    continue
                for media, content in docsutil.resolve(doc, body)["content"].items():
                    examples = [("example", content["example"])] if "example" in content else []
                    examples += [(k, e["value"]) for k, e in content.get("examples", {}).items()]
                    for name, value in examples:
                        count += 1
                        with self.subTest(operation="%s %s" % (method.upper(), path), example=name):
                            if media == "application/octet-stream":  # binary framing: test_oip_binary.py
                                continue
                            self.assertEqual(media, "application/json")
                            answers = []
                            for target in self.targets(doc, path, op):
                                resp = self.client.post(target, copy.deepcopy(value))
                                answers.append((target, resp.status, resp.body[:200]))
                            self.assertTrue(any(s == 200 for _, s, _ in answers),
                                            "the example is refused: %r" % answers)
        self.assertGreaterEqual(count, 4)

    def test_documented_nesting_limit(self):
        """The README's "nesting over N" is the server's limit: N levels parse, N + 1 do not."""
        m = re.search(r"nesting over (\d+)", docsutil.section(docsutil.readme(), "## Errors"))
        self.assertIsNotNone(m, "the README's error table no longer states the nesting limit")
        limit = int(m.group(1))

        def nested(depth):  # an object holding depth - 1 arrays: depth levels in all
            return b'{"z": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"

        ok = self.client.post("/decode", nested(limit), content_type="application/json")
        self.assertNotEqual(ok.json()["error"]["type"], "invalid_json", ok)
        deep = self.client.post("/decode", nested(limit + 1), content_type="application/json")
        self.assert_error(deep, 400, "invalid_json", "nesting")

    @staticmethod
    def targets(doc, path, op):
        """The path with each combination of its path parameters' example values."""
        targets = [path]
        for p in (docsutil.resolve(doc, p) for p in op.get("parameters", [])):
            if p["in"] == "path":
                targets = [t.replace("{%s}" % p["name"], v) for t in targets for v in p["schema"]["examples"]]
        return targets


if __name__ == "__main__":
    unittest.main()

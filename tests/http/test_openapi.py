"""The API contract: server/routes.c and openapi.yaml describe the same paths and methods, and
openapi.yaml is a valid OpenAPI 3.1 document according to a real validator
(@seriousme/openapi-schema-validator, pinned in package.json, installed by run.sh with npm ci)."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from server import HERE, REPO

VALIDATOR = os.path.join(HERE, "node_modules", "@seriousme", "openapi-schema-validator", "package.json")
VALIDATE_SCRIPT = os.path.join(HERE, "validate.mjs")
METHOD_FLAGS = {"VAE_GET": "get", "VAE_POST": "post", "VAE_HEAD": "head", "VAE_OPTIONS": "options"}
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def routes_from_source(path=os.path.join(REPO, "server", "routes.c")):
    """{path: {methods}} from the route table in routes.c."""
    with open(path) as f:
        text = f.read()
    table = text[text.index("vae_routes[] = {"):]
    table = table[:table.index("};")]
    routes = {}
    for m in re.finditer(r'\{\s*"([^"]+)"\s*,\s*([A-Z_| ]+?)\s*,', table):
        flags = [f.strip() for f in m.group(2).split("|")]
        unknown = [f for f in flags if f not in METHOD_FLAGS]
        assert not unknown, "unknown method flags %r in routes.c" % unknown
        routes[m.group(1)] = {METHOD_FLAGS[f] for f in flags}
    assert routes, "no routes found in routes.c"
    return routes


def paths_from_spec(path=os.path.join(REPO, "openapi.yaml")):
    """{path: {methods}} from the `paths:` section of openapi.yaml (read line by line, so it works
    without a YAML library and even when the document has a YAML error elsewhere)."""
    with open(path) as f:
        lines = f.read().splitlines()
    paths, current, inside = {}, None, False
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" "):
            inside = line.startswith("paths:")
            continue
        if not inside:
            continue
        m = re.match(r"^  (['\"]?)(/[^'\"]*)\1:\s*$", line)
        if m:
            current = m.group(2)
            paths[current] = set()
            continue
        m = re.match(r"^    ([a-z]+):", line)
        if m and current and m.group(1) in HTTP_METHODS:
            paths[current].add(m.group(1))
    assert paths, "no paths found in openapi.yaml"
    return paths


def validate(*spec_paths):
    """[(valid, result)] for each document, from one run of validate.mjs."""
    proc = subprocess.run(["node", VALIDATE_SCRIPT] + list(spec_paths), capture_output=True, text=True,
                          timeout=300, cwd=HERE)
    try:
        results = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError("validator printed no JSON (exit %d): %s %s" % (proc.returncode, proc.stdout, proc.stderr))
    assert len(results) == len(spec_paths), results
    all_valid = all(r["valid"] for r in results)
    assert all_valid == (proc.returncode == 0), "validator exit code %d disagrees with %r" % (proc.returncode, results)
    return [(r["valid"], r) for r in results]


MINIMAL_SPEC = """openapi: 3.1.0
info:
  title: minimal
  version: 1.0.0
paths:
  /health:
    get:
      responses:
        "200":
          description: Alive
"""


class RoutesMatchSpec(unittest.TestCase):

    def test_same_paths_and_methods(self):
        routes, paths = routes_from_source(), paths_from_spec()
        self.assertEqual(sorted(routes), sorted(paths), "paths differ between server/routes.c and openapi.yaml")
        for path in routes:
            self.assertEqual(routes[path], paths[path], "methods of %s differ" % path)


class OpenAPIValidator(unittest.TestCase):

    def setUp(self):
        # not a skip: on a machine without Node.js these tests fail (tests/install-deps.sh test installs it)
        self.assertIsNotNone(shutil.which("node"), "node is not installed: run tests/install-deps.sh test")
        self.assertTrue(os.path.exists(VALIDATOR),
                        "the validator is not installed: run `npm ci` in tests/http (run.sh does)")
        self.tmp = tempfile.mkdtemp(prefix="vae-openapi-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_openapi_yaml_is_valid(self):
        [(valid, result)] = validate(os.path.join(REPO, "openapi.yaml"))
        self.assertTrue(valid, "openapi.yaml is not valid OpenAPI 3.1: %s" % json.dumps(result, indent=1)[:3000])

    def test_validator_accepts_a_minimal_spec(self):
        [(valid, result)] = validate(self.write("minimal.yaml", MINIMAL_SPEC))
        self.assertTrue(valid, result)

    def test_validator_rejects_broken_specs(self):
        """The validator can fail: schema errors (not just YAML errors) are reported."""
        broken = {
            "no info": MINIMAL_SPEC.replace("info:\n  title: minimal\n  version: 1.0.0\n", ""),
            "response without description": MINIMAL_SPEC.replace("          description: Alive\n", ""),
            "unknown top-level field": MINIMAL_SPEC + "bogus: 1\n",
            "parameter in body": MINIMAL_SPEC.replace(
                "    get:\n", "    get:\n      parameters:\n        - {name: n, in: body, schema: {type: string}}\n"),
        }
        files = []
        for i, (what, text) in enumerate(broken.items()):
            self.assertNotEqual(text, MINIMAL_SPEC, what)
            files.append(self.write("broken%d.yaml" % i, text))
        for what, (valid, result) in zip(broken, validate(*files)):
            with self.subTest(what):
                self.assertFalse(valid, "%s was accepted" % what)
                self.assertIsInstance(result.get("errors"), list, "not a schema error: %r" % result)

    def test_validator_rejects_broken_copies_of_openapi_yaml(self):
        with open(os.path.join(REPO, "openapi.yaml")) as f:
            spec = f.read()
        mutations = {
            "openapi version removed": lambda s: s.replace("openapi: 3.1.0\n", "", 1),
            "unknown top-level field": lambda s: s + "\nbogus: 1\n",
            "parameter in body": lambda s: s.replace("in: query", "in: body", 1),
            "response without description": lambda s: s.replace("          description: Alive\n", "", 1),
        }
        files = []
        for i, (what, mutate) in enumerate(mutations.items()):
            text = mutate(spec)
            self.assertNotEqual(text, spec, "mutation %r did not apply" % what)
            files.append(self.write("openapi-broken%d.yaml" % i, text))
        (_, original), *results = validate(os.path.join(REPO, "openapi.yaml"), *files)
        for what, (valid, result) in zip(mutations, results):
            with self.subTest(what):
                self.assertFalse(valid, "%s was accepted" % what)
                if original["yamlError"] is None:  # else every copy fails on the same YAML error
                    self.assertIsNone(result["yamlError"], result)


if __name__ == "__main__":
    unittest.main()

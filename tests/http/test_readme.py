"""README examples that run as written: every curl command in README.md (in code blocks, and in
`inline code` in the text) is run by sh, in README order, against one fresh server on the shipped
models (the configuration of `make run`, with localhost:8080 replaced by the test server's port),
and each reply the README shows is compared with what the server answers.

Where the README shows a reply:
  - a comment after the command that starts with JSON (`curl -s localhost:8080/health  # {"status":"ok"} ...`);
  - comment lines right below the command, together one JSON value (the Open Inference Protocol
    examples);
  - the ```json block that follows the command's block: one line per command of that block that
    prints its reply (no -o) and shows none in a comment, in order;
  - a plain ``` block that follows: each of its lines is a line some command of the block printed.
Matching rules: objects have the same keys in the same order; an array whose last item is the
string "... N more" (or "... N more rows") has N more items than shown, the shown ones first;
numbers agree to 1e-4 (relative) or 1e-6 (absolute), as the last digits of float32 results differ
between CPU kinds (AVX-512, AVX2, plain); strings and integers exactly. Seeds make replies
deterministic. Every command must get a 2xx unless the reply it shows is an error of that status,
and every file it writes with -o is a PNG. Files the commands read (`@docs/api/digit.png`) are
found relative to the repository root.

The pictures the README shows (docs/api/*.png) are checked too: each is what the server answers
to its request (PICTURES) today, to within 2 grey levels; VAE_WRITE_PICTURES=1 rewrites them
(`VAE_WRITE_PICTURES=1 tests/http/run.sh build ../shared/data/mnist -k pictures`). docs/api/digit.png (the first MNIST test
image) and docs/api/picture.png (a test digit drawn small, dark on a light page) are inputs and are not
rewritten."""
import base64
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import unittest

import docsutil
import pngutil
from common import Client, latent_dim, shipped_model_args
from server import REPO, ServerProcess

MARK = "\n<<vae-readme-example>>"
MORE = re.compile(r"^\.\.\. (\d+) more( rows)?$")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --- reading the README ---------------------------------------------------------------------------

def blocks(text):
    """[(kind, language, [lines], line number)] of fenced and indented code blocks, in order; kind is
    "fenced" or "indented"."""
    lines = text.splitlines()
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^```(\w*)\s*$", line)
        if m:
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            out.append(("fenced", m.group(1), lines[i + 1:j], i + 2))
            i = j + 1
            continue
        if line.startswith("    ") and line.strip() and (i == 0 or not lines[i - 1].strip()):
            j = i
            while j < len(lines) and (lines[j].startswith("    ") or not lines[j].strip()):
                j += 1
            body = lines[i:j]
            while body and not body[-1].strip():
                body.pop()
            # an indented list continuation is not a code block
            if not re.match(r"^\s*[-*] ", lines[i - 1] if i else ""):
                out.append(("indented", "", [x[4:] for x in body], i + 1))
            i = j
            continue
        i += 1
    return out


def split_comment(text):
    """(command, comment) at the first # outside quotes that starts a word."""
    quote = None
    for i, c in enumerate(text):
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or text[i - 1].isspace()):
            return text[:i].rstrip(), text[i + 1:].strip()
    return text.rstrip(), None


def complete(text):
    if text.rstrip().endswith("\\"):
        return False
    try:
        shlex.split(text, comments=True)
        return True
    except ValueError:
        return False


class NotJSON(str):
    """A shown reply that looks like JSON but is not (a literal `...`, a typo): always a mismatch."""


def leading_json(text):
    """The JSON value text starts with, None when it does not start with { or [, a NotJSON when it
    does but is not JSON."""
    text = text.strip()
    if not text or text[0] not in "{[":
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(text)
        return value
    except ValueError as e:
        return NotJSON("%s (%s)" % (text[:80], e))


class Example:
    def __init__(self, command, line):
        self.command = command
        self.line = line
        self.shown = None      # the JSON value the README shows, if any
        self.shown_lines = []  # lines of a plain block some command of the block prints

    @property
    def writes_file(self):
        return " -o " in " " + self.command

    def __repr__(self):
        return "README.md:%d: %s" % (self.line, self.command.replace("\n", " ")[:120])


def examples(text):
    """Every curl example with the reply the README shows for it."""
    found = []
    all_blocks = blocks(text)
    for index, (kind, lang, lines, start) in enumerate(all_blocks):
        if lang not in ("", "sh"):
            continue
        group, i = [], 0
        while i < len(lines):
            if not lines[i].lstrip().startswith("curl "):
                i += 1
                continue
            first, text_ = i, lines[i].lstrip()
            while not complete(split_comment(text_)[0]) and i + 1 < len(lines):
                i += 1
                text_ += "\n" + lines[i]
            command, comment = split_comment(text_)
            ex = Example(command, start + first)
            if comment is not None:
                ex.shown = leading_json(comment)
            # comment lines right below: one JSON value together
            below = []
            while i + 1 < len(lines) and lines[i + 1].lstrip().startswith("#"):
                i += 1
                below.append(lines[i].lstrip()[1:].strip())
            if below and ex.shown is None:
                ex.shown = leading_json(" ".join(below))
            group.append(ex)
            i += 1
        if not group:
            continue
        # a following ```json or plain ``` block (before the next command block) shows replies
        for kind2, lang2, lines2, _ in all_blocks[index + 1:index + 2]:
            if kind2 != "fenced" or lang2 not in ("json", ""):
                continue
            if any(x.lstrip().startswith("curl ") for x in lines2):
                continue
            if lang2 == "json":
                waiting = [ex for ex in group if ex.shown is None and not ex.writes_file]
                shown = [x for x in lines2 if x.strip()]
                assert len(shown) == len(waiting), (
                    "README.md:%d: %d replies shown for %d commands that print one: %r" % (
                        group[0].line, len(shown), len(waiting), waiting))
                for ex, line in zip(waiting, shown):
                    ex.shown = leading_json(line)
            else:
                group[-1].shown_lines = [x for x in lines2 if x.strip()]  # checked once the block ran
        found += group
    # `curl ...` in the text
    in_blocks = set()
    for _, _, lines, start in all_blocks:
        in_blocks |= set(range(start - 1, start + len(lines) + 1))
    for n, line in enumerate(text.splitlines(), 1):
        if n in in_blocks:
            continue
        for span in re.findall(r"`(curl [^`]+)`", line):
            if " -d " in span and "localhost" not in span:
                continue  # advice about curl's options, not an example
            if "localhost:8080" in span:
                found.append(Example(span, n))
    found.sort(key=lambda e: e.line)
    return found


# --- comparing ------------------------------------------------------------------------------------

def mismatch(shown, actual, where="reply"):
    """None when actual is what shown shows, else where they differ."""
    if isinstance(shown, dict):
        if not isinstance(actual, dict):
            return "%s: an object is shown, the server answers %r" % (where, actual)
        if list(shown) != list(actual):
            return "%s: keys %r shown, the server answers %r" % (where, list(shown), list(actual))
        for k in shown:
            m = mismatch(shown[k], actual[k], "%s.%s" % (where, k))
            if m:
                return m
        return None
    if isinstance(shown, list):
        if not isinstance(actual, list):
            return "%s: a list is shown, the server answers %r" % (where, actual)
        more = MORE.match(shown[-1]) if shown and isinstance(shown[-1], str) else None
        head = shown[:-1] if more else shown
        length = len(head) + int(more.group(1)) if more else len(shown)
        if len(actual) != length:
            return "%s: %d items shown, the server answers %d" % (where, length, len(actual))
        for i, (a, b) in enumerate(zip(head, actual)):
            m = mismatch(a, b, "%s[%d]" % (where, i))
            if m:
                return m
        return None
    if isinstance(shown, bool) or shown is None or isinstance(shown, str):
        return None if shown == actual else "%s: %r shown, the server answers %r" % (where, shown, actual)
    if isinstance(shown, int) and isinstance(actual, int) and not isinstance(actual, bool):
        return None if shown == actual else "%s: %r shown, the server answers %r" % (where, shown, actual)
    if isinstance(shown, (int, float)) and isinstance(actual, (int, float)) and not isinstance(actual, bool):
        if math.isclose(shown, actual, rel_tol=1e-4, abs_tol=1e-6):
            return None
    return "%s: %r shown, the server answers %r" % (where, shown, actual)


# --- the test -------------------------------------------------------------------------------------

class ReadmeExamples(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.examples = examples(docsutil.readme())
        cls.tmp = tempfile.mkdtemp(prefix="vae-readme-")
        os.symlink(os.path.join(REPO, "docs"), os.path.join(cls.tmp, "docs"))
        with open(os.path.join(cls.tmp, ".curlrc"), "w") as f:
            f.write('write-out = "%s %%{http_code} %%{content_type}"\n' % MARK.replace("\n", "\\n"))
        # the shipped models, as make run serves them (a fresh server: the examples run in order)
        cls.server = ServerProcess(shipped_model_args() + ["--log-format", "off"], name="vae-server(README)")
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_example(self, ex):
        command = ex.command.replace("localhost:8080", "localhost:%d" % self.server.port)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CURL_HOME": self.tmp, "HOME": self.tmp}
        proc = subprocess.run(["sh", "-c", command], cwd=self.tmp, env=env, capture_output=True, timeout=60)
        out = proc.stdout.decode("utf-8", "replace")
        self.assertEqual(proc.returncode, 0, "%r failed: %s" % (ex, proc.stderr.decode()[-500:]))
        body, sep, tail = out.rpartition(MARK)
        self.assertTrue(sep, "%r: curl did not report its status (is curl reading %s/.curlrc?)" % (ex, self.tmp))
        status, _, ctype = tail.strip().partition(" ")
        return body, int(status), ctype

    def test_examples_run_as_written_and_answer_what_is_shown(self):
        self.assertGreaterEqual(len(self.examples), 20, self.examples)
        outputs = []
        for ex in self.examples:
            with self.subTest(example=repr(ex)):
                body, status, ctype = self.run_example(ex)
                outputs.append(body)
                shown_error = isinstance(ex.shown, dict) and isinstance(ex.shown.get("error"), dict)
                if shown_error:
                    self.assertEqual(status, ex.shown["error"].get("code"), "%r: status" % ex)
                else:
                    self.assertTrue(200 <= status < 300, "%r answered %d: %s" % (ex, status, body[:300]))
                if ex.writes_file:
                    name = shlex.split(ex.command)[shlex.split(ex.command).index("-o") + 1]
                    with open(os.path.join(self.tmp, name), "rb") as f:
                        self.assertTrue(f.read(8) == PNG_SIGNATURE, "%r: %s is not a PNG" % (ex, name))
                self.assertNotIsInstance(ex.shown, NotJSON, "%r: the reply shown is not JSON: %s" % (ex, ex.shown))
                if ex.shown is not None:
                    self.assertTrue(ctype.startswith("application/json"), "%r: %s" % (ex, ctype))
                    problem = mismatch(ex.shown, json.loads(body))
                    self.assertIsNone(problem, "%r: %s" % (ex, problem))
                for line in ex.shown_lines:
                    self.assertTrue(any(line in o.splitlines() for o in outputs),
                                    "%r: the README shows %r, which no command of its block printed" % (ex, line))

    def test_the_extraction_sees_every_curl_command(self):
        """Every line of the README that runs curl against the server is one of the examples."""
        text = docsutil.readme()
        lines = [n for n, line in enumerate(text.splitlines(), 1)
                 if re.search(r"\bcurl -", line) and "localhost:8080" in line]
        covered = {e.line for e in self.examples}
        for e in self.examples:
            covered |= set(range(e.line, e.line + e.command.count("\n") + 1))
        self.assertEqual([n for n in lines if n not in covered], [], "curl lines no example covers")


# each picture the README shows, and the request whose reply it is
with open(os.path.join(REPO, "docs", "api", "digit.png"), "rb") as _f:
    DIGIT_B64 = base64.b64encode(_f.read()).decode("ascii")

# pictures the README shows as inputs of its examples, not replies
INPUTS = {"docs/api/digit.png", "docs/api/picture.png"}

PICTURES = {
    "docs/api/sample16.png": ("GET", "/sample?n=16&seed=7", None),
    "docs/api/sample16-fashion.png": ("GET", "/sample?n=16&seed=7&model=fashion", None),
    "docs/api/morph-3-8.png": ("POST", "/interpolate", {"from": 3, "to": 8, "steps": 10}),
    "docs/api/morph-fashion-sneaker-boot.png": ("POST", "/interpolate?model=fashion",
                                                {"from": 7, "to": 9, "steps": 10, "method": "slerp"}),
    "docs/api/reconstruct.png": ("POST", "/reconstruct", "docs/api/digit.png"),
    "docs/api/decode-zero.png": ("POST", "/decode", {"z": [0.0] * latent_dim()}),
    "docs/api/reconstruct-picture-plain.png": ("POST", "/reconstruct?invert=1&with_input=1", "docs/api/picture.png"),
    "docs/api/reconstruct-picture.png": ("POST", "/reconstruct?normalize=auto&invert=auto&with_input=1",
                                         "docs/api/picture.png"),
    "docs/api/score-heat.png": ("POST", "/score?seed=1&format=png", "docs/api/digit.png"),
    "docs/api/manifold.png": ("GET", "/manifold?n=12", None),
    "docs/api/manifold-2d.png": ("GET", "/manifold?model=mnist2d&n=16", None),
    "docs/api/traverse.png": ("GET", "/traverse?count=6&steps=9", None),
    "docs/api/sample-3.png": ("GET", "/sample?label=3&n=16&seed=7", None),
    "docs/api/complete-chain.png": ("POST", "/complete", {"image": DIGIT_B64, "keep": "top", "seed": 1, "chain": True}),
}


class ExamplePictures(unittest.TestCase):
    """test_pictures_are_current: the README's pictures are the server's replies of today."""

    def test_pictures_are_current(self):
        shown = set(re.findall(r"(docs/api/[\w.-]+\.png)", docsutil.readme()))
        self.assertEqual(sorted(shown - INPUTS), sorted(PICTURES),
                         "the pictures the README shows and the ones this test checks differ")
        write = os.environ.get("VAE_WRITE_PICTURES") == "1"
        with ServerProcess(shipped_model_args() + ["--log-format", "off"], name="vae-server(pictures)") as srv:
            client = Client(srv.port)
            for path, (method, target, body) in sorted(PICTURES.items()):
                with self.subTest(picture=path):
                    if isinstance(body, str):
                        with open(os.path.join(REPO, body), "rb") as f:
                            resp = client.post_png(target, f.read())
                    else:
                        resp = client.request(method, target, body=body)
                    self.assertEqual(resp.status, 200, resp)
                    if write:
                        with open(os.path.join(REPO, path), "wb") as f:
                            f.write(resp.body)
                        continue
                    now = resp.png()
                    with open(os.path.join(REPO, path), "rb") as f:
                        then = pngutil.decode(f.read())
                    self.assertEqual((then.width, then.height), (now.width, now.height), "%s: size" % path)
                    worst = max(abs(a - b) for p, q in zip(then.rgba8(), now.rgba8()) for a, b in zip(p, q))
                    self.assertLessEqual(worst, 2, "%s is not what the server answers now (a pixel differs by %d): "
                                         "VAE_WRITE_PICTURES=1 tests/http/run.sh build ../shared/data/mnist -k pictures" % (path, worst))


class MatchingRules(unittest.TestCase):
    """The comparison can fail (so a pass means the README is current)."""

    def test_rules(self):
        self.assertIsNone(mismatch({"a": [1.0, 2.0, "... 2 more"]}, {"a": [1.00001, 2.0, 3.0, 4.0]}))
        self.assertIsNotNone(mismatch({"a": [1.0, "... 2 more"]}, {"a": [1.0, 2.0]}))
        self.assertIsNotNone(mismatch({"a": [1.0, 2.0]}, {"a": [1.0, 2.1]}))
        self.assertIsNotNone(mismatch({"a": 1, "b": 2}, {"b": 2, "a": 1}))
        self.assertIsNotNone(mismatch({"error": {"message": "x"}}, {"error": {"message": "y"}}))
        self.assertIsNone(mismatch([[1, "... 1 more"], "... 1 more rows"], [[1, 5], [2, 6]]))


if __name__ == "__main__":
    unittest.main()

"""Helpers of the documentation tests: openapi.yaml as data (parsed by the pinned `yaml` npm package,
as Debian's python3 has no YAML parser of its own), the README's sections and tables, and
server/errors.c's error table."""
import json
import os
import re
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
YAML_PACKAGE = os.path.join(HERE, "node_modules", "yaml", "package.json")
OPENAPI = os.path.join(REPO, "openapi.yaml")
README = os.path.join(REPO, "README.md")


def load_yaml(path=OPENAPI):
    """The YAML file as Python data (through node and the yaml package pinned in package.json)."""
    assert os.path.exists(YAML_PACKAGE), "the yaml package is not installed: run `npm ci` in tests/http (run.sh does)"
    script = ("import {parse} from 'yaml'; import {readFileSync} from 'node:fs';"
              "process.stdout.write(JSON.stringify(parse(readFileSync(process.argv[1], 'utf-8'))));")
    proc = subprocess.run(["node", "--input-type=module", "-e", script, path], capture_output=True, text=True,
                          timeout=60, cwd=HERE)
    assert proc.returncode == 0, "cannot parse %s: %s" % (path, proc.stderr[-2000:])
    return json.loads(proc.stdout)


def resolve(doc, obj):
    """Follows $ref (local references only) until obj is not a reference."""
    while isinstance(obj, dict) and "$ref" in obj:
        node = doc
        for part in obj["$ref"].lstrip("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        obj = node
    return obj


def readme():
    with open(README) as f:
        return f.read()


def section(text, heading):
    """The text of the README section `heading` (e.g. "## Errors") up to the next heading of the same
    or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines()
    try:
        start = lines.index(heading)
    except ValueError:
        raise AssertionError("README.md has no section %r" % heading)
    out = []
    for line in lines[start + 1:]:
        m = re.match(r"^(#+) ", line)
        if m and len(m.group(1)) <= level:
            break
        out.append(line)
    return "\n".join(out)


def table(text):
    """The first Markdown table in text: a list of rows, each a list of cell strings (header first,
    separator row dropped). `\\|` inside a cell is a literal |."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if all(re.fullmatch(r":?-+:?", c) for c in cells):
                continue
            rows.append(cells)
        elif rows:
            break
    assert rows, "no table found"
    return rows


def code_spans(cell):
    """The `code` spans of a Markdown cell."""
    return re.findall(r"`([^`]*)`", cell)


def error_table(path=os.path.join(REPO, "server", "errors.c"), header=os.path.join(REPO, "server", "errors.h")):
    """server/errors.c's table: [{kind, status, type, oip_status, retry_after}] in enum order (without
    VAE_E_NONE)."""
    with open(path) as f:
        text = f.read()
    rows = {}
    for m in re.finditer(r"\[(VAE_E_\w+)\]\s*=\s*\{\s*(\d+)\s*,\s*\"([a-z0-9_]+)\"\s*,\s*(\d+)\s*,\s*(\d+)\s*\}", text):
        rows[m.group(1)] = {"kind": m.group(1), "status": int(m.group(2)), "type": m.group(3),
                            "oip_status": int(m.group(4)), "retry_after": int(m.group(5))}
    with open(header) as f:
        enum = re.search(r"typedef enum \{(.*?)\} vae_err_kind;", f.read(), re.S).group(1)
    kinds = [k for k in re.findall(r"\b(VAE_E_\w+)", enum) if k not in ("VAE_E_NONE", "VAE_E_COUNT")]
    missing = [k for k in kinds if k not in rows]
    assert not missing, "errors.c's table has no row for %s (or this parser cannot read it)" % missing
    return [rows[k] for k in kinds]

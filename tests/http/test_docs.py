"""Docs from one source: the README's configuration table against `vae-server --help` (which
server/options.c prints from its options table)."""
import re
import unittest

import docsutil
from server import run_server

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
        text = " ".join(x for x in lines if x)
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

    def test_help_lines_are_readable(self):
        for line in run_server(["--help"]).stdout.splitlines():
            with self.subTest(line=line):
                self.assertLessEqual(len(line), 110, "a --help line is too long")


if __name__ == "__main__":
    unittest.main()

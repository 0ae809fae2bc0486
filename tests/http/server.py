"""Test fixture: runs build/vae-server on a free loopback port and stops it with SIGTERM.

    with ServerProcess(["--api-key", "secret"]) as srv:
        ... srv.port, srv.stdout (access log), srv.stderr ...
    # leaving the block sends SIGTERM and asserts exit code 0

It builds nothing. With VAE_TEST_VALGRIND=1 the server runs under valgrind --leak-check=full and
any valgrind error (invalid access, uninitialised value, definite or possible leak) makes the exit
code non-zero, so the same assertion catches it; each server's valgrind summary is kept in
VALGRIND_REPORTS for the runner to print.
"""
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))

VALGRIND_EXIT = 97
VALGRIND_REPORTS = []  # (description, summary lines) of every server run under valgrind


def build_dir():
    return os.path.abspath(os.environ.get("VAE_TEST_BUILD", os.path.join(REPO, "build")))


def server_binary():
    return os.path.join(build_dir(), "vae-server")


def under_valgrind():
    return os.environ.get("VAE_TEST_VALGRIND", "") not in ("", "0")


def free_port():
    """A port nothing listens on right now (bound to port 0, then released)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


class ServerError(AssertionError):
    pass


class ServerProcess:
    """One vae-server process. args are extra flags; by default --bind 127.0.0.1 --port P are
    added (pass_port=False leaves the port to the environment, e.g. VAE_PORT). env entries are
    added to (or, with value None, removed from) this process's environment."""

    def __init__(self, args=(), env=None, pass_port=True, port=None, valgrind=None, ready_timeout=None,
                 name="vae-server"):
        self.args = list(args)
        self.env_changes = dict(env or {})
        self.pass_port = pass_port
        self.port = port
        self.valgrind = under_valgrind() if valgrind is None else valgrind
        self.ready_timeout = ready_timeout or (240.0 if self.valgrind else 10.0)
        self.name = name
        self.proc = None
        self.exit_code = None
        self._dir = None
        self._final = None  # (stdout, stderr) once stopped

    # --- life cycle ---

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.stop()
        else:
            self.kill()  # the test already failed: do not hide its error behind the exit code
        return False

    def environment(self):
        env = dict(os.environ)
        # the server's own variables come only from the test that wants them
        for key in list(env):
            if key.startswith("VAE_") and not key.startswith("VAE_TEST_"):
                del env[key]
        for key, value in self.env_changes.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def command(self):
        cmd = [server_binary()]
        if self.pass_port:
            cmd += ["--bind", "127.0.0.1", "--port", str(self.port)]
        cmd += self.args
        if self.valgrind:
            cmd = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite,possible",
                   "--error-exitcode=%d" % VALGRIND_EXIT, "--log-file=%s" % self.valgrind_log] + cmd
        return cmd

    @property
    def valgrind_log(self):
        return os.path.join(self._dir, "valgrind.log")

    def start(self):
        if not os.access(server_binary(), os.X_OK):
            raise ServerError("%s is missing: run make first" % server_binary())
        self._dir = tempfile.mkdtemp(prefix="vae-http-test-")
        for attempt in range(3):
            if self.port is None or attempt > 0:
                if not self.pass_port and "VAE_PORT" not in self.env_changes:
                    raise ServerError("pass_port=False needs VAE_PORT in env")
                self.port = free_port() if self.pass_port else int(self.env_changes["VAE_PORT"])
            self._out = open(os.path.join(self._dir, "stdout"), "wb")
            self._err = open(os.path.join(self._dir, "stderr"), "wb")
            self.proc = subprocess.Popen(self.command(), cwd=REPO, env=self.environment(),
                                         stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._err)
            try:
                self._wait_ready()
                return self
            except ServerError:
                # another process took the port between free_port() and bind(): try another
                if (self.pass_port and "already in use" in self.stderr.lower() and attempt < 2):
                    self.kill()
                    continue
                self.kill()
                raise

    def _wait_ready(self):
        deadline = time.monotonic() + self.ready_timeout
        last = "no answer"
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise ServerError("%s exited with %s before it was ready\n--- stderr:\n%s" %
                                  (self.name, code, self.stderr))
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/ready")
                resp = conn.getresponse()
                resp.read()
                conn.close()
                if resp.status == 200:
                    return
                last = "GET /ready answered %d" % resp.status
            except OSError as e:
                last = str(e)
            time.sleep(0.02)
        raise ServerError("%s did not become ready within %.0f s (%s)\n--- stderr:\n%s" %
                          (self.name, self.ready_timeout, last, self.stderr))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, expect_code=0, sig=signal.SIGTERM):
        """Sends sig (SIGTERM), waits, and asserts the exit code (0 unless told otherwise)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.exit_code = self.proc.wait(timeout=300 if self.valgrind else 30)
        except subprocess.TimeoutExpired:
            self.kill()
            raise ServerError("%s did not exit after signal %d\n--- stderr:\n%s" % (self.name, sig, self.stderr))
        self._close_files()
        report = self._valgrind_summary()
        self._final = (self.stdout, self.stderr)  # kept after the files are gone
        if expect_code is not None and self.exit_code != expect_code:
            detail = ""
            if self.exit_code < 0:
                detail = " (killed by signal %d)" % -self.exit_code
            elif self.exit_code == 134:
                detail = " (aborted: SIGABRT, e.g. heap corruption detected by malloc)"
            elif self.valgrind and self.exit_code == VALGRIND_EXIT:
                detail = " (valgrind reported errors)"
            msg = "%s exited with %d%s after signal %d, expected %d\n--- stderr (last 40 lines):\n%s" % (
                self.name, self.exit_code, detail, sig, expect_code, "\n".join(self.stderr.splitlines()[-40:]))
            if self.valgrind:
                msg += "\n--- valgrind log:\n" + self._read(self.valgrind_log)[-20000:]
            msg += "\n(output kept in %s)" % self._dir
            raise ServerError(msg)
        shutil.rmtree(self._dir, ignore_errors=True)
        return report

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_files()

    def _close_files(self):
        for f in (getattr(self, "_out", None), getattr(self, "_err", None)):
            if f is not None and not f.closed:
                f.close()

    def _valgrind_summary(self):
        if not self.valgrind:
            return None
        log = self._read(self.valgrind_log)
        keep = [line.split("== ", 1)[-1] for line in log.splitlines()
                if re.search(r"ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|still reachable"
                             r"|Invalid (read|write)|uninitialised|All heap blocks were freed", line)]
        VALGRIND_REPORTS.append(("%s %s" % (self.name, " ".join(self.args)), keep))
        return keep

    # --- captured output ---

    @staticmethod
    def _read(path):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    @property
    def stdout(self):
        """What the server wrote to stdout so far: the access log."""
        if self._final is not None:
            return self._final[0]
        return self._read(os.path.join(self._dir, "stdout"))

    @property
    def stderr(self):
        if self._final is not None:
            return self._final[1]
        return self._read(os.path.join(self._dir, "stderr"))


def run_server(args, env=None, timeout=30):
    """Runs the binary to completion (for --help, bad flags, ...): CompletedProcess with text output."""
    clean = dict(os.environ)
    for key in list(clean):
        if key.startswith("VAE_") and not key.startswith("VAE_TEST_"):
            del clean[key]
    clean.update(env or {})
    return subprocess.run([server_binary()] + list(args), cwd=REPO, env=clean, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)

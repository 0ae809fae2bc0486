"""Configuration (flags and VAE_* environment variables), start-up failures, the access log,
--healthcheck, limits (--max-batch, --max-pixels) and signals. Each test runs its own server."""
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import pngutil
from common import (MNIST_WEIGHTS, Client, b64, digits, model_args, png_of)
from server import REPO, ServerProcess, free_port, run_server, server_binary, under_valgrind

FLAGS = ("--port", "--bind", "--model", "--threads", "--max-body", "--timeout", "--max-connections",
         "--max-pixels", "--max-batch", "--cors-origin", "--api-key", "--log-format", "--shutdown-grace",
         "--healthcheck", "--help", "--version")
ENV_VARS = ("VAE_PORT", "VAE_BIND", "VAE_MODELS", "VAE_THREADS", "VAE_MAX_BODY", "VAE_TIMEOUT",
            "VAE_MAX_CONNECTIONS", "VAE_MAX_PIXELS", "VAE_MAX_BATCH", "VAE_CORS_ORIGIN", "VAE_API_KEY",
            "VAE_LOG_FORMAT", "VAE_SHUTDOWN_GRACE")
ONE_MODEL = ["--model", "mnist=" + MNIST_WEIGHTS]


def run_on_free_port(args):
    """Runs the server to completion on a free port (another try if the port was taken meanwhile)."""
    for _ in range(3):
        proc = run_server(["--bind", "127.0.0.1", "--port", str(free_port())] + list(args))
        if "already in use" not in proc.stderr.lower():
            break
    return proc


class CommandLine(unittest.TestCase):

    def test_help(self):
        proc = run_server(["--help"])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stderr, "")
        self.assertTrue(proc.stdout.startswith("usage: vae-server"), proc.stdout[:80])
        for flag in FLAGS:
            self.assertRegex(proc.stdout, r"(?m)^\s+%s\b" % re.escape(flag), "--help does not list %s" % flag)
        for var in ENV_VARS:
            self.assertIn(var, proc.stdout, "--help does not name %s" % var)
        self.assertEqual(run_server(["-h"]).stdout, proc.stdout)

    def test_help_columns(self):
        """Every option line keeps a space between the flag's argument and its description."""
        proc = run_server(["--help"])
        for line in proc.stdout.splitlines():
            if line.startswith("  --"):
                with self.subTest(line=line):
                    # "  --flag ARG" then at least two spaces, then the description
                    self.assertRegex(line, r"^  --[a-z-]+( \S+)? {2,}\S", "flag and description run together")

    def test_version(self):
        proc = run_server(["--version"])
        self.assertEqual(proc.returncode, 0)
        self.assertRegex(proc.stdout, r"^vae-server \d+\.\d+\.\d+\n$")

    def test_bad_flags(self):
        for args, fragment in ((["--bogus"], "--bogus"), (["--port", "abc"], "--port"), (["--port"], "needs a value"),
                               (["--port", "70000"], "out of range"), (["--port=0"], "--port"),
                               (["--log-format", "xml"], "text, json or off"), (["--model", "noequals"], "NAME=PATH"),
                               (["--model", "bad name=x"], "model name"), (["--max-body", "1"], "--max-body"),
                               (["--threads", "0"], "--threads"),
                               (ONE_MODEL + ["--model", "mnist=" + MNIST_WEIGHTS], "twice")):
            with self.subTest(args=args):
                proc = run_server(args)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                lines = proc.stderr.splitlines()
                self.assertEqual(len(lines), 1, "want one clear line, got %r" % proc.stderr)
                self.assertIn(fragment, lines[0])
                self.assertEqual(proc.stdout, "")

    def test_bad_environment_value_names_the_variable(self):
        for var, value in (("VAE_PORT", "abc"), ("VAE_MAX_BATCH", "0"), ("VAE_LOG_FORMAT", "yaml")):
            with self.subTest(var=var):
                proc = run_server([], env={var: value})
                self.assertEqual(proc.returncode, 2)
                self.assertIn(var, proc.stderr)
                self.assertEqual(len(proc.stderr.splitlines()), 1)

    def test_missing_weights_file(self):
        proc = run_on_free_port(["--model", "x=model/weights/no-such-file.safetensors"])
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("no-such-file.safetensors", proc.stderr)
        self.assertIn("'x'", proc.stderr)

    def test_corrupt_weights_file(self):
        with tempfile.NamedTemporaryFile(suffix=".safetensors", delete=False) as f:
            f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
        try:
            proc = run_on_free_port(["--model", "x=" + f.name])
            self.assertNotEqual(proc.returncode, 0)
            self.assertIn(os.path.basename(f.name), proc.stderr)
        finally:
            os.unlink(f.name)

    def test_port_in_use(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            port = s.getsockname()[1]
            proc = run_server(["--bind", "127.0.0.1", "--port", str(port)] + ONE_MODEL)
            self.assertNotEqual(proc.returncode, 0)
            self.assertIn("address already in use", proc.stderr.lower())
            self.assertIn(str(port), proc.stderr)
        finally:
            s.close()

    def test_bad_bind_address(self):
        proc = run_server(["--bind", "localhost", "--port", str(free_port())] + ONE_MODEL)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("--bind", proc.stderr)


class Environment(unittest.TestCase):

    def test_port_models_and_key_from_environment(self):
        env = {"VAE_PORT": str(free_port()), "VAE_BIND": "127.0.0.1", "VAE_API_KEY": "envkey",
               "VAE_MODELS": "alpha=%s,beta=%s" % (MNIST_WEIGHTS, MNIST_WEIGHTS)}
        with ServerProcess([], env=env, pass_port=False) as srv:
            self.assertEqual(srv.port, int(env["VAE_PORT"]))
            anonymous = Client(srv.port)
            self.assertEqual(anonymous.get("/v1/models").status, 401)
            resp = Client(srv.port, {"Authorization": "Bearer envkey"}).get("/v1/models")
            self.assertEqual(resp.status, 200)
            self.assertEqual([m["name"] for m in resp.json()["models"]], ["alpha", "beta"])
            self.assertEqual(anonymous.get("/health").status, 200)

    def test_flags_win_over_environment(self):
        env = {"VAE_API_KEY": "envkey", "VAE_MODELS": "alpha=%s" % MNIST_WEIGHTS, "VAE_MAX_BATCH": "4"}
        with ServerProcess(["--api-key", "flagkey", "--model", "gamma=" + MNIST_WEIGHTS], env=env) as srv:
            self.assertEqual(Client(srv.port, {"Authorization": "Bearer envkey"}).get("/v1/models").status, 401)
            resp = Client(srv.port, {"Authorization": "Bearer flagkey"}).get("/v1/models")
            self.assertEqual([m["name"] for m in resp.json()["models"]], ["gamma"])
            # an environment setting without a flag still applies
            self.assertEqual(Client(srv.port, {"Authorization": "Bearer flagkey"}).get("/sample?n=5").status, 422)

    def test_default_models(self):
        with ServerProcess([]) as srv:
            models = Client(srv.port).get("/v1/models").json()["models"]
            self.assertEqual([(m["name"], m["default"]) for m in models], [("mnist", True), ("fashion", False), ("mnist2d", False)])


class AccessLog(unittest.TestCase):

    def traffic(self, client, png):
        """Requests (method, path, status, body bytes) made, HEAD excluded."""
        done = []
        for method, path, body, ctype in (("GET", "/health", None, None), ("POST", "/encode", png, "image/png"),
                                          ("GET", "/no/such", None, None), ("GET", "/sample?n=2&seed=1", None, None),
                                          ("POST", "/decode", b"{", "application/json"), ("OPTIONS", "/encode", None, None)):
            resp = client.request(method, path, body=body, content_type=ctype)
            done.append((method, path.split("?")[0], resp.status, len(resp.body)))
        return done

    def test_text_lines(self):
        srv = ServerProcess(model_args())
        srv.start()
        try:
            done = self.traffic(Client(srv.port), png_of(digits().digit(0)))
        finally:
            srv.stop()
        pattern = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z) (\S+) ([A-Z]+) (\S+) (\d{3}) (\d+) (\d+)us id=([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})$")
        logged = []
        for line in srv.stdout.splitlines():
            m = pattern.match(line)
            self.assertIsNotNone(m, "access log line %r" % line)
            self.assertEqual(m.group(3), "127.0.0.1")
            if m.group(5) != "/ready":  # the fixture's readiness polls
                logged.append((m.group(4), m.group(5), int(m.group(6)), int(m.group(7))))
        self.assertEqual(sorted(logged), sorted(done))

    def test_json_lines(self):
        srv = ServerProcess(model_args() + ["--log-format", "json"])
        srv.start()
        try:
            done = self.traffic(Client(srv.port), png_of(digits().digit(0)))
        finally:
            srv.stop()
        logged = []
        for line in srv.stdout.splitlines():
            entry = json.loads(line)
            for key in ("method", "path", "status", "bytes", "us"):
                self.assertIn(key, entry)
            self.assertIsInstance(entry["us"], int)
            if entry["path"] != "/ready":
                logged.append((entry["method"], entry["path"], entry["status"], entry["bytes"]))
        self.assertEqual(sorted(logged), sorted(done))
        # the server's own messages are JSON too
        for line in srv.stderr.splitlines():
            entry = json.loads(line)
            self.assertIn("level", entry)
            self.assertIn("msg", entry)

    def test_off(self):
        with ServerProcess(model_args() + ["--log-format", "off"]) as srv:
            Client(srv.port).get("/health")
        self.assertEqual(srv.stdout, "")


class Healthcheck(unittest.TestCase):

    def test_probe(self):
        with ServerProcess(ONE_MODEL) as srv:
            proc = run_server(["--healthcheck", "http://127.0.0.1:%d/ready" % srv.port])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            proc = run_server(["--healthcheck"], env={"VAE_PORT": str(srv.port)})
            self.assertEqual(proc.returncode, 0, proc.stderr)
            proc = run_server(["--healthcheck", "http://127.0.0.1:%d/nope" % srv.port])
            self.assertEqual(proc.returncode, 1)
        proc = run_server(["--healthcheck", "http://127.0.0.1:%d/ready" % free_port()])
        self.assertEqual(proc.returncode, 1)

    def test_probe_follows_the_bound_address(self):
        """A server bound to one address (here ::1) is probed there, not on 127.0.0.1, so a
        container configured with VAE_BIND is not reported unhealthy while it serves."""
        port = free_port()
        env = dict(os.environ, VAE_BIND="::1", VAE_PORT=str(port))
        proc = subprocess.Popen([server_binary()] + ONE_MODEL, env=env, cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 10
            code = None
            while time.monotonic() < deadline:
                code = run_server(["--healthcheck"], env={"VAE_BIND": "::1", "VAE_PORT": str(port)}).returncode
                if code == 0:
                    break
                time.sleep(0.05)
            self.assertEqual(code, 0, "the probe of the bound address never succeeded")
            # the server is not on IPv4 loopback at all: an explicit probe there fails
            self.assertEqual(run_server(["--healthcheck", "http://127.0.0.1:%d/ready" % port]).returncode, 1)
        finally:
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=30), 0)


class Limits(unittest.TestCase):

    def test_max_batch(self):
        with ServerProcess(ONE_MODEL + ["--max-batch", "4"]) as srv:
            client = Client(srv.port)
            self.assertEqual(client.get("/sample?n=4").status, 200)
            resp = client.get("/sample?n=5")
            self.assertEqual(resp.status, 422)
            self.assertIn("from 1 to 4", resp.json()["error"]["message"])
            png = b64(png_of(digits().digit(0)))
            resp = client.post("/encode", {"images": [png] * 5})
            self.assertEqual(resp.json()["error"]["type"], "too_many_items")
            resp = client.post("/interpolate", {"from": 3, "to": 8, "steps": 5})
            self.assertEqual(resp.status, 422)
            self.assertIn("2 to 4", resp.json()["error"]["message"])

    def test_grid_with_more_cells_than_max_batch(self):
        """n = --max-batch = 3 is a 2x2 grid (one empty cell): the reply must be right and the
        server must not corrupt memory (it would abort on exit, failing the exit-code check)."""
        with ServerProcess(ONE_MODEL + ["--max-batch", "3"]) as srv:
            client = Client(srv.port)
            for _ in range(3):
                resp = client.get("/sample?n=3&seed=1")
                self.assertEqual(resp.status, 200)
                img = resp.png()
                self.assertEqual((img.width, img.height), (56, 56))
                self.assertEqual(img.rows[40][28:], [0] * 28, "the empty cell is not black")
            pngs = [b64(png_of(digits().digit(k))) for k in range(3)]
            self.assertEqual(client.post("/reconstruct", {"images": pngs}).status, 200)
            self.assertEqual(client.get("/health").status, 200)

    def test_max_pixels(self):
        with ServerProcess(ONE_MODEL + ["--max-pixels", "1000"]) as srv:
            client = Client(srv.port)
            g = digits().digit(0)
            self.assertEqual(client.post("/encode", png_of(g), content_type="image/png").status, 200)
            big = pngutil.grey8(bytes(56 * 56), 56, 56)
            resp = client.post("/encode", big, content_type="image/png")
            self.assertEqual(resp.status, 422)
            self.assertEqual(resp.json()["error"]["type"], "image_too_large")
            self.assertIn("1000", resp.json()["error"]["message"])


def blocks_sigterm(pid, tid):
    """Whether the thread blocks SIGTERM (its SigBlk mask in /proc)."""
    with open("/proc/%d/task/%d/status" % (pid, tid)) as f:
        for line in f:
            if line.startswith("SigBlk:"):
                return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


class Signals(unittest.TestCase):

    def test_sigint_exits_zero(self):
        srv = ServerProcess(ONE_MODEL)
        srv.start()
        self.assertEqual(Client(srv.port).get("/health").status, 200)
        srv.stop(sig=signal.SIGINT)  # waits and asserts exit code 0
        self.assertIn("SIGINT", srv.stderr)

    @unittest.skipIf(under_valgrind(), "valgrind runs the threads itself")
    def test_sigterm_to_any_thread_drains_and_exits_zero(self):
        """The kernel may deliver a process-directed SIGTERM to any thread that does not block it,
        including threads libraries start before main (OpenBLAS's constructor). Whichever thread
        takes it, the server must drain and exit 0. Each thread gets the signal directly (tgkill)
        on a server of its own."""
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        SYS_tgkill = 234  # x86_64
        with ServerProcess(ONE_MODEL) as probe:
            n_threads = len(os.listdir("/proc/%d/task" % probe.proc.pid))
        self.assertGreaterEqual(n_threads, 3, "expected main, worker and library threads")
        tried = 0
        for index in range(n_threads):
            srv = ServerProcess(ONE_MODEL)
            srv.start()
            pid = srv.proc.pid
            tids = sorted(int(t) for t in os.listdir("/proc/%d/task" % pid))
            tid = tids[index % len(tids)]
            with open("/proc/%d/task/%d/comm" % (pid, tid)) as f:
                name = f.read().strip()
            if blocks_sigterm(pid, tid):
                # never chosen by the kernel for a process-directed SIGTERM (ThreadSanitizer's own
                # thread blocks every signal; no thread of the server or its libraries does)
                srv.stop()
                continue
            tried += 1
            self.assertEqual(libc.syscall(SYS_tgkill, pid, tid, signal.SIGTERM), 0)
            srv.stop(sig=0)  # already signalled: waits and asserts exit code 0
            self.assertIn("stopped", srv.stderr, "SIGTERM to thread %d (%s)" % (tid, name))
        self.assertGreaterEqual(tried, 3, "fewer than 3 threads could take SIGTERM")

    def test_sigterm_exits_zero_and_says_so(self):
        srv = ServerProcess(ONE_MODEL)
        srv.start()
        srv.stop()
        self.assertEqual(srv.exit_code, 0)
        self.assertIn("SIGTERM", srv.stderr)
        self.assertIn("stopped", srv.stderr)


if __name__ == "__main__":
    unittest.main()

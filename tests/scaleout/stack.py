#!/usr/bin/env python3
"""The scale-out stack as processes on loopback: N vae-server replicas on free ports and nginx in
front of them on another, with the configuration rendered from docker/nginx/nginx.conf.template by
docker/nginx/render.sh, exactly as the frontend image does (only the upstream addresses differ).

As a module: Stack(build_dir, replicas).start() ... stop(). As a command, it runs another command
with the stack up and tears it down afterwards, whatever happens:

    stack.py [--build DIR] [--replicas N] -- COMMAND [ARGS...]

COMMAND gets FRONTEND_URL (nginx), REPLICA_URLS and REPLICA_PIDS (space-separated) and STACK_DIR
in its environment; its exit status is stack.py's.
"""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class StackError(RuntimeError):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_status(url, timeout=2):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def wait_status(url, want=200, seconds=20, proc=None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if get_status(url) == want:
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.1)
    return False


class Replica:
    def __init__(self, stack, index):
        self.stack, self.index = stack, index
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log_path = os.path.join(stack.dir, "replica-%d.log" % index)
        self.proc = None

    def start(self):
        """Starts the server (the shipped models, found from the repository root) and waits for /ready."""
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.stack.server, "--bind", "127.0.0.1", "--port", str(self.port), "--threads", "2",
             "--shutdown-grace", "5"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        if not wait_status(self.url + "/ready", 200, 30, self.proc):
            raise StackError("replica %d did not get ready on port %d:\n%s" % (self.index, self.port, self.log_tail()))
        return self

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, seconds=15):
        return self.proc.wait(seconds)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines=15):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


class Stack:
    def __init__(self, build_dir="build", replicas=2, base_dir=None):
        self.server = os.path.abspath(os.path.join(ROOT, build_dir, "vae-server"))
        if not os.access(self.server, os.X_OK):
            raise StackError("%s is missing: run make first" % self.server)
        if not shutil.which("nginx"):
            raise StackError("nginx is not installed (apt-get install nginx)")
        self.dir = tempfile.mkdtemp(prefix="vae-stack-", dir=base_dir)
        self.replicas = [Replica(self, i) for i in range(replicas)]
        self.nginx = None
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.access_log = os.path.join(self.dir, "access.log")
        self.error_log = os.path.join(self.dir, "error.log")

    def render_nginx(self):
        conf = os.path.join(self.dir, "nginx.conf")
        env = dict(os.environ,
                   UPSTREAMS=",".join("127.0.0.1:%d" % r.port for r in self.replicas),
                   LISTEN="127.0.0.1:%d" % self.port,
                   WEB_ROOT=os.path.join(ROOT, "docker", "web"),
                   RUNTIME_DIR=os.path.join(self.dir, "nginx"),
                   ACCESS_LOG=self.access_log, ERROR_LOG=self.error_log)
        subprocess.run([os.path.join(ROOT, "docker", "nginx", "render.sh"),
                        os.path.join(ROOT, "docker", "nginx", "nginx.conf.template"), conf],
                       env=env, check=True)
        return conf

    def start(self):
        try:
            for r in self.replicas:
                r.start()
            conf = self.render_nginx()
            test = subprocess.run(["nginx", "-t", "-q", "-e", self.error_log, "-p", self.dir, "-c", conf],
                                  capture_output=True, text=True)
            if test.returncode != 0:
                raise StackError("nginx -t rejects the rendered configuration:\n" + test.stderr)
            # as root, nginx's workers would switch to www-data, which may not read a checkout
            # under a private home directory: here they keep the test's own user
            directives = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
            self.nginx = subprocess.Popen(
                ["nginx", "-e", self.error_log, "-p", self.dir, "-c", conf, "-g", directives],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
            if not wait_status(self.url + "/healthz", 200, 15, self.nginx):
                raise StackError("nginx did not answer on port %d: %s" % (self.port, self.nginx_errors()))
        except BaseException:
            self.stop()
            raise
        return self

    def nginx_errors(self):
        try:
            with open(self.error_log, errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def stop(self, keep_dir=False):
        """Stops nginx and every replica (SIGTERM, then SIGKILL), and removes the directory."""
        procs = ([self.nginx] if self.nginx else []) + [r.proc for r in self.replicas if r.proc]
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 8
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if not keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("no command given")
    stack = Stack(args.build, args.replicas)
    # SIGTERM/SIGINT to this process still tear the stack down (through the finally below)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        stack.start()
        env = dict(os.environ, FRONTEND_URL=stack.url, STACK_DIR=stack.dir,
                   REPLICA_URLS=" ".join(r.url for r in stack.replicas),
                   REPLICA_PIDS=" ".join(str(r.proc.pid) for r in stack.replicas))
        return subprocess.call(command, env=env)
    except StackError as e:
        print("stack: %s" % e, file=sys.stderr)
        return 1
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())

"""Starts and stops `refalign serve-reward` for the integration tests, the load test and the benchmark."""
import os
import re
import signal
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def refalign_binary():
    for path in [os.environ.get("REFALIGN_BIN", ""), os.path.join(ROOT, ".build", "release", "refalign"),
                 os.path.join(ROOT, ".build", "debug", "refalign")]:
        if path and os.access(path, os.X_OK):
            return path
    sys.exit("serve_reward: no refalign binary (set REFALIGN_BIN or run swift build)")


class Server:
    """`with Server(command) as url:` — a server that prints "... on http://HOST:PORT" when listening, stopped
    with SIGTERM."""

    def __init__(self, args):
        self.args = args

    def __enter__(self):
        self.process = subprocess.Popen(self.args, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        match = re.search(r"on (http://\S+)", line)
        if not match:
            self.process.kill()
            raise RuntimeError(f"{self.args[:2]} did not start: {line!r}")
        self.url = match.group(1)
        return self.url

    def stop(self, timeout=30):
        """SIGTERM, then the exit code and the rest of stdout."""
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=timeout)
        return self.process.returncode, out

    def __exit__(self, *exc):
        if self.process.poll() is None:
            self.stop()


class RewardServer(Server):
    """`refalign serve-reward --metric METRIC` on a free loopback port."""

    def __init__(self, metric, *extra):
        super().__init__([refalign_binary(), "serve-reward", "--metric", metric, "--port", "0", *extra])

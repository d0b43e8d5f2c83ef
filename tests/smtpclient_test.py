# smtpclient_test.py: what the Python tests share: the aiosmtpd server
# they start (tests/servers/aiosmtpd-server.py) and a small TAP runner.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Imported by the test scripts next to it (their own directory is on
# sys.path when they run).

import configparser
import email
import email.policy
import os
import shutil
import subprocess
import sys
import tempfile

SERVERS = os.environ.get("SMTPCLIENT_TEST_SERVERS",
                         os.path.join(os.path.dirname(__file__), "servers"))

# Every wait is bounded
STOP_SECONDS = 10


class Server:
    """aiosmtpd on 127.0.0.1 (a free port), storing what it receives in
    a spool directory of its own; it exits when its stdin closes, so it
    never outlives the test.  Usable as a context manager."""

    def __init__(self, *args, spool=None):
        self.owns_spool = spool is None
        self.spool = spool or tempfile.mkdtemp(prefix="smtpclient-test-")
        self.process = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(SERVERS, "aiosmtpd-server.py"),
             "--spool", self.spool, *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.process.stdout.readline().decode()
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError("server did not start: %r" % line)
        self.port = int(line.split()[1])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def messages(self):
        """Every message received, in order: (envelope section, bytes)"""
        found = []
        n = 1
        while os.path.exists(os.path.join(self.spool, "%d.env" % n)):
            env = configparser.ConfigParser(interpolation=None)
            env.read(os.path.join(self.spool, "%d.env" % n))
            with open(os.path.join(self.spool, "%d.eml" % n), "rb") as f:
                found.append((env["envelope"], f.read()))
            n += 1
        return found

    def message(self, n):
        """Message @n (1 for the first) parsed, or None"""
        path = os.path.join(self.spool, "%d.eml" % n)
        if not os.path.exists(path):
            return None
        with open(path, "rb") as f:
            return email.message_from_bytes(f.read(),
                                            policy=email.policy.default)

    def count(self):
        return len([n for n in os.listdir(self.spool) if n.endswith(".env")])

    def stop(self):
        if self.process.stdin and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.owns_spool:
            shutil.rmtree(self.spool, ignore_errors=True)


class Checks:
    """Numbered TAP checks, made as the test goes; failed ones print
    their detail as comments first."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, ok, name, detail=""):
        self.n += 1
        if not ok:
            self.failed += 1
            for line in str(detail).splitlines():
                print("# " + line)
        print("%s %d - %s" % ("ok" if ok else "not ok", self.n, name))
        sys.stdout.flush()
        return ok


class Tap:
    """Functions registered with @tap.test run in order, one TAP line
    each: "ok" when they return, "not ok" when they raise."""

    def __init__(self):
        self.tests = []

    def test(self, function):
        self.tests.append(function)
        return function

    def main(self):
        print("1..%d" % len(self.tests))
        failed = 0
        for n, function in enumerate(self.tests, 1):
            try:
                function()
                print("ok %d - %s" % (n, function.__name__))
            except Exception as e:  # noqa: BLE001 - report every failure
                failed += 1
                print("# %s: %r" % (function.__name__, e))
                print("not ok %d - %s" % (n, function.__name__))
            sys.stdout.flush()
        return 1 if failed else 0

#!/usr/bin/python3
# test-interop.py: the plain, STARTTLS and AUTH cells of the interop
# matrix (tests/test-interop.c) through GObject Introspection (PyGObject),
# against the same real servers: Postfix with Dovecot SASL, and Exim,
# started by tests/servers/mailserver-KIND.py.  TAP output; a server that
# cannot run here makes its cells skip, saying why.
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import base64
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import gi

gi.require_version("SmtpClient", "1.0")
gi.require_version("Gio", "2.0")
gi.require_version("GLib", "2.0")
from gi.repository import Gio, GLib, SmtpClient  # noqa: E402

SERVERS = os.environ["SMTPCLIENT_TEST_SERVERS"]
WAIT_SECONDS = 60
USER_ADDRESS = "user@example.org"
KINDS = ("postfix", "exim")


class MailServer:
    """A launcher of tests/servers/ (protocol: smtpclient-test-mailserver.h)"""

    def __init__(self, kind):
        self.directory = tempfile.mkdtemp(prefix="interop-py-%s-" % kind)
        os.chmod(self.directory, 0o755)
        self.process = subprocess.Popen(
            ["/usr/bin/python3",
             os.path.join(SERVERS, "mailserver-%s.py" % kind),
             "--dir=" + self.directory],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.process.stdout.readline().decode("utf-8").strip()
        self.skip = None
        self.info = None
        if line.startswith("SKIP "):
            self.skip = line[5:]
        elif line.startswith("READY "):
            self.info = json.loads(line[6:])
        else:
            self.stop()
            raise RuntimeError("%s did not start: %r" % (kind, line))

    def messages(self, address):
        new = self.info["mailboxes"][address]
        paths = sorted(glob.glob(os.path.join(new, "*")) +
                       glob.glob(os.path.join(os.path.dirname(new), "cur",
                                              "*")),
                       key=os.path.getmtime)
        out = []
        for path in paths:
            with open(path, "rb") as f:
                out.append(f.read())
        return out

    def wait_messages(self, address, n):
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            messages = self.messages(address)
            if len(messages) >= n:
                return messages
            time.sleep(0.05)
        raise AssertionError("%s has %d messages, expected %d"
                             % (address, len(self.messages(address)), n))

    def stored_is(self, stored, sent):
        if self.info.get("stores_lf"):
            sent = sent.replace(b"\r\n", b"\n")
        return stored.endswith(sent)

    def tls_database(self):
        return Gio.TlsFileDatabase.new(self.info["ca_file"])

    def stop(self):
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=WAIT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def run(task):
    loop = GLib.MainLoop()
    outcome = {}

    def on_done(task, result):
        try:
            outcome["result"] = task.send_finish(result)
        except GLib.Error as error:
            outcome["result"] = error
        loop.quit()

    def on_timeout():
        outcome["result"] = "timeout"
        loop.quit()
        return GLib.SOURCE_REMOVE

    timer = GLib.timeout_add_seconds(WAIT_SECONDS, on_timeout)
    task.send_async(None, on_done)
    loop.run()
    if outcome["result"] != "timeout":
        GLib.source_remove(timer)
    return outcome["result"]


def new_task(server, security, body):
    port = server.info["submissions_port" if security ==
                       SmtpClient.Security.TLS else "smtp_port"]
    task = SmtpClient.Task(server="127.0.0.1", port=port, security=security,
                           to=[USER_ADDRESS], transaction_log=True,
                           tls_database=server.tls_database(), timeout=30,
                           max_retries=0)
    task.set_property("from", "sender@example.org")
    task.props.body = GLib.Bytes.new(body)
    return task


def deliver(server, security, body, **props):
    before = len(server.messages(USER_ADDRESS))
    task = new_task(server, security, body)
    for name, value in props.items():
        task.set_property(name, value)
    result = run(task)
    assert result is True, (result, task.get_transaction_log())
    assert task.get_delivery_state() == SmtpClient.DeliveryState.ACCEPTED
    stored = server.wait_messages(USER_ADDRESS, before + 1)[before]
    assert server.stored_is(stored, body), stored[-200:]
    return task, stored


def cells(server):
    """(name, function) for each cell against @server"""
    def plain():
        deliver(server, SmtpClient.Security.NONE,
                b"Subject: py plain\r\n\r\nfrom PyGObject\r\n")

    def starttls():
        task, stored = deliver(server, SmtpClient.Security.STARTTLS,
                               b"Subject: py tls\r\n\r\nover STARTTLS\r\n")
        assert "-> STARTTLS" in task.get_transaction_log()
        headers = stored.split(b"Subject:")[0]
        assert b"TLS" in headers, headers

    def auth(mechanism):
        def cell():
            password = server.info["password"]
            task, stored = deliver(
                server, SmtpClient.Security.STARTTLS,
                b"Subject: py auth\r\n\r\nauthenticated\r\n",
                auth_mechanism=mechanism, auth_user=server.info["user"],
                auth_password=password)
            log = task.get_transaction_log()
            assert "235" in log, log
            assert password not in log
            assert base64.b64encode(password.encode()).decode() not in log
        cell.__name__ = "auth/" + mechanism
        return cell

    def wrong_password():
        task = new_task(server, SmtpClient.Security.STARTTLS,
                        b"Subject: no\r\n\r\nno\r\n")
        task.props.auth_user = server.info["user"]
        task.props.auth_password = "not-the-password"
        task.props.auth_mechanism = "PLAIN"
        error = run(task)
        assert isinstance(error, GLib.Error), error
        assert error.matches(SmtpClient.Error.quark(),
                             SmtpClient.Error.AUTH_FAILED), error
        assert "535" in error.message
        assert "not-the-password" not in task.get_transaction_log()

    out = [("plain", plain), ("starttls", starttls)]
    out += [("auth/" + m, auth(m)) for m in server.info["mechanisms"]]
    out.append(("auth/wrong-password", wrong_password))
    return out


def main():
    n = 0
    failed = 0
    lines = []
    for kind in KINDS:
        server = MailServer(kind)
        try:
            if server.skip is not None:
                n += 1
                lines.append("ok %d - %s # SKIP %s" % (n, kind, server.skip))
                continue
            for name, function in cells(server):
                n += 1
                try:
                    function()
                    lines.append("ok %d - %s/%s" % (n, kind, name))
                except Exception as e:  # noqa: BLE001 - report every failure
                    failed += 1
                    lines.append("# %s/%s: %r" % (kind, name, e))
                    lines.append("not ok %d - %s/%s" % (n, kind, name))
        finally:
            server.stop()
    print("1..%d" % n)
    print("\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
# test-gir.py: the library through GObject Introspection (PyGObject),
# against a real aiosmtpd server started by the test.  TAP output.
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import sys

import gi

gi.require_version("SmtpClient", "1.0")
gi.require_version("GLib", "2.0")
from gi.repository import GLib, SmtpClient  # noqa: E402

from smtpclient_test import Server, Tap  # noqa: E402

WAIT_SECONDS = 30

tap = Tap()
test = tap.test


def run(task, use_async):
    loop = GLib.MainLoop()
    outcome = {}

    def on_succeeded(task, context, log):
        outcome["signal"] = ("succeeded", context, log)

    def on_failed(task, context, error, log):
        outcome["signal"] = ("failed", context, error)

    def on_done(task, result):
        try:
            outcome["result"] = task.send_finish(result)
        except GLib.Error as e:
            outcome["result"] = e
        loop.quit()

    def on_timeout():
        outcome["timeout"] = True
        loop.quit()
        return GLib.SOURCE_REMOVE

    task.connect("succeeded", on_succeeded)
    task.connect("failed", on_failed)
    if use_async:
        task.send_async(None, on_done)
    else:
        task.connect("succeeded", lambda *a: loop.quit())
        task.connect("failed", lambda *a: loop.quit())
        task.send()
    timer = GLib.timeout_add_seconds(WAIT_SECONDS, on_timeout)
    loop.run()
    if "timeout" not in outcome:
        GLib.source_remove(timer)
    assert "timeout" not in outcome, "the task did not end in time"
    return outcome


@test
def send_with_signals():
    server = Server()
    try:
        task = SmtpClient.Task(server="127.0.0.1", port=server.port,
                               to=["bob@example.org"],
                               transaction_log=True)
        task.set_property("from", "alice@example.org")
        task.props.body = GLib.Bytes.new(b"Subject: gi\n\nfrom python\n")
        task.props.context = GLib.Variant("s", "my-context")
        outcome = run(task, use_async=False)
        kind, context, log = outcome["signal"]
        assert kind == "succeeded", outcome
        assert context.unpack() == "my-context"
        assert "-> MAIL FROM:<alice@example.org>" in log
        assert task.get_reply_code() == 250
        (env, content), = server.messages()
        assert env["mail_from"] == "alice@example.org"
        assert env["rcpt_tos"] == "bob@example.org"
        assert content == b"Subject: gi\r\n\r\nfrom python\r\n", content
    finally:
        server.stop()


@test
def send_async_finish():
    server = Server()
    try:
        task = SmtpClient.Task(server="127.0.0.1", port=server.port,
                               to=["carol@example.org"])
        task.props.body = GLib.Bytes.new(b"Subject: async\n\nhi\n")
        outcome = run(task, use_async=True)
        assert outcome["result"] is True, outcome
        assert outcome["signal"][0] == "succeeded"
        assert len(server.messages()) == 1
    finally:
        server.stop()


@test
def error_domain_in_bindings():
    task = SmtpClient.Task(server="127.0.0.1", port=1, to=["bad<addr>@x"])
    outcome = run(task, use_async=True)
    error = outcome["result"]
    assert isinstance(error, GLib.Error), outcome
    assert error.matches(SmtpClient.Error.quark(),
                         SmtpClient.Error.CONFIGURE), error
    assert outcome["signal"][0] == "failed"


@test
def defaults_and_enums():
    task = SmtpClient.Task()
    assert task.get_property("from") == "root@localhost"
    assert list(task.props.to) == ["root@localhost"]
    assert task.props.server == "localhost"
    assert task.props.port == 25
    assert task.props.timeout == 30
    assert task.props.my_hostname == "localhost"
    assert task.props.security == SmtpClient.Security.NONE
    task.props.security = SmtpClient.Security.TLS
    assert task.props.port == 465
    session = SmtpClient.Session()
    assert session.props.max_connections == 1
    assert session.props.idle_timeout == 30


@test
def session_statistics_and_timings():
    server = Server()
    try:
        session = SmtpClient.Session(server="127.0.0.1", port=server.port,
                                     max_retries=1, retry_delay=10,
                                     max_messages_per_minute=0)
        tasks = []
        for n in range(3):
            task = SmtpClient.Task(session=session, to=["dan@example.org"])
            task.props.body = GLib.Bytes.new(b"Subject: %d\n\nbatch\n" % n)
            outcome = run(task, use_async=True)
            assert outcome["result"] is True, outcome
            tasks.append(task)
        stats = session.get_statistics()
        assert stats.get_type_string() == "a{sv}"
        assert stats["messages-accepted"] == 3, stats
        assert stats["messages-failed"] == 0
        assert stats["connections-opened"] == 1
        assert stats["connections-reused"] == 2
        assert stats["retries"] == 0
        assert stats["bytes-sent"] > 0
        for task in tasks:
            assert task.get_attempts() == 1
            assert (task.get_delivery_state() ==
                    SmtpClient.DeliveryState.ACCEPTED)
            assert task.get_recipient_reply_code("dan@example.org") == 250
            timings = task.get_timings().unpack()
            assert set(timings) == {"connect", "tls", "auth", "envelope",
                                    "data", "total"}, timings
            assert 0 < timings["total"] < WAIT_SECONDS
        assert tasks[0].get_timings()["connect"] > 0
        assert tasks[1].get_timings()["connect"] == 0
        assert len(server.messages()) == 3
    finally:
        server.stop()


@test
def reach_properties():
    # Per message: on the task only
    task = SmtpClient.Task()
    assert task.props.binary_mime is False
    assert task.props.require_tls is False
    # Connection settings: on the task and the session
    for obj in (task, SmtpClient.Session()):
        assert obj.props.chunking is True
        assert obj.props.protocol == SmtpClient.Protocol.SMTP
        obj.props.protocol = SmtpClient.Protocol.LMTP
        obj.props.server = "/run/dovecot/lmtp"
        assert obj.props.protocol == SmtpClient.Protocol.LMTP
        assert obj.props.server == "/run/dovecot/lmtp"


@test
def discovery_through_bindings():
    loop = GLib.MainLoop()
    outcome = {}

    def on_done(source, result):
        try:
            outcome["session"] = \
                SmtpClient.Session.new_for_domain_finish(result)
        except GLib.Error as error:
            outcome["error"] = error
        loop.quit()

    SmtpClient.Session.new_for_domain_async("not a/domain", None, on_done)
    GLib.timeout_add_seconds(WAIT_SECONDS, loop.quit)
    loop.run()
    error = outcome.get("error")
    assert error is not None, outcome
    assert error.matches(SmtpClient.Error.quark(),
                         SmtpClient.Error.CONFIGURE), error
    assert "not a mail domain" in error.message, error.message


if __name__ == "__main__":
    sys.exit(tap.main())

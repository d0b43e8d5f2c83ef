#!/usr/bin/python3
# test-cli-recipients.py: smtpclient-send -t (recipients from the To, Cc and
# Bcc fields, Bcc removed, the body streamed) and the exit codes that
# --help documents, against aiosmtpd.  TAP output.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Environment (set by tests/meson.build): SMTPCLIENT_SEND,
# SMTPCLIENT_TEST_SERVERS.

import os
import subprocess
import sys
import tempfile

import smtpclient_test
from smtpclient_test import Tap

SEND = os.environ["SMTPCLIENT_SEND"]
WAIT_SECONDS = 60

tap = Tap()
test = tap.test


class Server(smtpclient_test.Server):
    def send(self, *args, stdin=b""):
        return subprocess.run(
            [SEND, "--server", "127.0.0.1", "--port", str(self.port), *args],
            input=stdin, capture_output=True, timeout=WAIT_SECONDS,
            env=dict(os.environ, LANGUAGE="en", LC_ALL="C.UTF-8"))


def rcpts(envelope):
    return envelope["rcpt_tos"].split(";") if envelope["rcpt_tos"] else []


MESSAGE = (
    b"From: Jane <jane@example.org>\n"
    b"To: \"Doe, John\" <john@example.org>, bob@example.org (Bob),\n"
    b"\tcarol@example.org\n"
    b"cc: team: x@example.org, Why <y@example.org>;, \n"
    b"Subject: -t test\n"
    b"BCC: secret@example.org,\n"
    b"  Hidden One <hidden@example.org>\n"
    b"X-After-Bcc: kept\n"
    b"\n"
    b"Body line 1\n"
    b"Bcc: this is body text, not a header <no@example.org>\n"
    b"To: neither <no2@example.org>\n")

EXPECTED_RCPTS = ["extra@example.org", "john@example.org",
                  "bob@example.org", "carol@example.org", "x@example.org",
                  "y@example.org", "secret@example.org",
                  "hidden@example.org"]

EXPECTED_CONTENT = (
    b"From: Jane <jane@example.org>\r\n"
    b"To: \"Doe, John\" <john@example.org>, bob@example.org (Bob),\r\n"
    b"\tcarol@example.org\r\n"
    b"cc: team: x@example.org, Why <y@example.org>;, \r\n"
    b"Subject: -t test\r\n"
    b"X-After-Bcc: kept\r\n"
    b"\r\n"
    b"Body line 1\r\n"
    b"Bcc: this is body text, not a header <no@example.org>\r\n"
    b"To: neither <no2@example.org>\r\n")


@test
def read_recipients_from_stdin():
    with Server() as server:
        result = server.send("-t", "extra@example.org", stdin=MESSAGE)
        assert result.returncode == 0, result
        (envelope, content), = server.messages()
        assert rcpts(envelope) == EXPECTED_RCPTS, rcpts(envelope)
        assert content == EXPECTED_CONTENT, content


@test
def read_recipients_from_message_file():
    with Server() as server, tempfile.NamedTemporaryFile() as f:
        f.write(MESSAGE.replace(b"\n", b"\r\n"))
        f.flush()
        result = server.send("--read-recipients", "--message-file", f.name)
        assert result.returncode == 0, result
        (envelope, content), = server.messages()
        assert rcpts(envelope) == EXPECTED_RCPTS[1:], rcpts(envelope)
        assert content == EXPECTED_CONTENT, content


@test
def large_body_is_streamed_intact():
    body = b"".join(b"line %07d of a long body\n" % i for i in range(200000))
    with Server() as server:
        result = server.send("-t", stdin=b"To: big@example.org\nBcc: "
                             b"b2@example.org\nSubject: big\n\n" + body)
        assert result.returncode == 0, result
        (envelope, content), = server.messages()
        assert rcpts(envelope) == ["big@example.org", "b2@example.org"]
        assert content == (b"To: big@example.org\r\nSubject: big\r\n\r\n" +
                           body.replace(b"\n", b"\r\n")), len(content)


@test
def header_only_message():
    with Server() as server:
        result = server.send("-t", stdin=b"To: a@example.org\nBcc: "
                             b"b@example.org")
        assert result.returncode == 0, result
        (envelope, content), = server.messages()
        assert rcpts(envelope) == ["a@example.org", "b@example.org"]
        assert content == b"To: a@example.org\r\n", content


@test
def body_without_header():
    with Server() as server:
        result = server.send("-t", "only@example.org",
                             stdin=b"Just text, no header\nTo: x@y\n")
        assert result.returncode == 0, result
        (envelope, content), = server.messages()
        assert rcpts(envelope) == ["only@example.org"]
        assert content == b"Just text, no header\r\nTo: x@y\r\n", content


@test
def no_recipient_anywhere_is_a_usage_error():
    with Server() as server:
        result = server.send("-t", stdin=b"Subject: nobody\n\nbody\n")
        assert result.returncode == 2, result
        assert result.stderr == b"smtpclient-send: No recipient given, and " \
            b"the message has no To, Cc or Bcc field\n", result.stderr
        assert server.messages() == []


@test
def exit_status_1_when_refused():
    with Server("--refuse-rcpt", "nobody@example.org") as server:
        result = server.send("nobody@example.org", stdin=b"Subject: x\n\nx\n")
        assert result.returncode == 1, result
        assert result.stderr.startswith(b"smtpclient-send: "), result
        assert result.stderr.count(b"\n") == 1, result.stderr


@test
def exit_status_2_for_usage():
    with Server() as server:
        result = server.send("--no-such-option", "a@example.org")
        assert result.returncode == 2, result
        result = server.send(stdin=b"x")
        assert result.returncode == 2, result


@test
def exit_status_3_for_network():
    with Server() as server:
        port = server.port
    # the server has stopped: nothing listens on its port any more
    result = subprocess.run(
        [SEND, "--server", "127.0.0.1", "--port", str(port),
         "a@example.org"], input=b"x\n", capture_output=True,
        timeout=WAIT_SECONDS)
    assert result.returncode == 3, result


@test
def exit_status_4_for_unreadable_message():
    with Server() as server:
        result = server.send("--message-file", "/nonexistent/message.eml",
                             "a@example.org")
        assert result.returncode == 4, result
        result = server.send("-t", "--message-file",
                             "/nonexistent/message.eml")
        assert result.returncode == 4, result
        assert server.messages() == []


@test
def help_documents_exit_status_and_t():
    result = subprocess.run([SEND, "--help"], capture_output=True,
                            timeout=WAIT_SECONDS,
                            env=dict(os.environ, LANGUAGE="en",
                                     LC_ALL="C.UTF-8"))
    out = result.stdout.decode()
    assert result.returncode == 0, result
    assert "-t, --read-recipients" in out, out
    for line in ("  0  the server accepted the message",
                 "  1  the server refused the message, a recipient or the "
                 "credentials",
                 "  2  bad usage or settings (including an unreadable "
                 "password or CA file)",
                 "  3  network, TLS, timeout or protocol failure",
                 "  4  the message could not be read"):
        assert line in out, line


if __name__ == "__main__":
    sys.exit(tap.main())

#!/usr/bin/python3
# test-gtk.py: the GTK 4 example (examples/gtk/compose.py) under Xvfb.  The
# app runs tests/test-gtk-selftest.py once its window is shown, which fills
# the fields and presses Send through the widget API; this script starts
# the servers, runs the app, and checks what arrived and what the app saw.
# It also leaves the window's screenshot in the build directory.  TAP.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Environment (set by tests/meson.build):
#   SMTPCLIENT_TEST_SERVERS  tests/servers
#   SMTPCLIENT_COMPOSE       examples/gtk/compose.py
#   SMTPCLIENT_SCREENSHOT    where to save the PNG (in the build tree)
#   GI_TYPELIB_PATH, LD_LIBRARY_PATH  the build tree's library

import email
import email.policy
import json
import os
import shutil
import subprocess
import sys
import tempfile

from smtpclient_test import Checks, Server

HERE = os.path.dirname(os.path.abspath(__file__))
SERVERS = os.environ["SMTPCLIENT_TEST_SERVERS"]
COMPOSE = os.environ["SMTPCLIENT_COMPOSE"]
SCREENSHOT = os.environ["SMTPCLIENT_SCREENSHOT"]
WAIT_SECONDS = 120


def main():
    if shutil.which("xvfb-run") is None:
        print("Bail out! xvfb-run is not installed (Debian package xvfb); "
              "tests/install-deps.sh installs it")
        return 1

    tmp = tempfile.mkdtemp(prefix="smtpclient-gtk-")
    servers = []
    checks = Checks()
    try:
        certs = os.path.join(tmp, "certs")
        os.mkdir(certs)
        subprocess.run(["sh", os.path.join(SERVERS, "make-certs.sh"), certs],
                       check=True, capture_output=True, timeout=60)
        for name in ("plain", "tls"):
            os.mkdir(os.path.join(tmp, name))
        plain = Server(spool=os.path.join(tmp, "plain"))
        servers.append(plain)
        tls = Server("--tls-cert", os.path.join(certs, "self-signed.pem"),
                     "--tls-key", os.path.join(certs, "self-signed.key"),
                     spool=os.path.join(tmp, "tls"))
        servers.append(tls)

        attachment = os.path.join(tmp, "report.csv")
        with open(attachment, "w") as f:
            f.write("quarter,revenue\nQ1,100\nQ2,120\n")
        result_path = os.path.join(tmp, "result.json")
        if os.path.exists(SCREENSHOT):
            os.unlink(SCREENSHOT)

        env = dict(os.environ)
        env.update({
            "SMTPCLIENT_COMPOSE_SELFTEST":
                os.path.join(HERE, "test-gtk-selftest.py"),
            "SELFTEST_PORT": str(plain.port),
            "SELFTEST_TLS_PORT": str(tls.port),
            "SELFTEST_ATTACHMENT": attachment,
            "SELFTEST_SCREENSHOT": SCREENSHOT,
            "SELFTEST_RESULT": result_path,
            "GDK_BACKEND": "x11",
            "GSK_RENDERER": "cairo",   # no GL in Xvfb
            "GTK_A11Y": "none",
            "NO_AT_BRIDGE": "1",
            "LANGUAGE": "en", "LC_ALL": "C.UTF-8",
        })
        env.pop("G_DEBUG", None)
        print("1..17")
        try:
            run = subprocess.run(
                ["xvfb-run", "-a", "-s", "-screen 0 1024x768x24",
                 "/usr/bin/python3", COMPOSE],
                env=env, capture_output=True, timeout=WAIT_SECONDS,
                stdin=subprocess.DEVNULL)
            status = run.returncode
            output = (run.stdout + run.stderr).decode("utf-8", "replace")
        except subprocess.TimeoutExpired as e:
            status, output = "timeout", str(e)
        for line in output.splitlines():
            print("# app: " + line)
        checks.check(status == 0, "the app ran its self-test and exited 0",
                     "status %s" % status)

        results = {}
        if os.path.exists(result_path):
            with open(result_path) as f:
                results = json.load(f)
        print("# results: " + json.dumps(results))
        steps = {s["name"]: s for s in results.get("steps", [])}

        plain_step = steps.get("plain", {})
        checks.check(plain_step.get("outcome") == "sent",
                     "Send delivered the message", plain_step)
        checks.check(results.get("send_sensitive_while_sending") is False,
                     "Send is insensitive while sending")
        checks.check(plain_step.get("progress_fraction") == 1.0,
                     "the progress bar reached the end", plain_step)
        checks.check(str(plain_step.get("progress_text", ""))
                     .startswith("Sent: 250"),
                     "the progress bar shows the server's reply", plain_step)

        message = plain.message(1)
        checks.check(plain.count() == 1 and message is not None,
                     "one message arrived at the plain server")
        if message is None:
            message = email.message_from_string("")
        checks.check(message["Subject"] == "Quarterly report" and
                     message["To"] == "alice@example.org, bob@example.org",
                     "its header has the fields typed in",
                     "%s / %s" % (message["Subject"], message["To"]))
        checks.check(message.get_content_type() == "multipart/mixed",
                     "it is a MIME multipart", message.get_content_type())
        parts = list(message.iter_attachments()) if message.is_multipart() \
            else []
        checks.check(len(parts) == 1 and
                     parts[0].get_filename() == "report.csv" and
                     parts[0].get_content() == "quarter,revenue\nQ1,100\n"
                                               "Q2,120\n",
                     "the attachment arrived intact",
                     [(p.get_filename(), p.get_content()) for p in parts])
        body = message.get_body(("plain",)) if message.is_multipart() \
            else None
        checks.check(body is not None and
                     "the report is attached" in body.get_content(),
                     "the body arrived")

        prompt = results.get("certificate_prompt", {})
        checks.check("Trust the certificate of 127.0.0.1?" ==
                     prompt.get("text") and "not signed by a known "
                     "authority" in prompt.get("secondary_text", ""),
                     "a self-signed certificate brings up the prompt",
                     prompt)
        checks.check(prompt.get("first_outcome") is not None and
                     prompt.get("first_outcome") != "sent",
                     "the first attempt was refused", prompt)
        cert_step = steps.get("certificate", {})
        checks.check(cert_step.get("outcome") == "sent" and tls.count() == 1,
                     "after trusting it, the message went over TLS",
                     cert_step)

        error = results.get("error_dialog", {})
        checks.check(error.get("visible") is True and
                     error.get("text") == "The message was not sent",
                     "an error is shown in a dialog", error)
        checks.check(error.get("secondary_text") == error.get("outcome") and
                     "Dave <dave@example.org>" in error.get("secondary_text",
                                                          "") and
                     "\n" not in error.get("secondary_text", ""),
                     "the dialog shows the error's one-line message", error)
        checks.check(plain.count() == 1,
                     "nothing more arrived for the refused address")

        shot = results.get("screenshot", {})
        header = b""
        if os.path.exists(SCREENSHOT):
            with open(SCREENSHOT, "rb") as f:
                header = f.read(8)
        checks.check(header == b"\x89PNG\r\n\x1a\n" and
                     shot.get("size", [0, 0])[0] > 300,
                     "the screenshot was saved as PNG to %s" % SCREENSHOT,
                     shot)
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())

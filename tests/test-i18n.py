#!/usr/bin/python3
# test-i18n.py: the library's errors and smtpclient-send speak the user's
# language (German and French catalogues built in the build tree), and the
# catalogues are complete.  TAP output.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Environment (set by tests/meson.build):
#   SMTPCLIENT_LOCALEDIR  the build tree's po/ (LL/LC_MESSAGES/*.mo)
#   SMTPCLIENT_SEND       the smtpclient-send program to run
#   SMTPCLIENT_PO_DIR     the source po/ directory (LINGUAS, *.po)
#   SMTPCLIENT_SRCDIR     the source root (for POTFILES.in)
#   GI_TYPELIB_PATH, LD_LIBRARY_PATH  the build tree's library and typelib

import gettext
import os
import re
import subprocess
import sys
import tempfile

LOCALEDIR = os.environ["SMTPCLIENT_LOCALEDIR"]
SEND = os.environ["SMTPCLIENT_SEND"]
PO_DIR = os.environ["SMTPCLIENT_PO_DIR"]
SRCDIR = os.environ["SMTPCLIENT_SRCDIR"]
DOMAIN = "smtpclient-1.0"
WAIT_SECONDS = 60

tests = []


def test(function):
    tests.append(function)
    return function


def language_env(language):
    env = dict(os.environ)
    # gettext ignores LANGUAGE in the "C" locale; C.UTF-8 exists everywhere
    env.update(LANGUAGE=language, LANG="C.UTF-8", LC_ALL="C.UTF-8")
    return env


# A CONFIGURE error raised by the library, in a fresh Python process so that
# the locale is set before the library binds its catalogue.
LIBRARY_ERROR_SCRIPT = r'''
import locale
locale.setlocale(locale.LC_ALL, "")
import gi
gi.require_version("SmtpClient", "1.0")
from gi.repository import GLib, SmtpClient

task = SmtpClient.Task(to=["Jane <jane@example.org>"], server="127.0.0.1",
                       port=9)
loop = GLib.MainLoop()
outcome = []

def on_done(task, result):
    try:
        task.send_finish(result)
        outcome.append("sent")
    except GLib.Error as e:
        outcome.append("%s %d %s" % (e.domain, e.code, e.message))
    loop.quit()

task.send_async(None, on_done)
GLib.timeout_add_seconds(30, loop.quit)
loop.run()
print(outcome[0] if outcome else "no outcome")
'''


def library_error(language):
    result = subprocess.run(
        ["/usr/bin/python3", "-c", LIBRARY_ERROR_SCRIPT],
        env=language_env(language), capture_output=True,
        timeout=WAIT_SECONDS)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode("utf-8").strip()


def run_send(language, *args):
    return subprocess.run([SEND, *args], env=language_env(language),
                          stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=WAIT_SECONDS)


@test
def library_error_in_german():
    out = library_error("de")
    assert out.startswith("smtp-client-error-quark 2 "), out
    assert "Die Adresse „Jane <jane@example.org>“ enthält ein unzulässiges " \
           "Zeichen" in out, out


@test
def library_error_in_french():
    out = library_error("fr")
    assert out.startswith("smtp-client-error-quark 2 "), out
    assert "L’adresse « Jane <jane@example.org> » contient un caractère " \
           "interdit" in out, out


@test
def library_error_untranslated_in_english():
    out = library_error("en")
    assert "The address “Jane <jane@example.org>” contains a character " \
           "that is not allowed" in out, out


@test
def send_help_in_german():
    result = run_send("de", "--help")
    out = result.stdout.decode("utf-8")
    assert result.returncode == 0, result
    assert "EMPFÄNGER… – eine Nachricht per SMTP senden" in out, out
    assert "--server=RECHNER" in out and "Der SMTP-Server" in out, out
    assert "-t, --read-recipients" in out, out
    assert "Exit-Status:" in out and \
           "  2  falscher Aufruf oder falsche Einstellungen" in out, out


@test
def send_help_in_french():
    result = run_send("fr", "--help")
    out = result.stdout.decode("utf-8")
    assert result.returncode == 0, result
    assert "DESTINATAIRE… — envoyer un message par SMTP" in out, out
    assert "Code de retour" in out, out


@test
def send_usage_error_in_german():
    result = run_send("de")
    err = result.stderr.decode("utf-8")
    assert result.returncode == 2, result
    assert err == "smtpclient-send: Kein Empfänger angegeben\n", err


@test
def plural_forms():
    for language, one, many in (
            ("de", "Keine Antwort vom Server seit 1 Sekunde",
             "Keine Antwort vom Server seit 30 Sekunden"),
            ("fr", "Pas de réponse du serveur depuis 1 seconde",
             "Pas de réponse du serveur depuis 30 secondes")):
        catalogue = gettext.translation(DOMAIN, LOCALEDIR, [language])
        for n, expected in ((1, one), (30, many)):
            text = catalogue.ngettext(
                "No response from the server for %u second",
                "No response from the server for %u seconds", n) % n
            assert text == expected, (language, n, text)
    # French uses the singular for 0 as well, German the plural
    fr = gettext.translation(DOMAIN, LOCALEDIR, ["fr"])
    assert fr.ngettext("No response from the server for %u second",
                       "No response from the server for %u seconds",
                       0).endswith("seconde")


def xgettext_template(directory):
    """The current template, made as the smtpclient-1.0-pot target makes it
    (meson's glib preset), but into @directory instead of the source tree."""
    pot = os.path.join(directory, DOMAIN + ".pot")
    subprocess.run(
        ["xgettext", "--package-name=" + DOMAIN, "-p", directory,
         "-D", SRCDIR, "-k_", "-o", DOMAIN + ".pot",
         "--files-from=" + os.path.join(PO_DIR, "POTFILES.in"),
         "--from-code=UTF-8", "--add-comments", "--keyword=_",
         "--keyword=N_", "--keyword=C_:1c,2", "--keyword=NC_:1c,2",
         "--keyword=g_dcgettext:2", "--keyword=g_dngettext:2,3",
         "--keyword=g_dpgettext2:2c,3", "--flag=N_:1:pass-c-format",
         "--flag=C_:2:pass-c-format", "--flag=NC_:2:pass-c-format",
         "--flag=g_dngettext:2:pass-c-format",
         "--flag=g_strdup_printf:1:c-format",
         "--flag=g_string_printf:2:c-format",
         "--flag=g_string_append_printf:2:c-format",
         "--flag=g_error_new:3:c-format",
         "--flag=g_set_error:4:c-format",
         "--flag=g_markup_printf_escaped:1:c-format",
         "--flag=g_log:3:c-format", "--flag=g_print:1:c-format",
         "--flag=g_printerr:1:c-format", "--flag=g_printf:1:c-format",
         "--flag=g_fprintf:2:c-format", "--flag=g_sprintf:2:c-format",
         "--flag=g_snprintf:3:c-format"],
        check=True, capture_output=True, timeout=WAIT_SECONDS)
    return pot


@test
def catalogues_are_complete():
    with open(os.path.join(PO_DIR, "LINGUAS")) as f:
        languages = [w for line in f for w in line.split()
                     if not line.startswith("#")]
    assert "de" in languages and "fr" in languages, languages
    with tempfile.TemporaryDirectory(prefix="smtpclient-i18n-") as tmp:
        pot = xgettext_template(tmp)
        for language in languages:
            merged = os.path.join(tmp, language + ".po")
            subprocess.run(
                ["msgmerge", "--quiet", "--no-fuzzy-matching", "-o", merged,
                 os.path.join(PO_DIR, language + ".po"), pot],
                check=True, timeout=WAIT_SECONDS)
            result = subprocess.run(
                ["msgfmt", "--check", "--statistics", "-o", os.devnull,
                 merged], capture_output=True, timeout=WAIT_SECONDS)
            stats = result.stderr.decode().strip()
            print("# %s: %s" % (language, stats))
            assert result.returncode == 0, stats
            assert re.fullmatch(r"\d+ translated messages\.", stats), \
                "%s: %s" % (language, stats)


def main():
    print("1..%d" % len(tests))
    failed = 0
    for i, function in enumerate(tests, 1):
        name = function.__name__
        try:
            function()
            print("ok %d - %s" % (i, name))
        except Exception as e:  # noqa: BLE001 - report any failure as TAP
            failed += 1
            for line in ("%s: %s" % (type(e).__name__, e)).splitlines():
                print("# " + line)
            print("not ok %d - %s" % (i, name))
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
# compose.py: a small GTK 4 mail composer on libsmtpclient.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Run:  python3 compose.py
#
# A compose window (server, security, sender, recipients, subject, body, an
# attachment) that builds a MIME message with Python's email package and
# sends it with SmtpClient.Task.send_async().  The progress bar follows the
# task's "progress" signal; when the server's certificate does not verify,
# the "accept-certificate" signal refuses it and remembers it, and the
# window asks the user whether to trust it (and, if so, sends again with
# the certificate pinned by its SHA-256 fingerprint); errors are shown in a
# dialog with the error's one-line message.
#
# For automated tests: when the environment variable
# SMTPCLIENT_COMPOSE_SELFTEST names a Python file, that file is run once the
# window is shown, with `app` and `window` in its namespace (see
# tests/test-gtk-selftest.py).

import email.message
import email.policy
import email.utils
import hashlib
import locale
import mimetypes
import os
import sys

import gi

gi.require_version("Gtk", "4.0")
gi.require_version("SmtpClient", "1.0")
from gi.repository import Gio, GLib, Gtk, SmtpClient  # noqa: E402

SECURITY_MODES = [
    ("None", SmtpClient.Security.NONE),
    ("STARTTLS if available", SmtpClient.Security.STARTTLS_IF_AVAILABLE),
    ("STARTTLS", SmtpClient.Security.STARTTLS),
    ("TLS", SmtpClient.Security.TLS),
]


def build_message(sender, recipients, subject, text, attachment_path):
    """A MIME message (multipart/mixed when there is an attachment), as
    bytes with CRLF line endings."""
    message = email.message.EmailMessage(policy=email.policy.SMTP)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Date"] = email.utils.formatdate(localtime=True)
    message["Message-ID"] = email.utils.make_msgid()
    message.set_content(text)
    if attachment_path:
        kind, _ = mimetypes.guess_type(attachment_path)
        maintype, subtype = (kind or "application/octet-stream").split("/", 1)
        with open(attachment_path, "rb") as f:
            message.add_attachment(f.read(), maintype=maintype,
                                   subtype=subtype,
                                   filename=os.path.basename(attachment_path))
    return message.as_bytes()


def certificate_fingerprint(certificate):
    return hashlib.sha256(bytes(certificate.props.certificate)).hexdigest()


class ComposeWindow(Gtk.ApplicationWindow):
    def __init__(self, app):
        super().__init__(application=app, title="Compose — libsmtpclient")
        self.set_default_size(560, 560)
        header = Gtk.HeaderBar()
        header.set_title_widget(Gtk.Label(label="New Message"))
        self.set_titlebar(header)
        self.attachment = None
        self.task = None
        self.cancellable = None
        self.pinned = set()            # trusted certificate fingerprints
        self.refused_certificate = None
        self.last_outcome = None       # "sent", or the error message

        grid = Gtk.Grid(row_spacing=6, column_spacing=12, margin_top=12,
                        margin_bottom=12, margin_start=12, margin_end=12)
        self.set_child(grid)
        row = 0

        def add_row(label, widget):
            nonlocal row
            grid.attach(Gtk.Label(label=label, xalign=1), 0, row, 1, 1)
            widget.set_hexpand(True)
            grid.attach(widget, 1, row, 1, 1)
            row += 1
            return widget

        server_box = Gtk.Box(spacing=6)
        self.server_entry = Gtk.Entry(text="localhost", hexpand=True)
        self.port_spin = Gtk.SpinButton.new_with_range(0, 65535, 1)
        self.port_spin.set_value(25)
        self.port_spin.set_tooltip_text("0: the default for the security mode")
        server_box.append(self.server_entry)
        server_box.append(self.port_spin)
        add_row("Server", server_box)

        self.security_dropdown = add_row(
            "Security", Gtk.DropDown.new_from_strings(
                [name for name, _ in SECURITY_MODES]))

        auth_box = Gtk.Box(spacing=6)
        self.user_entry = Gtk.Entry(placeholder_text="user (optional)",
                                    hexpand=True)
        self.password_entry = Gtk.PasswordEntry(show_peek_icon=True,
                                                hexpand=True)
        auth_box.append(self.user_entry)
        auth_box.append(self.password_entry)
        add_row("Login", auth_box)

        self.from_entry = add_row("From", Gtk.Entry(
            placeholder_text="you@example.org"))
        self.to_entry = add_row("To", Gtk.Entry(
            placeholder_text="someone@example.org, other@example.org"))
        self.subject_entry = add_row("Subject", Gtk.Entry())

        self.body_view = Gtk.TextView(wrap_mode=Gtk.WrapMode.WORD_CHAR,
                                      top_margin=6, left_margin=6)
        scrolled = Gtk.ScrolledWindow(child=self.body_view, vexpand=True,
                                      has_frame=True)
        scrolled.set_size_request(-1, 180)
        grid.attach(scrolled, 0, row, 2, 1)
        row += 1

        attach_box = Gtk.Box(spacing=6)
        self.attach_button = Gtk.Button(label="Attach a file…")
        self.attach_button.connect("clicked", self.on_attach_clicked)
        self.attachment_label = Gtk.Label(label="No attachment", xalign=0,
                                          hexpand=True,
                                          ellipsize=3)  # Pango END
        attach_box.append(self.attach_button)
        attach_box.append(self.attachment_label)
        grid.attach(attach_box, 0, row, 2, 1)
        row += 1

        self.progress_bar = Gtk.ProgressBar(show_text=True, text="")
        grid.attach(self.progress_bar, 0, row, 2, 1)
        row += 1

        buttons = Gtk.Box(spacing=6, halign=Gtk.Align.END)
        self.cancel_button = Gtk.Button(label="Cancel", sensitive=False)
        self.cancel_button.connect("clicked", self.on_cancel_clicked)
        self.send_button = Gtk.Button(label="Send")
        self.send_button.add_css_class("suggested-action")
        self.send_button.connect("clicked", self.on_send_clicked)
        buttons.append(self.cancel_button)
        buttons.append(self.send_button)
        grid.attach(buttons, 0, row, 2, 1)

    # -- attachment ---------------------------------------------------------

    def set_attachment(self, path):
        self.attachment = path
        self.attachment_label.set_text(
            os.path.basename(path) if path else "No attachment")

    def on_attach_clicked(self, _button):
        chooser = Gtk.FileChooserNative.new(
            "Attach a file", self, Gtk.FileChooserAction.OPEN, "_Attach",
            "_Cancel")

        def on_response(dialog, response):
            if response == Gtk.ResponseType.ACCEPT:
                self.set_attachment(dialog.get_file().get_path())
            dialog.destroy()

        chooser.connect("response", on_response)
        chooser.show()
        self._chooser = chooser   # keep it alive while shown

    # -- sending ------------------------------------------------------------

    def on_send_clicked(self, _button):
        recipients = [a.strip() for a in self.to_entry.get_text().split(",")
                      if a.strip()]
        sender = self.from_entry.get_text().strip()
        buffer = self.body_view.get_buffer()
        text = buffer.get_text(buffer.get_start_iter(),
                               buffer.get_end_iter(), False)
        try:
            content = build_message(sender, recipients,
                                    self.subject_entry.get_text(), text,
                                    self.attachment)
        except (OSError, ValueError) as error:
            self.show_error("The message could not be built", str(error))
            return

        task = SmtpClient.Task(
            server=self.server_entry.get_text().strip(),
            port=int(self.port_spin.get_value()),
            security=SECURITY_MODES[self.security_dropdown.get_selected()][1],
            to=recipients, body=GLib.Bytes.new(content),
            context=GLib.Variant("s", self.subject_entry.get_text()))
        task.set_property("from", sender)
        if self.user_entry.get_text():
            task.props.auth_user = self.user_entry.get_text()
            task.props.auth_password = self.password_entry.get_text()

        task.connect("progress", self.on_progress)
        task.connect("accept-certificate", self.on_accept_certificate)
        task.connect("succeeded", self.on_succeeded)
        task.connect("failed", self.on_failed)

        self.task = task
        self.refused_certificate = None
        self.cancellable = Gio.Cancellable()
        self.send_button.set_sensitive(False)
        self.cancel_button.set_sensitive(True)
        self.progress_bar.set_fraction(0)
        self.progress_bar.set_text("Connecting to %s…"
                                   % task.props.server)
        task.send_async(self.cancellable, self.on_sent)

    def on_cancel_clicked(self, _button):
        if self.cancellable is not None:
            self.cancellable.cancel()

    def on_progress(self, _task, sent, total):
        self.progress_bar.set_fraction(sent / total if total else 0)
        self.progress_bar.set_text("%d of %d bytes" % (sent, total)
                                   if total else "%d bytes" % sent)

    def on_accept_certificate(self, _task, certificate, errors):
        # The answer is needed now, during the handshake: accept only a
        # certificate the user has already trusted, and otherwise remember
        # it so that the failure can offer to trust it.
        if certificate_fingerprint(certificate) in self.pinned:
            return True
        self.refused_certificate = (certificate, errors)
        return False

    def on_succeeded(self, task, context, _log):
        self.progress_bar.set_text("Sent: %s" % (task.get_reply() or ""))

    def on_failed(self, _task, _context, error, _log):
        self.progress_bar.set_text("Not sent")

    def on_sent(self, task, result):
        self.send_button.set_sensitive(True)
        self.cancel_button.set_sensitive(False)
        try:
            task.send_finish(result)
            self.last_outcome = "sent"
        except GLib.Error as error:
            self.last_outcome = error.message
            if error.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED):
                self.progress_bar.set_text("Cancelled")
            elif (self.refused_certificate is not None and
                  error.domain == GLib.quark_to_string(Gio.tls_error_quark())):
                self.ask_about_certificate(*self.refused_certificate)
            else:
                self.show_error("The message was not sent", error.message)

    # -- dialogs ------------------------------------------------------------

    def show_error(self, title, message):
        dialog = Gtk.MessageDialog(transient_for=self, modal=True,
                                   message_type=Gtk.MessageType.ERROR,
                                   buttons=Gtk.ButtonsType.CLOSE, text=title,
                                   secondary_text=message)
        dialog.connect("response", lambda d, _r: d.destroy())
        dialog.present()
        self.error_dialog = dialog

    def ask_about_certificate(self, certificate, errors):
        problems = []
        if errors & Gio.TlsCertificateFlags.UNKNOWN_CA:
            problems.append("it is not signed by a known authority")
        if errors & Gio.TlsCertificateFlags.BAD_IDENTITY:
            problems.append("it is not for this server name")
        if errors & Gio.TlsCertificateFlags.EXPIRED:
            problems.append("it has expired")
        if errors & Gio.TlsCertificateFlags.NOT_ACTIVATED:
            problems.append("it is not valid yet")
        if not problems:
            problems.append("it did not verify")
        fingerprint = certificate_fingerprint(certificate)
        dialog = Gtk.MessageDialog(
            transient_for=self, modal=True,
            message_type=Gtk.MessageType.WARNING,
            buttons=Gtk.ButtonsType.NONE,
            text="Trust the certificate of %s?" % self.task.props.server,
            secondary_text="The server's certificate cannot be trusted: %s."
                           "\n\nSHA-256 fingerprint:\n%s\n\nTrust it only if "
                           "you know it is your server's."
                           % ("; ".join(problems), fingerprint))
        dialog.add_button("_Cancel", Gtk.ResponseType.CANCEL)
        dialog.add_button("_Trust and Send", Gtk.ResponseType.ACCEPT)

        def on_response(d, response):
            d.destroy()
            self.certificate_dialog = None
            if response == Gtk.ResponseType.ACCEPT:
                self.pinned.add(fingerprint)
                self.on_send_clicked(self.send_button)
            else:
                self.progress_bar.set_text("Not sent: certificate refused")

        dialog.connect("response", on_response)
        dialog.present()
        self.certificate_dialog = dialog


class ComposeApp(Gtk.Application):
    def __init__(self):
        super().__init__(application_id="org.example.SmtpClientCompose",
                         flags=Gio.ApplicationFlags.NON_UNIQUE)
        self.window = None
        self.exit_status = 0

    def do_activate(self):
        if self.window is None:
            self.window = ComposeWindow(self)
        self.window.present()
        selftest = os.environ.get("SMTPCLIENT_COMPOSE_SELFTEST")
        if selftest:
            GLib.idle_add(self.run_selftest, selftest)

    def run_selftest(self, path):
        with open(path) as f:
            code = compile(f.read(), path, "exec")
        exec(code, {"app": self, "window": self.window, "__name__":
                    "selftest"})
        return GLib.SOURCE_REMOVE


def main():
    locale.setlocale(locale.LC_ALL, "")
    app = ComposeApp()
    status = app.run(sys.argv)
    return status or app.exit_status


if __name__ == "__main__":
    sys.exit(main())

# test-gtk-selftest.py: run inside examples/gtk/compose.py (through
# SMTPCLIENT_COMPOSE_SELFTEST) by tests/test-gtk.py.  It drives the compose
# window through its widgets, as a user would, and writes what it saw as
# JSON to $SELFTEST_RESULT; test-gtk.py checks that and the server's spool.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# `app` and `window` are given by compose.py.  Environment:
#   SELFTEST_PORT        an aiosmtpd without TLS
#   SELFTEST_TLS_PORT    an aiosmtpd offering STARTTLS with a self-signed
#                        certificate
#   SELFTEST_ATTACHMENT  a file to attach
#   SELFTEST_SCREENSHOT  where to save the PNG of the window
#   SELFTEST_RESULT      where to write the JSON results
#
# Every wait is bounded (WAIT_SECONDS); on a timeout the results say so and
# the application quits with status 1.

import ctypes
import json
import os

from gi.repository import GLib, Gtk

WAIT_SECONDS = 60
results = {"steps": []}


def finish(status):
    with open(os.environ["SELFTEST_RESULT"], "w") as f:
        json.dump(results, f, indent=2)
    app.exit_status = status  # noqa: F821 (given by compose.py)
    app.quit()  # noqa: F821


def wait_for(condition, then, what):
    """Call then() once condition() is true, polling from the main loop."""
    deadline = GLib.get_monotonic_time() + WAIT_SECONDS * 1000000

    def poll():
        if condition():
            then()
            return GLib.SOURCE_REMOVE
        if GLib.get_monotonic_time() > deadline:
            results["timeout"] = what
            finish(1)
            return GLib.SOURCE_REMOVE
        return GLib.SOURCE_CONTINUE

    GLib.timeout_add(50, poll)


def fill(server, port, security, to, subject, body):
    window.server_entry.set_text(server)  # noqa: F821
    window.port_spin.set_value(port)  # noqa: F821
    window.security_dropdown.set_selected(security)  # noqa: F821
    window.from_entry.set_text("compose@example.org")  # noqa: F821
    window.to_entry.set_text(to)  # noqa: F821
    window.subject_entry.set_text(subject)  # noqa: F821
    window.body_view.get_buffer().set_text(body)  # noqa: F821


def screenshot(path):
    """The window as GTK draws it: a WidgetPaintable snapshotted, and the
    snapshot's render node drawn to a texture by the window's own GSK
    renderer, saved as PNG.  PyGObject 3.42 cannot pass a GskRenderNode (a
    fundamental type without GValue support), so the three calls that
    take or return one go through ctypes; the rest is GTK's API."""
    w = window  # noqa: F821
    width, height = w.get_width(), w.get_height()
    paintable = Gtk.WidgetPaintable.new(w)
    snapshot = Gtk.Snapshot()
    paintable.snapshot(snapshot, width, height)
    renderer = w.get_native().get_renderer()

    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype = ctypes.c_void_p
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    gtk = ctypes.CDLL("libgtk-4.so.1")
    gtk.gtk_snapshot_to_node.restype = ctypes.c_void_p
    gtk.gtk_snapshot_to_node.argtypes = [ctypes.c_void_p]
    gtk.gsk_renderer_render_texture.restype = ctypes.c_void_p
    gtk.gsk_renderer_render_texture.argtypes = [
        ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_float * 4)]
    gtk.gdk_texture_save_to_png.restype = ctypes.c_int
    gtk.gdk_texture_save_to_png.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    gtk.gsk_render_node_unref.argtypes = [ctypes.c_void_p]
    gtk.g_object_unref.argtypes = [ctypes.c_void_p]

    node = gtk.gtk_snapshot_to_node(get_pointer(snapshot.__gpointer__, None))
    if not node:
        raise RuntimeError("the window drew nothing")
    area = (ctypes.c_float * 4)(0, 0, width, height)   # a graphene_rect_t
    texture = gtk.gsk_renderer_render_texture(
        get_pointer(renderer.__gpointer__, None), node, ctypes.byref(area))
    gtk.gsk_render_node_unref(node)
    saved = gtk.gdk_texture_save_to_png(texture, path.encode())
    gtk.g_object_unref(texture)
    if not saved:
        raise RuntimeError("could not save %s" % path)
    return width, height


# -- 1. a message with an attachment, to the plain server -------------------

def step_plain():
    fill("127.0.0.1", int(os.environ["SELFTEST_PORT"]), 0,
         "alice@example.org, bob@example.org", "Quarterly report",
         "Hello Alice and Bob,\n\nthe report is attached.\n\n-- \nCompose")
    window.set_attachment(os.environ["SELFTEST_ATTACHMENT"])  # noqa: F821
    window.last_outcome = None  # noqa: F821
    window.send_button.emit("clicked")  # noqa: F821
    results["send_sensitive_while_sending"] = \
        window.send_button.get_sensitive()  # noqa: F821
    wait_for(lambda: window.last_outcome is not None,  # noqa: F821
             after_plain, "the plain delivery")


def after_plain():
    w = window  # noqa: F821
    results["steps"].append({
        "name": "plain",
        "outcome": w.last_outcome,
        "progress_fraction": w.progress_bar.get_fraction(),
        "progress_text": w.progress_bar.get_text(),
    })
    # Let the window redraw with the final progress before the screenshot
    GLib.timeout_add(300, take_screenshot)


def take_screenshot():
    path = os.environ["SELFTEST_SCREENSHOT"]
    results["screenshot"] = {"path": path, "size": screenshot(path)}
    step_certificate()
    return GLib.SOURCE_REMOVE


# -- 2. STARTTLS with a self-signed certificate: the prompt ----------------

def step_certificate():
    fill("127.0.0.1", int(os.environ["SELFTEST_TLS_PORT"]), 2,
         "carol@example.org", "Over TLS", "Sent after trusting the "
         "server's certificate.")
    window.set_attachment(None)  # noqa: F821
    window.last_outcome = None  # noqa: F821
    window.certificate_dialog = None  # noqa: F821
    window.send_button.emit("clicked")  # noqa: F821
    wait_for(lambda: getattr(window, "certificate_dialog",  # noqa: F821
                             None) is not None,
             answer_certificate, "the certificate prompt")


def answer_certificate():
    w = window  # noqa: F821
    dialog = w.certificate_dialog
    results["certificate_prompt"] = {
        "first_outcome": w.last_outcome,
        "text": dialog.props.text,
        "secondary_text": dialog.props.secondary_text,
    }
    w.last_outcome = None
    dialog.response(Gtk.ResponseType.ACCEPT)
    wait_for(lambda: w.last_outcome is not None, after_certificate,
             "the delivery after trusting the certificate")


def after_certificate():
    w = window  # noqa: F821
    results["steps"].append({
        "name": "certificate",
        "outcome": w.last_outcome,
        "progress_fraction": w.progress_bar.get_fraction(),
    })
    step_error()


# -- 3. an error: shown in a dialog with the one-line message ---------------

def step_error():
    fill("127.0.0.1", int(os.environ["SELFTEST_PORT"]), 0,
         "Dave <dave@example.org>", "Bad address", "Never sent.")
    window.last_outcome = None  # noqa: F821
    window.error_dialog = None  # noqa: F821
    window.send_button.emit("clicked")  # noqa: F821
    wait_for(lambda: getattr(window, "error_dialog",  # noqa: F821
                             None) is not None,
             after_error, "the error dialog")


def after_error():
    w = window  # noqa: F821
    dialog = w.error_dialog
    results["error_dialog"] = {
        "outcome": w.last_outcome,
        "text": dialog.props.text,
        "secondary_text": dialog.props.secondary_text,
        "visible": dialog.get_visible(),
    }
    dialog.response(Gtk.ResponseType.CLOSE)
    finish(0)


step_plain()

#!/usr/bin/python3
# test-install.py: install the project into a temporary directory (meson
# install --destdir) and use it as an application developer would: a C
# program built with pkg-config, a Vala program built with --pkg, and the
# typelib imported from Python with only GI_TYPELIB_PATH (and
# LD_LIBRARY_PATH) pointing at the installed prefix.  TAP output.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Environment (set by tests/meson.build):
#   MESON                  the meson command
#   MESON_BUILD_ROOT       the build directory to install from
#   SMTPCLIENT_PREFIX, SMTPCLIENT_LIBDIR, SMTPCLIENT_INCLUDEDIR,
#   SMTPCLIENT_DATADIR, SMTPCLIENT_BINDIR, SMTPCLIENT_MANDIR
#                          the configured installation directories
#   SMTPCLIENT_EXPECT_VAPI, SMTPCLIENT_EXPECT_DOCS   "1" when built

import os
import shlex
import shutil
import subprocess
import sys
import tempfile

from smtpclient_test import Checks

WAIT_SECONDS = 240
ENV = os.environ
PREFIX = ENV["SMTPCLIENT_PREFIX"]


def in_prefix(option):
    value = ENV[option]
    return value if os.path.isabs(value) else os.path.join(PREFIX, value)


def run(args, **kwargs):
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("timeout", WAIT_SECONDS)
    return subprocess.run(args, **kwargs)


C_PROGRAM = r'''
#include <smtpclient/smtpclient.h>

#if !SMTP_CLIENT_CHECK_VERSION (1, 0, 0)
#error "version macros missing"
#endif

int
main (void)
{
  g_autoptr(SmtpClientTask) task = smtp_client_task_new ();
  g_autoptr(SmtpClientSession) session = smtp_client_session_new ();
  g_autofree char *from = NULL;
  guint port = 0;

  g_object_get (task, "from", &from, "port", &port, NULL);
  g_print ("%s %u %s %d\n", from, port,
           g_quark_to_string (SMTP_CLIENT_ERROR),
           (int) SMTP_CLIENT_SECURITY_TLS);
  return g_type_is_a (SMTP_CLIENT_TYPE_SESSION, G_TYPE_OBJECT) ? 0 : 1;
}
'''

VALA_PROGRAM = r'''
int main () {
    var task = new SmtpClient.Task ();
    task.security = SmtpClient.Security.TLS;
    task.to = { "a@example.org", "b@example.org" };
    print ("%s %u %d\n", task.from, task.port, task.to.length);
    return 0;
}
'''

PYTHON_PROGRAM = r'''
import gi
gi.require_version("GIRepository", "2.0")
from gi.repository import GIRepository
gi.require_version("SmtpClient", "1.0")
from gi.repository import SmtpClient
task = SmtpClient.Task(security=SmtpClient.Security.TLS)
print(GIRepository.Repository.get_default().get_typelib_path("SmtpClient"))
print(task.get_property("from"), task.props.port)
with open("/proc/self/maps") as f:
    print([l.split()[-1] for l in f if "libsmtpclient" in l][0])
'''


def main():
    checks = Checks()
    tmp = tempfile.mkdtemp(prefix="smtpclient-install-")
    try:
        dest = os.path.join(tmp, "dest")
        result = run([*shlex.split(ENV["MESON"]), "install", "--no-rebuild",
                      "--quiet", "-C", ENV["MESON_BUILD_ROOT"],
                      "--destdir", dest])
        print("1..23")
        checks.check(result.returncode == 0, "meson install --destdir",
                     result.stdout.decode() + result.stderr.decode())

        def staged(path):
            return dest + path

        libdir = staged(in_prefix("SMTPCLIENT_LIBDIR"))
        includedir = staged(in_prefix("SMTPCLIENT_INCLUDEDIR"))
        datadir = staged(in_prefix("SMTPCLIENT_DATADIR"))
        bindir = staged(in_prefix("SMTPCLIENT_BINDIR"))
        mandir = staged(in_prefix("SMTPCLIENT_MANDIR"))

        installed = sorted(os.path.relpath(os.path.join(d, f), dest)
                           for d, _, files in os.walk(dest) for f in files)
        links = sorted(os.path.relpath(os.path.join(d, f), dest)
                       for d, dirs, files in os.walk(dest)
                       for f in files + dirs
                       if os.path.islink(os.path.join(d, f)))
        docs = [f for f in installed if "/doc/" in f]
        for f in installed:
            if "/doc/" not in f:
                print("# installed: " + f)
        print("# installed: %d files of HTML documentation" % len(docs))

        headers = os.path.join(includedir, "smtpclient-1.0", "smtpclient")
        expected_headers = {
            "smtpclient.h", "smtpclient-enums.h", "smtpclient-error.h",
            "smtpclient-session.h", "smtpclient-task.h",
            "smtpclient-version.h", "smtpclient-version-macros.h",
            "smtpclient-enum-types.h"}
        found_headers = set(os.listdir(headers)) if os.path.isdir(headers) \
            else set()
        checks.check(found_headers == expected_headers,
                     "the public headers, and only they, under "
                     "include/smtpclient-1.0/smtpclient/",
                     "found %s" % sorted(found_headers))

        checks.check(os.path.islink(os.path.join(libdir,
                                                 "libsmtpclient-1.0.so")) and
                     os.path.exists(os.path.join(libdir,
                                                 "libsmtpclient-1.0.so.0")),
                     "libsmtpclient-1.0.so.0 and its development link",
                     links)
        pc = os.path.join(libdir, "pkgconfig", "smtpclient-1.0.pc")
        checks.check(os.path.exists(pc), "smtpclient-1.0.pc")
        gir = os.path.join(datadir, "gir-1.0", "SmtpClient-1.0.gir")
        typelib = os.path.join(libdir, "girepository-1.0",
                               "SmtpClient-1.0.typelib")
        checks.check(os.path.exists(gir) and os.path.exists(typelib),
                     "the GIR in share/gir-1.0, the typelib in "
                     "LIBDIR/girepository-1.0")
        vapidir = os.path.join(datadir, "vala", "vapi")
        if ENV.get("SMTPCLIENT_EXPECT_VAPI") == "1":
            checks.check(os.path.exists(os.path.join(vapidir,
                                                     "smtpclient-1.0.vapi")) and
                         os.path.exists(os.path.join(vapidir,
                                                     "smtpclient-1.0.deps")),
                         "smtpclient-1.0.vapi and .deps in share/vala/vapi")
        else:
            checks.check(False, "the VAPI was not built (vapigen missing?)")
        for language in ("de", "fr"):
            checks.check(os.path.exists(os.path.join(
                datadir, "locale", language, "LC_MESSAGES",
                "smtpclient-1.0.mo")), "the %s translation" % language)
        checks.check(os.access(os.path.join(bindir, "smtpclient-send"),
                               os.X_OK) and
                     os.access(os.path.join(bindir, "smtpclient-bench"),
                               os.X_OK),
                     "smtpclient-send and smtpclient-bench in bin/")
        checks.check(os.path.exists(os.path.join(mandir, "man1",
                                                 "smtpclient-send.1")),
                     "the manual page smtpclient-send.1")
        if ENV.get("SMTPCLIENT_EXPECT_DOCS") == "1":
            index = os.path.join(datadir, "doc", "smtpclient-1.0",
                                 "index.html")
            pages = ["overview.html", "tutorial-c.html",
                     "tutorial-python.html", "tutorial-gjs.html",
                     "tutorial-vala.html", "security.html",
                     "migrating-from-perl.html", "class.Task.html",
                     "class.Session.html", "compose-window.png",
                     "smtpclient-1.0.devhelp2"]
            missing = [p for p in pages if not os.path.exists(
                os.path.join(os.path.dirname(index), p))]
            checks.check(os.path.exists(index) and not missing,
                         "the HTML reference in share/doc/smtpclient-1.0",
                         "missing: %s" % missing)
        else:
            checks.check(False, "the docs were not built (gi-docgen?)")
        private = [f for f in installed if "private" in f or
                   f.endswith(".a")]
        checks.check(not private, "no private header or static library",
                     private)

        # A C program, with pkg-config
        # The .pc file names the real prefix; moved to the staging
        # directory, only its prefix= line changes (pkg-config's
        # --define-variable and PKG_CONFIG_SYSROOT_DIR would move GLib's
        # flags too).
        relocated = os.path.join(tmp, "pkgconfig")
        os.mkdir(relocated)
        with open(pc) as f:
            lines = f.read().splitlines(keepends=True)
        with open(os.path.join(relocated, "smtpclient-1.0.pc"), "w") as f:
            for line in lines:
                if line.startswith("prefix="):
                    line = "prefix=%s\n" % staged(line[7:].strip())
                f.write(line)
        pkg_env = dict(ENV)
        pkg_env["PKG_CONFIG_PATH"] = relocated
        cflags = run(["pkg-config", "--cflags", "smtpclient-1.0"],
                     env=pkg_env)
        libs = run(["pkg-config", "--libs", "smtpclient-1.0"], env=pkg_env)
        flags = cflags.stdout.decode().split() + libs.stdout.decode().split()
        checks.check(cflags.returncode == 0 and libs.returncode == 0 and
                     "-I%s/smtpclient-1.0" % includedir in flags and
                     "-lsmtpclient-1.0" in flags,
                     "pkg-config --cflags --libs smtpclient-1.0",
                     cflags.stderr.decode() + " ".join(flags))

        run_env = dict(ENV)
        run_env["LD_LIBRARY_PATH"] = libdir
        run_env.pop("GI_TYPELIB_PATH", None)

        c_source = os.path.join(tmp, "hello.c")
        with open(c_source, "w") as f:
            f.write(C_PROGRAM)
        c_exe = os.path.join(tmp, "hello-c")
        compiled = run(["cc", "-Wall", "-Werror", "-o", c_exe, c_source,
                        *flags])
        checks.check(compiled.returncode == 0,
                     "a C program compiles and links with those flags",
                     compiled.stderr.decode())
        ran = run([c_exe], env=run_env) if compiled.returncode == 0 \
            else None
        checks.check(ran is not None and ran.returncode == 0 and
                     ran.stdout.decode() ==
                     "root@localhost 25 smtp-client-error-quark 3\n",
                     "and runs against the installed library",
                     ran and (ran.stdout + ran.stderr).decode())

        # A Vala program, with --pkg smtpclient-1.0
        valac = shutil.which("valac")
        vala_source = os.path.join(tmp, "greet.vala")
        with open(vala_source, "w") as f:
            f.write(VALA_PROGRAM)
        vala_c = None
        if valac is None:
            checks.check(False, "valac is not installed")
        else:
            generated = run([valac, "-C", "--vapidir", vapidir,
                             "--pkg", "smtpclient-1.0", "-d", tmp,
                             vala_source], cwd=tmp)
            vala_c = os.path.join(tmp, "greet.c")
            checks.check(generated.returncode == 0 and
                         os.path.exists(vala_c),
                         "valac --vapidir … --pkg smtpclient-1.0 finds the "
                         "installed VAPI",
                         (generated.stdout + generated.stderr).decode())
        vala_exe = os.path.join(tmp, "hello-vala")
        built = None
        if vala_c is not None and os.path.exists(vala_c):
            built = run(["cc", "-w", "-o", vala_exe, vala_c, *flags])
        checks.check(built is not None and built.returncode == 0,
                     "its C compiles and links with pkg-config's flags",
                     built and built.stderr.decode())
        ran = run([vala_exe], env=run_env) if built is not None and \
            built.returncode == 0 else None
        checks.check(ran is not None and ran.returncode == 0 and
                     ran.stdout.decode() == "root@localhost 465 2\n",
                     "and runs against the installed library",
                     ran and (ran.stdout + ran.stderr).decode())

        # Python, with only GI_TYPELIB_PATH (and LD_LIBRARY_PATH)
        py_env = dict(run_env)
        py_env["GI_TYPELIB_PATH"] = os.path.dirname(typelib)
        ran = run(["/usr/bin/python3", "-c", PYTHON_PROGRAM], env=py_env)
        lines = ran.stdout.decode().splitlines()
        checks.check(ran.returncode == 0 and len(lines) == 3,
                     "PyGObject imports SmtpClient from the installed "
                     "typelib", ran.stderr.decode())
        checks.check(len(lines) == 3 and lines[0] == typelib and
                     lines[1] == "root@localhost 465",
                     "the typelib is the installed one", lines)
        checks.check(len(lines) == 3 and
                     os.path.realpath(lines[2]).startswith(
                         os.path.realpath(libdir)),
                     "and so is the library it loads", lines)

        # The installed tool, in German from the installed catalogue
        tool_env = dict(run_env)
        tool_env.update(LANGUAGE="de", LC_ALL="C.UTF-8",
                        SMTPCLIENT_LOCALEDIR=os.path.join(datadir, "locale"))
        ran = run([os.path.join(bindir, "smtpclient-send"), "--version"],
                  env=tool_env)
        checks.check(ran.returncode == 0 and
                     ran.stdout.decode().startswith("smtpclient-send 1."),
                     "the installed smtpclient-send --version",
                     (ran.stdout + ran.stderr).decode())
        ran = run([os.path.join(bindir, "smtpclient-send")], env=tool_env)
        checks.check(ran.returncode == 2 and
                     "Kein Empfänger angegeben" in ran.stderr.decode(),
                     "speaks German from the installed catalogue",
                     (ran.stdout + ran.stderr).decode())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())

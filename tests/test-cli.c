/* test-cli.c: smtpclient-send's TLS and credential options against
 * aiosmtpd: --security, --ca-file, --accept-fingerprint, --user with
 * SMTPCLIENT_PASSWORD or --password-file; and a script's habits against
 * the scripted server: --debug on standard error, -f, -i, -oi.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The tool is $SMTPCLIENT_SEND (set by meson); it runs with a bounded
 * wait.  Exit codes, as its --help says: 0 sent, 1 refused, 2 usage or
 * settings, 3 network/TLS/protocol.
 */

#include "config.h"

#include <string.h>

#include "smtpclient-test-certs.h"
#include "smtpclient-test-server.h"
#include "smtpclient-test-utils.h"

#define PASSWORD "cli s3cret"
#define MESSAGE \
  "From: sender@example.org\n" \
  "To: rcpt@example.org\n" \
  "Subject: smtpclient-send TLS test\n" \
  "\n" \
  "Sent by test-cli.\n"

/* Runs smtpclient-send with @args (NULL-terminated, after the program),
 * "--message-file" with MESSAGE, and @password (NULL: unset) as
 * SMTPCLIENT_PASSWORD.  (The message is not written to its standard
 * input, /dev/null: the tool may exit before reading it, and a write to a
 * closed pipe would fail the run.) */
static void
run_cli (SmtpTestToolRun    *result,
         const char         *password,
         const char * const *args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autofree char *message_file = smtp_test_tmp_path ("message.eml");
  g_autoptr(GError) error = NULL;

  g_file_set_contents (message_file, MESSAGE, -1, &error);
  g_assert_no_error (error);

  g_ptr_array_add (argv, (gpointer) smtp_test_send_tool ());
  g_ptr_array_add (argv, "--message-file");
  g_ptr_array_add (argv, message_file);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);

  smtp_test_run_tool (result, (const char * const *) argv->pdata, password,
                      NULL);
}

/* Runs @pipeline with sh -c, "$SMTPCLIENT_SEND" standing for the tool */
static void
run_pipeline (SmtpTestToolRun *result,
              const char      *pipeline)
{
  const char * const argv[] = { "/bin/sh", "-c", pipeline, NULL };

  smtp_test_run_tool (result, argv, NULL, NULL);
}

static char *
port_string (SmtpTestServer *server)
{
  return g_strdup_printf ("%u", smtp_test_server_get_port (server));
}

static char *
port_string_script (SmtpTestScriptServer *server)
{
  return g_strdup_printf ("%u", smtp_test_script_server_get_port (server));
}

static SmtpTestServer *
start_server (const char *cert,
              gboolean    implicit,
              const char *auth)
{
  g_autofree char *pem_name = g_strconcat (cert, ".pem", NULL);
  g_autofree char *key_name = g_strconcat (cert, ".key", NULL);
  g_autofree char *pem = smtp_test_cert_path (pem_name);
  g_autofree char *key = smtp_test_cert_path (key_name);

  return smtp_test_server_start_aiosmtpd ("--tls-cert", pem,
                                          "--tls-key", key,
                                          implicit ? "--implicit-tls"
                                                   : "--require-starttls",
                                          "--require-tls-auth",
                                          auth != NULL ? "--auth" : NULL,
                                          auth, NULL);
}

static void
assert_delivered (SmtpTestServer *server,
                  guint           count)
{
  GPtrArray *messages = smtp_test_server_get_messages (server);

  g_assert_cmpuint (messages->len, ==, count);
  if (count > 0)
    {
      SmtpTestMessage *message = g_ptr_array_index (messages, 0);

      g_assert_cmpstr (message->mail_from, ==, "sender@example.org");
      g_assert_cmpstr (message->rcpt_tos[0], ==, "rcpt@example.org");
    }
}

/* The last line of standard error is one line: "smtpclient-send: ..." */
static void
assert_one_line_error (const SmtpTestToolRun *result)
{
  g_auto(GStrv) lines = g_strsplit (result->err, "\n", -1);
  guint n = g_strv_length (lines);

  g_assert_cmpuint (n, >=, 2);
  g_assert_cmpstr (lines[n - 1], ==, "");
  g_assert_true (g_str_has_prefix (lines[n - 2], "smtpclient-send: "));
}

static void
test_starttls_ca_file (void)
{
  g_autoptr(SmtpTestServer) server = start_server ("server", FALSE, NULL);
  g_autofree char *port = port_string (server);
  g_autofree char *ca = smtp_test_cert_path ("ca.pem");
  g_auto(SmtpTestToolRun) result = { 0, NULL, NULL };
  const char *args[] = { "--server", "127.0.0.1", "--port", port,
                         "--security", "starttls", "--ca-file", ca,
                         "--from", "sender@example.org", "--log",
                         "rcpt@example.org", NULL };

  g_test_summary ("--security starttls --ca-file: delivered over TLS "
                  "(the server refuses MAIL before STARTTLS)");

  run_cli (&result, NULL, args);
  g_assert_cmpint (result.status, ==, 0);
  assert_delivered (server, 1);
  g_assert_nonnull (strstr (result.err, "-> STARTTLS"));
  g_assert_cmpuint (strstr (result.err, "-> STARTTLS") - result.err, <,
                    strstr (result.err, "-> MAIL FROM:") - result.err);
}

static void
test_implicit_tls_ca_file (void)
{
  g_autoptr(SmtpTestServer) server = start_server ("server", TRUE, NULL);
  g_autofree char *port = port_string (server);
  g_autofree char *ca = smtp_test_cert_path ("ca.pem");
  g_auto(SmtpTestToolRun) result = { 0, NULL, NULL };
  const char *args[] = { "--server", "127.0.0.1", "--port", port,
                         "--security", "tls", "--ca-file", ca,
                         "--from", "sender@example.org",
                         "rcpt@example.org", NULL };

  g_test_summary ("--security tls --ca-file: implicit TLS");

  run_cli (&result, NULL, args);
  g_assert_cmpint (result.status, ==, 0);
  assert_delivered (server, 1);
}

static void
test_untrusted_certificate (void)
{
  g_autoptr(SmtpTestServer) server = start_server ("server", FALSE, NULL);
  g_autofree char *port = port_string (server);
  g_auto(SmtpTestToolRun) result = { 0, NULL, NULL };
  const char *args[] = { "--server", "127.0.0.1", "--port", port,
                         "--security", "starttls",
                         "--from", "sender@example.org",
                         "rcpt@example.org", NULL };

  g_test_summary ("Without --ca-file the test CA is unknown: exit 3, one "
                  "line of error, nothing delivered");

  run_cli (&result, NULL, args);
  g_assert_cmpint (result.status, ==, 3);
  assert_one_line_error (&result);
  assert_delivered (server, 0);
}

static void
test_bad_ca_file (void)
{
  g_autofree char *missing = smtp_test_tmp_path ("no-such-ca.pem");
  g_auto(SmtpTestToolRun) result = { 0, NULL, NULL };
  const char *args[] = { "--server", "127.0.0.1", "--port", "9",
                         "--security", "starttls", "--ca-file", missing,
                         "rcpt@example.org", NULL };

  g_test_summary ("An unreadable --ca-file is a usage error (exit 2), "
                  "found before connecting");

  run_cli (&result, NULL, args);
  g_assert_cmpint (result.status, ==, 2);
  assert_one_line_error (&result);
  g_assert_nonnull (strstr (result.err, "--ca-file"));
}

typedef struct
{
  const char *name;
  gboolean    colons;   /* "AB:CD:..." as openssl prints it */
  gboolean    right;    /* the server's fingerprint, or another one */
} FingerprintCase;

static char *
with_colons (const char *hex)
{
  GString *out = g_string_new (NULL);

  for (gsize i = 0; hex[i] != '\0'; i++)
    {
      if (i > 0 && i % 2 == 0)
        g_string_append_c (out, ':');
      g_string_append_c (out, g_ascii_toupper (hex[i]));
    }
  return g_string_free (out, FALSE);
}

static void
test_accept_fingerprint (gconstpointer data)
{
  const FingerprintCase *c = data;
  g_autoptr(SmtpTestServer) server = start_server ("self-signed", FALSE,
                                                   NULL);
  g_autofree char *port = port_string (server);
  g_autofree char *hex = smtp_test_cert_fingerprint (c->right ? "self-signed"
                                                              : "server");
  g_autofree char *fingerprint = c->colons ? with_colons (hex)
                                           : g_strdup (hex);
  g_auto(SmtpTestToolRun) result = { 0, NULL, NULL };
  const char *args[] = { "--server", "127.0.0.1", "--port", port,
                         "--security", "starttls",
                         "--accept-fingerprint", fingerprint,
                         "--from", "sender@example.org",
                         "rcpt@example.org", NULL };

  g_test_summary ("--accept-fingerprint pins a self-signed certificate by "
                  "its SHA-256; another fingerprint does not");

  run_cli (&result, NULL, args);
  if (c->right)
    {
      g_assert_cmpint (result.status, ==, 0);
      assert_delivered (server, 1);
    }
  else
    {
      g_assert_cmpint (result.status, ==, 3);
      assert_one_line_error (&result);
      assert_delivered (server, 0);
    }
}

static void
test_bad_fingerprint (void)
{
  g_auto(SmtpTestToolRun) result = { 0, NULL, NULL };
  const char *args[] = { "--server", "127.0.0.1", "--port", "9",
                         "--security", "starttls",
                         "--accept-fingerprint", "sha256-not-hex",
                         "rcpt@example.org", NULL };

  run_cli (&result, NULL, args);
  g_assert_cmpint (result.status, ==, 2);
  assert_one_line_error (&result);
  g_assert_nonnull (strstr (result.err, "--accept-fingerprint"));
}

typedef enum
{
  PASSWORD_FROM_ENVIRONMENT,
  PASSWORD_FROM_FILE,
  PASSWORD_FILE_OVER_ENVIRONMENT,
  PASSWORD_WRONG_IN_FILE,
  PASSWORD_MISSING,
  PASSWORD_FILE_MISSING,
} PasswordSource;

static void
test_password (gconstpointer data)
{
  PasswordSource source = GPOINTER_TO_INT (data);
  g_autoptr(SmtpTestServer) server = start_server ("server", FALSE,
                                                   "alice:" PASSWORD);
  g_autofree char *port = port_string (server);
  g_autofree char *ca = smtp_test_cert_path ("ca.pem");
  g_autofree char *file = smtp_test_tmp_path ("password");
  g_autoptr(GPtrArray) args = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  g_auto(SmtpTestToolRun) result = { 0, NULL, NULL };
  const char *environment = NULL;
  guint ok = 0, failed = 0;

  g_test_summary ("The password comes from SMTPCLIENT_PASSWORD or "
                  "--password-file (which wins), never from argv, and is "
                  "in neither the log nor the debug output");

  g_ptr_array_add (args, "--server");
  g_ptr_array_add (args, "127.0.0.1");
  g_ptr_array_add (args, "--port");
  g_ptr_array_add (args, port);
  g_ptr_array_add (args, "--security");
  g_ptr_array_add (args, "starttls");
  g_ptr_array_add (args, "--ca-file");
  g_ptr_array_add (args, ca);
  g_ptr_array_add (args, "--user");
  g_ptr_array_add (args, "alice");
  g_ptr_array_add (args, "--from");
  g_ptr_array_add (args, "sender@example.org");
  g_ptr_array_add (args, "--log");
  g_ptr_array_add (args, "--debug");

  switch (source)
    {
    case PASSWORD_FROM_ENVIRONMENT:
      environment = PASSWORD;
      break;
    case PASSWORD_FROM_FILE:
    case PASSWORD_FILE_OVER_ENVIRONMENT:
    case PASSWORD_WRONG_IN_FILE:
      g_file_set_contents (file,
                           source == PASSWORD_WRONG_IN_FILE
                           ? "not it\n" : PASSWORD "\nsecond line\n",
                           -1, &error);
      g_assert_no_error (error);
      g_ptr_array_add (args, "--password-file");
      g_ptr_array_add (args, file);
      if (source == PASSWORD_FILE_OVER_ENVIRONMENT)
        environment = "not it either";
      break;
    case PASSWORD_FILE_MISSING:
      g_ptr_array_add (args, "--password-file");
      g_ptr_array_add (args, "/nonexistent/smtpclient-password");
      break;
    case PASSWORD_MISSING:
    default:
      break;
    }
  g_ptr_array_add (args, "rcpt@example.org");
  g_ptr_array_add (args, NULL);

  run_cli (&result, environment, (const char * const *) args->pdata);
  smtp_test_server_get_auth_counts (server, &ok, &failed);

  switch (source)
    {
    case PASSWORD_FROM_ENVIRONMENT:
    case PASSWORD_FROM_FILE:
    case PASSWORD_FILE_OVER_ENVIRONMENT:
      g_assert_cmpint (result.status, ==, 0);
      g_assert_cmpuint (ok, ==, 1);
      g_assert_cmpuint (failed, ==, 0);
      assert_delivered (server, 1);
      /* The AUTH exchange is in the log and the debug output, redacted,
       * both on standard error: standard output stays clean */
      g_assert_nonnull (strstr (result.err, "-> AUTH "));
      g_assert_nonnull (strstr (result.err, "DEBUG"));
      g_assert_null (strstr (result.out, "AUTH "));
      break;
    case PASSWORD_WRONG_IN_FILE:
      g_assert_cmpint (result.status, ==, 1);
      assert_one_line_error (&result);
      g_assert_cmpuint (ok, ==, 0);
      g_assert_cmpuint (failed, ==, 1);
      assert_delivered (server, 0);
      break;
    case PASSWORD_MISSING:
    case PASSWORD_FILE_MISSING:
    default:
      /* Found before connecting */
      g_assert_cmpint (result.status, ==, 2);
      assert_one_line_error (&result);
      g_assert_cmpuint (ok + failed, ==, 0);
      assert_delivered (server, 0);
      break;
    }

  g_assert_null (strstr (result.out, PASSWORD));
  g_assert_null (strstr (result.err, PASSWORD));
  g_assert_null (strstr (result.out, "s3cret"));
  g_assert_null (strstr (result.err, "s3cret"));
  g_assert_null (strstr (result.err, "not it"));
}

static void
test_insecure_auth_refused (void)
{
  /* No TLS at all on this server */
  g_autoptr(SmtpTestServer) server =
    smtp_test_server_start_aiosmtpd ("--auth", "alice:" PASSWORD, NULL);
  g_autofree char *port = port_string (server);
  g_auto(SmtpTestToolRun) result = { 0, NULL, NULL };
  guint ok = 0, failed = 0;
  const char *args[] = { "--server", "127.0.0.1", "--port", port,
                         "--user", "alice",
                         "--from", "sender@example.org",
                         "rcpt@example.org", NULL };

  g_test_summary ("--user without --security: credentials are not sent in "
                  "plain text (exit 2)");

  run_cli (&result, PASSWORD, args);
  g_assert_cmpint (result.status, ==, 2);
  assert_one_line_error (&result);
  smtp_test_server_get_auth_counts (server, &ok, &failed);
  g_assert_cmpuint (ok + failed, ==, 0);
  assert_delivered (server, 0);
}

static const FingerprintCase fingerprint_cases[] = {
  { "hex", FALSE, TRUE },
  { "colons", TRUE, TRUE },
  { "other-certificate", FALSE, FALSE },
};

/* ---------------------------------------------------------------------- */
/* Standard input, the log */

static void
test_slow_writer (void)
{
  g_autoptr(SmtpTestScriptServer) server = NULL;
  g_autoptr(GPtrArray) messages = NULL;
  g_autofree char *pipeline = NULL;
  g_auto(SmtpTestToolRun) result = { 0 };
  const char *expected = "Subject: a\r\n\r\nfirst\r\nsecond\r\n";
  gsize size = 0;
  const char *data;

  g_test_summary ("Audit 1: producer | smtpclient-send, with a producer "
                  "that pauses longer than --timeout: the tool waits for "
                  "it, sends the whole message and exits 0");

  server = smtp_test_script_server_new ("S 220 serve ESMTP\nSERVE\n");
  pipeline = g_strdup_printf ("( printf 'Subject: a\\r\\n\\r\\nfirst\\r\\n'; "
                              "sleep 2; printf 'second\\r\\n' ) | "
                              "\"$SMTPCLIENT_SEND\" --server 127.0.0.1 "
                              "--port %u --timeout 1 --log rcpt@example.org",
                              smtp_test_script_server_get_port (server));
  run_pipeline (&result, pipeline);
  g_assert_cmpint (result.status, ==, 0);

  smtp_test_script_server_wait (server, 1);
  messages = smtp_test_script_server_get_messages (server);
  g_assert_cmpuint (messages->len, ==, 1);
  data = g_bytes_get_data (g_ptr_array_index (messages, 0), &size);
  g_assert_cmpmem (data, size, expected, strlen (expected));
}

static void
test_log_escapes (void)
{
  g_autoptr(SmtpTestScriptServer) server = NULL;
  g_autofree char *port = NULL;
  g_auto(SmtpTestToolRun) result = { 0 };

  g_test_summary ("Audit 9: --log and the error line show a server's "
                  "control characters escaped: the terminal never gets an "
                  "escape sequence");

  server = smtp_test_script_server_new ("SRAW 220 evil\\x1b[2J ESMTP\\r\\n\n"
                                        "C EHLO *\n"
                                        "S 250 scripted\n"
                                        "C MAIL FROM:*\n"
                                        "SRAW 550 5.7.1 \\x1b]0;pwned\\x07no\\r\\n\n"
                                        "C QUIT\n"
                                        "S 221 bye\n");
  port = g_strdup_printf ("%u", smtp_test_script_server_get_port (server));
  run_cli (&result, NULL, (const char *[]) { "--server", "127.0.0.1",
                                             "--port", port, "--log",
                                             "rcpt@example.org", NULL });
  g_assert_cmpint (result.status, ==, 1);
  g_assert_null (strchr (result.err, '\x1b'));
  g_assert_null (strchr (result.err, '\a'));
  g_assert_nonnull (strstr (result.err, "<- 220 evil\\x1b[2J ESMTP"));
  g_assert_nonnull (strstr (result.err, "\\x1b]0;pwned\\x07no"));
}

/* ---------------------------------------------------------------------- */
/* A script's habits: sendmail's spellings, standard output left alone */

/* The script server's copy of the one message, as MESSAGE with CR LF */
static void
assert_message_served (SmtpTestScriptServer *server)
{
  g_autoptr(GPtrArray) messages = smtp_test_script_server_get_messages (server);
  g_autofree char *expected = NULL;
  g_auto(GStrv) lines = g_strsplit (MESSAGE, "\n", -1);
  const char *data;
  gsize size = 0;

  expected = g_strjoinv ("\r\n", lines);
  g_assert_cmpuint (messages->len, ==, 1);
  data = g_bytes_get_data (g_ptr_array_index (messages, 0), &size);
  g_assert_cmpmem (data, size, expected, strlen (expected));
}

/* Whether the client sent a command that starts with @command (the
 * parameters after it aside) on the first connection */
static gboolean
has_command (SmtpTestScriptServer *server,
             const char           *command)
{
  g_auto(GStrv) commands = smtp_test_script_server_get_commands (server, 0);

  for (gsize i = 0; commands[i] != NULL; i++)
    if (g_str_equal (commands[i], command) ||
        (g_str_has_prefix (commands[i], command) &&
         commands[i][strlen (command)] == ' '))
      return TRUE;

  return FALSE;
}

static void
test_debug_to_stderr (void)
{
  g_autoptr(SmtpTestScriptServer) server = NULL;
  g_autofree char *port = NULL;
  g_auto(SmtpTestToolRun) result = { 0 };

  g_test_summary ("--debug writes the protocol trace to standard error; "
                  "standard output, which a script may read, stays empty");

  server = smtp_test_script_server_new ("S 220 serve ESMTP\nSERVE\n");
  port = port_string_script (server);
  run_cli (&result, NULL, (const char *[]) { "--server", "127.0.0.1",
                                             "--port", port, "--debug",
                                             "rcpt@example.org", NULL });
  g_assert_cmpint (result.status, ==, 0);
  g_assert_cmpstr (result.out, ==, "");
  g_assert_nonnull (strstr (result.err, "-> MAIL FROM:<root@localhost>"));
  g_assert_nonnull (strstr (result.err, "-> RCPT TO:<rcpt@example.org>"));

  smtp_test_script_server_wait (server, 1);
  assert_message_served (server);
}

typedef struct
{
  const char *name;
  const char *args[4];   /* before the recipient */
  const char *from;      /* the MAIL FROM the server must get */
} SendmailCase;

static const SendmailCase sendmail_cases[] = {
  { "f", { "-f", "bounce@example.org", NULL }, "bounce@example.org" },
  { "f-attached", { "-fbounce@example.org", NULL }, "bounce@example.org" },
  { "i", { "-i", NULL }, "root@localhost" },
  { "oi", { "-oi", NULL }, "root@localhost" },
  { "f-oi-i", { "-oi", "-f", "bounce@example.org", "-i" },
    "bounce@example.org" },
};

static void
test_sendmail_options (gconstpointer data)
{
  const SendmailCase *test = data;
  g_autoptr(SmtpTestScriptServer) server = NULL;
  g_autoptr(GPtrArray) args = g_ptr_array_new ();
  g_autofree char *port = NULL;
  g_autofree char *mail = NULL;
  g_auto(SmtpTestToolRun) result = { 0 };

  g_test_summary ("sendmail's spellings: -f ADDR and -fADDR are --from, "
                  "-i and -oi are accepted and ignored; nothing is printed "
                  "and the server gets the message from that sender");

  server = smtp_test_script_server_new ("S 220 serve ESMTP\nSERVE\n");
  port = port_string_script (server);
  g_ptr_array_add (args, "--server");
  g_ptr_array_add (args, "127.0.0.1");
  g_ptr_array_add (args, "--port");
  g_ptr_array_add (args, port);
  for (gsize i = 0; i < G_N_ELEMENTS (test->args) && test->args[i] != NULL; i++)
    g_ptr_array_add (args, (gpointer) test->args[i]);
  g_ptr_array_add (args, "rcpt@example.org");
  g_ptr_array_add (args, NULL);

  run_cli (&result, NULL, (const char * const *) args->pdata);
  g_assert_cmpint (result.status, ==, 0);
  g_assert_cmpstr (result.out, ==, "");
  g_assert_cmpstr (result.err, ==, "");

  smtp_test_script_server_wait (server, 1);
  mail = g_strdup_printf ("MAIL FROM:<%s>", test->from);
  g_assert_true (has_command (server, mail));
  g_assert_true (has_command (server, "RCPT TO:<rcpt@example.org>"));
  assert_message_served (server);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/smtpclient/cli/tls/starttls-ca-file",
                   test_starttls_ca_file);
  g_test_add_func ("/smtpclient/cli/tls/implicit-ca-file",
                   test_implicit_tls_ca_file);
  g_test_add_func ("/smtpclient/cli/tls/untrusted-certificate",
                   test_untrusted_certificate);
  g_test_add_func ("/smtpclient/cli/tls/bad-ca-file", test_bad_ca_file);
  for (gsize i = 0; i < G_N_ELEMENTS (fingerprint_cases); i++)
    {
      g_autofree char *path =
        g_strconcat ("/smtpclient/cli/tls/accept-fingerprint/",
                     fingerprint_cases[i].name, NULL);

      g_test_add_data_func (path, &fingerprint_cases[i],
                            test_accept_fingerprint);
    }
  g_test_add_func ("/smtpclient/cli/tls/accept-fingerprint/bad",
                   test_bad_fingerprint);
  g_test_add_data_func ("/smtpclient/cli/auth/password-environment",
                        GINT_TO_POINTER (PASSWORD_FROM_ENVIRONMENT),
                        test_password);
  g_test_add_data_func ("/smtpclient/cli/auth/password-file",
                        GINT_TO_POINTER (PASSWORD_FROM_FILE), test_password);
  g_test_add_data_func ("/smtpclient/cli/auth/password-file-over-environment",
                        GINT_TO_POINTER (PASSWORD_FILE_OVER_ENVIRONMENT),
                        test_password);
  g_test_add_data_func ("/smtpclient/cli/auth/wrong-password",
                        GINT_TO_POINTER (PASSWORD_WRONG_IN_FILE),
                        test_password);
  g_test_add_data_func ("/smtpclient/cli/auth/no-password",
                        GINT_TO_POINTER (PASSWORD_MISSING), test_password);
  g_test_add_data_func ("/smtpclient/cli/auth/password-file-missing",
                        GINT_TO_POINTER (PASSWORD_FILE_MISSING),
                        test_password);
  g_test_add_func ("/smtpclient/cli/audit/slow-writer", test_slow_writer);
  g_test_add_func ("/smtpclient/cli/audit/log-escapes", test_log_escapes);
  g_test_add_func ("/smtpclient/cli/auth/insecure-refused",
                   test_insecure_auth_refused);
  g_test_add_func ("/smtpclient/cli/sendmail/debug-to-stderr",
                   test_debug_to_stderr);
  for (gsize i = 0; i < G_N_ELEMENTS (sendmail_cases); i++)
    {
      g_autofree char *path = g_strconcat ("/smtpclient/cli/sendmail/",
                                           sendmail_cases[i].name, NULL);

      g_test_add_data_func (path, &sendmail_cases[i], test_sendmail_options);
    }

  return g_test_run ();
}

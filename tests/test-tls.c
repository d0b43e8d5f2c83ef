/* test-tls.c: STARTTLS, implicit TLS, certificate verification and
 * credentials over TLS, against aiosmtpd and the scripted server, with
 * certificates made at test time (tests/servers/make-certs.sh).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Every test asserts what the server received: no AUTH, MAIL or content
 * in plain text where TLS was required, nothing after an injected reply
 * or a refused certificate.
 */

#include "config.h"

#include <stdarg.h>
#include <string.h>

#include "smtpclient-test-certs.h"
#include "smtpclient-test-utils.h"

#define PASSWORD "tls s3cret"

/* ---------------------------------------------------------------------- */
/* Helpers */

/* What the client sent to the scripted server, one command a line (CRLF
 * removed; a last fragment without line end is kept). */
static GStrv
get_commands (SmtpTestServer *server,
              gboolean       *script_ok,
              char          **raw)
{
  g_autoptr(GBytes) transcript = smtp_test_server_get_transcript (server,
                                                                  script_ok);
  gsize size = 0;
  const char *data = g_bytes_get_data (transcript, &size);
  g_autofree char *text = g_strndup (data, size);
  GStrv lines;
  guint n;

  g_assert_cmpuint (strlen (text), ==, size);   /* no NUL on the wire */
  lines = g_strsplit (text, "\r\n", -1);
  n = g_strv_length (lines);
  if (n > 0 && *lines[n - 1] == '\0')
    {
      g_free (lines[n - 1]);
      lines[n - 1] = NULL;
    }

  if (raw != NULL)
    *raw = g_steal_pointer (&text);
  return lines;
}

/* Index of the first command starting with @prefix, or -1 */
static int
find_command (GStrv       commands,
              const char *prefix)
{
  for (guint i = 0; commands[i] != NULL; i++)
    if (g_str_has_prefix (commands[i], prefix))
      return (int) i;
  return -1;
}

/* Every command is one of the NULL-terminated @allowed prefixes. */
static void
assert_commands_only (GStrv       commands,
                      const char *first,
                      ...)
{
  for (guint i = 0; commands[i] != NULL; i++)
    {
      gboolean found = FALSE;
      const char *prefix;
      va_list ap;

      va_start (ap, first);
      for (prefix = first; prefix != NULL; prefix = va_arg (ap, const char *))
        if (g_str_has_prefix (commands[i], prefix))
          found = TRUE;
      va_end (ap);

      if (!found)
        g_error ("the client sent \"%s\", which it must not here",
                 commands[i]);
    }
}

static SmtpClientTask *
new_tls_task (guint              port,
              SmtpClientSecurity security)
{
  SmtpClientTask *task = smtp_test_task_new (port, NULL);
  g_autoptr(GTlsDatabase) database = smtp_test_cert_database ();

  g_object_set (task,
                "security", security,
                "tls-database", database,
                "transaction-log", TRUE,
                NULL);
  return task;
}

/* Position of @needle in the task's log (it must be there) */
static gsize
log_position (SmtpClientTask *task,
              const char     *needle)
{
  const char *log = smtp_client_task_get_transaction_log (task);
  const char *found;

  g_assert_nonnull (log);
  found = strstr (log, needle);
  if (found == NULL)
    g_error ("\"%s\" is not in the transaction log:\n%s", needle, log);
  return (gsize) (found - log);
}

static void
assert_log_lacks (SmtpClientTask *task,
                  const char     *needle)
{
  const char *log = smtp_client_task_get_transaction_log (task);

  if (log != NULL && strstr (log, needle) != NULL)
    g_error ("\"%s\" must not be in the transaction log:\n%s", needle, log);
}

/* Scripts ------------------------------------------------------------ */

#define SCRIPT_GREETING \
  "S 220 localhost ESMTP scripted\n"

#define SCRIPT_EHLO_STARTTLS \
  "C EHLO localhost\n" \
  "S 250-localhost\n" \
  "S 250 STARTTLS\n"

#define SCRIPT_STARTTLS_ACCEPTED \
  "C STARTTLS\n" \
  "S 220 2.0.0 Ready to start TLS\n"

/* The script of a whole delivery over TLS made with @cert (base name in
 * the certificate directory): STARTTLS or implicit.  @client_ca and
 * @client_cn: NULL, or ask for a client certificate and check its CN. */
static char *
delivery_script (gboolean    implicit,
                 const char *cert,
                 const char *client_ca,
                 const char *client_cn)
{
  g_autofree char *pem_name = g_strconcat (cert, ".pem", NULL);
  g_autofree char *key_name = g_strconcat (cert, ".key", NULL);
  g_autofree char *pem = smtp_test_cert_path (pem_name);
  g_autofree char *key = smtp_test_cert_path (key_name);
  g_autofree char *tls = NULL;
  GString *directives = g_string_new (NULL);

  g_string_append_printf (directives, "%s %s %s",
                          implicit ? "TLS" : "STARTTLS", pem, key);
  if (client_ca != NULL)
    {
      g_autofree char *ca = smtp_test_cert_path (client_ca);

      g_string_append_printf (directives, " %s", ca);
    }
  g_string_append_c (directives, '\n');
  if (client_cn != NULL)
    g_string_append_printf (directives, "CLIENT-CERT %s\n", client_cn);
  tls = g_string_free (directives, FALSE);

  if (implicit)
    return g_strconcat (tls,
                        SCRIPT_GREETING
                        "C EHLO localhost\n"
                        "S 250 localhost\n"
                        SMTP_TEST_SCRIPT_DELIVERY, NULL);

  return g_strconcat (SCRIPT_GREETING
                      SCRIPT_EHLO_STARTTLS
                      SCRIPT_STARTTLS_ACCEPTED,
                      tls,
                      "C EHLO localhost\n"
                      "S 250 localhost\n"
                      SMTP_TEST_SCRIPT_DELIVERY, NULL);
}

/* ---------------------------------------------------------------------- */
/* aiosmtpd */

static SmtpTestServer *
start_aiosmtpd_tls (gboolean    implicit,
                    const char *auth)
{
  g_autofree char *pem = smtp_test_cert_path ("server.pem");
  g_autofree char *key = smtp_test_cert_path ("server.key");

  if (implicit)
    return smtp_test_server_start_aiosmtpd ("--tls-cert", pem,
                                            "--tls-key", key,
                                            "--implicit-tls",
                                            auth != NULL ? "--auth" : NULL,
                                            auth, NULL);

  return smtp_test_server_start_aiosmtpd ("--tls-cert", pem,
                                          "--tls-key", key,
                                          "--require-starttls",
                                          "--require-tls-auth",
                                          auth != NULL ? "--auth" : NULL,
                                          auth, NULL);
}

static void
test_aiosmtpd_delivery (gconstpointer data)
{
  gboolean implicit = GPOINTER_TO_INT (data);
  g_autoptr(SmtpTestServer) server = start_aiosmtpd_tls (implicit, NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  GPtrArray *messages;
  GBytes *content;

  g_test_summary ("A message goes over TLS (STARTTLS or implicit) to a "
                  "server whose certificate is from the CA in tls-database");

  task = new_tls_task (smtp_test_server_get_port (server),
                       implicit ? SMTP_CLIENT_SECURITY_TLS
                                : SMTP_CLIENT_SECURITY_STARTTLS);
  g_assert_true (smtp_test_run_task (task, &error));
  g_assert_no_error (error);

  /* --require-starttls: aiosmtpd refuses MAIL before STARTTLS, so the
   * message went over TLS */
  messages = smtp_test_server_get_messages (server);
  g_assert_cmpuint (messages->len, ==, 1);
  content = ((SmtpTestMessage *) g_ptr_array_index (messages, 0))->content;
  g_assert_nonnull (g_strstr_len (g_bytes_get_data (content, NULL),
                                  g_bytes_get_size (content),
                                  "Hello from the libsmtpclient tests."));

  if (implicit)
    {
      assert_log_lacks (task, "-> STARTTLS");
    }
  else
    {
      gsize starttls = log_position (task, "-> STARTTLS");
      const char *log = smtp_client_task_get_transaction_log (task);

      /* EHLO again over TLS, before MAIL */
      g_assert_nonnull (strstr (log + starttls, "-> EHLO localhost"));
      g_assert_cmpuint (starttls, <, log_position (task, "-> MAIL FROM"));
    }
}

static void
run_aiosmtpd_auth (gboolean    implicit,
                   const char *mechanism,
                   const char *password,
                   GError    **error,
                   guint      *ok,
                   guint      *failed,
                   SmtpClientTask **task_out)
{
  g_autoptr(SmtpTestServer) server = start_aiosmtpd_tls (implicit,
                                                         "alice:" PASSWORD);
  g_autoptr(SmtpClientTask) task = NULL;

  task = new_tls_task (smtp_test_server_get_port (server),
                       implicit ? SMTP_CLIENT_SECURITY_TLS
                                : SMTP_CLIENT_SECURITY_STARTTLS);
  /* allow-insecure-auth stays FALSE: TLS is what allows credentials */
  g_object_set (task,
                "auth-user", "alice",
                "auth-password", password,
                "auth-mechanism", mechanism,
                NULL);
  smtp_test_run_task (task, error);
  smtp_test_server_get_auth_counts (server, ok, failed);
  if (*error == NULL)
    g_assert_cmpuint (smtp_test_server_get_messages (server)->len, ==, 1);
  else
    g_assert_cmpuint (smtp_test_server_get_messages (server)->len, ==, 0);
  *task_out = g_steal_pointer (&task);
}

typedef struct
{
  gboolean    implicit;
  const char *mechanism;
} AuthCase;

static void
test_aiosmtpd_auth (gconstpointer data)
{
  const AuthCase *c = data;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  guint ok = 0, failed = 0;

  g_test_summary ("AUTH over TLS without allow-insecure-auth; with "
                  "STARTTLS, aiosmtpd offers and takes AUTH only after it");

  run_aiosmtpd_auth (c->implicit, c->mechanism, PASSWORD, &error, &ok,
                     &failed, &task);
  g_assert_no_error (error);
  g_assert_cmpuint (ok, ==, 1);
  g_assert_cmpuint (failed, ==, 0);

  if (c->mechanism != NULL)
    {
      g_autofree char *expected = g_strdup_printf ("-> AUTH %s",
                                                   c->mechanism);

      log_position (task, expected);
    }
  if (!c->implicit)
    g_assert_cmpuint (log_position (task, "-> STARTTLS"), <,
                      log_position (task, "-> AUTH "));
  assert_log_lacks (task, PASSWORD);
  assert_log_lacks (task, "s3cret");
}

static void
test_aiosmtpd_auth_wrong_password (gconstpointer data)
{
  const AuthCase *c = data;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  guint ok = 0, failed = 0;

  run_aiosmtpd_auth (c->implicit, c->mechanism, "wrong password", &error,
                     &ok, &failed, &task);
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_AUTH_FAILED);
  g_assert_cmpuint (ok, ==, 0);
  g_assert_cmpuint (failed, ==, 1);
  g_assert_cmpuint (smtp_client_task_get_reply_code (task), ==, 535);
  assert_log_lacks (task, "-> MAIL");
  assert_log_lacks (task, "wrong password");
}

static void
test_aiosmtpd_insecure_auth_refused (void)
{
  /* No --tls-cert: the server has no STARTTLS */
  g_autoptr(SmtpTestServer) server =
    smtp_test_server_start_aiosmtpd ("--auth", "alice:" PASSWORD, NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) lines = NULL;
  guint ok = 0, failed = 0;

  g_test_summary ("STARTTLS_IF_AVAILABLE against a server without "
                  "STARTTLS: credentials are not sent in plain text "
                  "(CONFIGURE); the client says nothing after EHLO but QUIT");

  task = new_tls_task (smtp_test_server_get_port (server),
                       SMTP_CLIENT_SECURITY_STARTTLS_IF_AVAILABLE);
  g_object_set (task, "auth-user", "alice", "auth-password", PASSWORD,
                NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE);

  smtp_test_server_get_auth_counts (server, &ok, &failed);
  g_assert_cmpuint (ok + failed, ==, 0);
  g_assert_cmpuint (smtp_test_server_get_messages (server)->len, ==, 0);

  /* What the client said: EHLO, then at most QUIT */
  lines = g_strsplit (smtp_client_task_get_transaction_log (task), "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], "-> "))
      g_assert_true (g_str_has_prefix (lines[i], "-> EHLO ") ||
                     g_str_equal (lines[i], "-> QUIT"));
  log_position (task, "-> EHLO ");
}

static void
test_aiosmtpd_system_store (void)
{
  g_autoptr(SmtpTestServer) server = start_aiosmtpd_tls (FALSE, NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("Without tls-database the system store is used, which "
                  "does not know the test CA: the handshake fails");

  task = smtp_test_task_new (smtp_test_server_get_port (server), NULL);
  g_object_set (task, "security", SMTP_CLIENT_SECURITY_STARTTLS,
                "transaction-log", TRUE, NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE);
  g_assert_cmpuint (smtp_test_server_get_messages (server)->len, ==, 0);
  assert_log_lacks (task, "-> MAIL");
}

/* ---------------------------------------------------------------------- */
/* Scripted: STARTTLS refused, missing, injected */

static void
run_script_expect_error (const char        *script,
                         SmtpClientSecurity security,
                         gboolean           with_credentials,
                         GQuark             domain,
                         int                code,
                         GStrv             *commands)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_script (script);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  gboolean script_ok = FALSE;

  task = new_tls_task (smtp_test_server_get_port (server), security);
  if (with_credentials)
    g_object_set (task, "auth-user", "alice", "auth-password", PASSWORD,
                  NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, domain, code);

  *commands = get_commands (server, &script_ok, NULL);
  g_assert_true (script_ok);
  assert_log_lacks (task, PASSWORD);
}

static void
test_starttls_not_offered (void)
{
  g_auto(GStrv) commands = NULL;

  g_test_summary ("STARTTLS required and not offered: TLS_UNAVAILABLE, "
                  "no AUTH and no MAIL sent");

  run_script_expect_error (SCRIPT_GREETING
                           "C EHLO localhost\n"
                           "S 250-localhost\n"
                           "S 250-AUTH PLAIN LOGIN\n"
                           "S 250 SIZE 100000\n"
                           "C QUIT\n"
                           "S 221 2.0.0 bye\n",
                           SMTP_CLIENT_SECURITY_STARTTLS, TRUE,
                           SMTP_CLIENT_ERROR,
                           SMTP_CLIENT_ERROR_TLS_UNAVAILABLE, &commands);
  assert_commands_only (commands, "EHLO localhost", "QUIT", NULL);
}

static void
test_if_available_not_offered (void)
{
  g_auto(GStrv) commands = NULL;

  g_test_summary ("STARTTLS_IF_AVAILABLE, STARTTLS not offered, "
                  "credentials set: CONFIGURE, and the server gets EHLO and "
                  "QUIT only, though it offers AUTH");

  run_script_expect_error (SCRIPT_GREETING
                           "C EHLO localhost\n"
                           "S 250-localhost\n"
                           "S 250 AUTH PLAIN LOGIN\n"
                           "C QUIT\n"
                           "S 221 2.0.0 bye\n",
                           SMTP_CLIENT_SECURITY_STARTTLS_IF_AVAILABLE, TRUE,
                           SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE,
                           &commands);
  g_assert_cmpuint (g_strv_length (commands), ==, 2);
  g_assert_cmpstr (commands[0], ==, "EHLO localhost");
  g_assert_cmpstr (commands[1], ==, "QUIT");
}

typedef struct
{
  const char        *reply;
  SmtpClientSecurity security;
  gboolean           connection_usable;  /* QUIT may follow */
  int                code;               /* SmtpClientError */
  gboolean           quit_only;          /* QUIT, not waiting for 221 */
} RefusalCase;

static void
test_starttls_refused (gconstpointer data)
{
  const RefusalCase *c = data;
  g_autofree char *script = NULL;
  g_auto(GStrv) commands = NULL;
  int starttls;

  g_test_summary ("A refusal of STARTTLS (4yz/5yz) is TLS_UNAVAILABLE (with "
                  "STARTTLS_IF_AVAILABLE too), a 421 is SERVER and only "
                  "QUIT follows, an odd code is PROTOCOL and nothing "
                  "follows; never AUTH or MAIL");

  script = g_strconcat (SCRIPT_GREETING
                        "C EHLO localhost\n"
                        "S 250-localhost\n"
                        "S 250-AUTH PLAIN\n"
                        "S 250 STARTTLS\n"
                        "C STARTTLS\n"
                        "S ", c->reply, "\n",
                        c->connection_usable ? "C QUIT\nS 221 2.0.0 bye\n"
                        : c->quit_only ? "C QUIT\nEXPECT-CLOSE\n"
                        : "EXPECT-CLOSE\n", NULL);
  run_script_expect_error (script, c->security, TRUE, SMTP_CLIENT_ERROR,
                           c->code, &commands);

  starttls = find_command (commands, "STARTTLS");
  g_assert_cmpint (starttls, ==, 1);
  if (c->connection_usable || c->quit_only)
    assert_commands_only (commands, "EHLO localhost", "STARTTLS", "QUIT",
                          NULL);
  else
    /* The server's state is unknown: not even QUIT */
    g_assert_null (commands[starttls + 1]);
}

static void
test_ehlo_refused (gconstpointer data)
{
  const char *code = data;
  g_autofree char *script = NULL;
  g_auto(GStrv) commands = NULL;

  g_test_summary ("EHLO refused with STARTTLS required: the HELO fallback "
                  "does not get around it (TLS_UNAVAILABLE)");

  script = g_strconcat (SCRIPT_GREETING
                        "C EHLO localhost\n"
                        "S ", code, " 5.5.1 Command unrecognized\n"
                        "C HELO localhost\n"
                        "S 250 localhost\n"
                        "C QUIT\n"
                        "S 221 2.0.0 bye\n", NULL);
  run_script_expect_error (script, SMTP_CLIENT_SECURITY_STARTTLS, TRUE,
                           SMTP_CLIENT_ERROR,
                           SMTP_CLIENT_ERROR_TLS_UNAVAILABLE, &commands);
  assert_commands_only (commands, "EHLO localhost", "HELO localhost", "QUIT",
                        NULL);
}

static void
test_starttls_injection (gconstpointer data)
{
  const char *raw_reply = data;
  g_autofree char *script = NULL;
  g_autofree char *raw = NULL;
  g_autoptr(SmtpTestServer) server = NULL;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) commands = NULL;
  gboolean script_ok = FALSE;

  g_test_summary ("Bytes after the 220 to STARTTLS, before the handshake "
                  "(a whole line, or a fragment), are a PROTOCOL error and "
                  "the client sends nothing more");

  script = g_strconcat (SCRIPT_GREETING
                        SCRIPT_EHLO_STARTTLS
                        "C STARTTLS\n"
                        "SRAW ", raw_reply, "\n"
                        "EXPECT-CLOSE\n", NULL);
  server = smtp_test_server_start_script (script);
  task = new_tls_task (smtp_test_server_get_port (server),
                       SMTP_CLIENT_SECURITY_STARTTLS);
  g_object_set (task, "auth-user", "alice", "auth-password", PASSWORD, NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_PROTOCOL);

  commands = get_commands (server, &script_ok, &raw);
  g_assert_true (script_ok);
  /* Not a byte after STARTTLS: no handshake, no QUIT */
  g_assert_cmpstr (raw, ==, "EHLO localhost\r\nSTARTTLS\r\n");
  assert_log_lacks (task, "-> QUIT");
}

/* Capabilities before and after TLS */

static void
test_auth_only_after_tls (void)
{
  g_autofree char *pem = smtp_test_cert_path ("server.pem");
  g_autofree char *key = smtp_test_cert_path ("server.key");
  g_autofree char *script = NULL;
  g_autoptr(SmtpTestServer) server = NULL;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) commands = NULL;
  gboolean script_ok = FALSE;
  int starttls, auth;

  g_test_summary ("AUTH offered only after STARTTLS: the client "
                  "authenticates with the post-TLS capabilities");

  script = g_strdup_printf (SCRIPT_GREETING
                            SCRIPT_EHLO_STARTTLS
                            SCRIPT_STARTTLS_ACCEPTED
                            "STARTTLS %s %s\n"
                            "C EHLO localhost\n"
                            "S 250-localhost\n"
                            "S 250 AUTH PLAIN LOGIN\n"
                            "C AUTH PLAIN *\n"
                            "S 235 2.7.0 ok\n"
                            SMTP_TEST_SCRIPT_DELIVERY, pem, key);
  server = smtp_test_server_start_script (script);
  task = new_tls_task (smtp_test_server_get_port (server),
                       SMTP_CLIENT_SECURITY_STARTTLS);
  g_object_set (task, "auth-user", "alice", "auth-password", PASSWORD, NULL);
  g_assert_true (smtp_test_run_task (task, &error));
  g_assert_no_error (error);

  commands = get_commands (server, &script_ok, NULL);
  g_assert_true (script_ok);
  starttls = find_command (commands, "STARTTLS");
  auth = find_command (commands, "AUTH PLAIN ");
  g_assert_cmpint (starttls, >=, 0);
  g_assert_cmpint (auth, >, starttls);
  g_assert_cmpstr (commands[starttls + 1], ==, "EHLO localhost");
}

static void
test_auth_only_before_tls (void)
{
  g_autofree char *pem = smtp_test_cert_path ("server.pem");
  g_autofree char *key = smtp_test_cert_path ("server.key");
  g_autofree char *script = NULL;
  g_auto(GStrv) commands = NULL;

  g_test_summary ("AUTH offered in plain text only: the pre-TLS "
                  "capabilities are forgotten, nothing is sent after TLS "
                  "but EHLO (and QUIT)");

  script = g_strdup_printf (SCRIPT_GREETING
                            "C EHLO localhost\n"
                            "S 250-localhost\n"
                            "S 250-AUTH PLAIN LOGIN\n"
                            "S 250 STARTTLS\n"
                            SCRIPT_STARTTLS_ACCEPTED
                            "STARTTLS %s %s\n"
                            "C EHLO localhost\n"
                            "S 250-localhost\n"
                            "S 250 SIZE 100000\n"
                            "C QUIT\n"
                            "S 221 2.0.0 bye\n", pem, key);
  run_script_expect_error (script, SMTP_CLIENT_SECURITY_STARTTLS, TRUE,
                           SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_NOT_SUPPORTED,
                           &commands);
  assert_commands_only (commands, "EHLO localhost", "STARTTLS", "QUIT", NULL);
}

static void
test_pipelining_changes (gconstpointer data)
{
  gboolean after_tls = GPOINTER_TO_INT (data);
  g_autofree char *pem = smtp_test_cert_path ("server.pem");
  g_autofree char *key = smtp_test_cert_path ("server.key");
  g_autofree char *script = NULL;
  g_autoptr(SmtpTestServer) server = NULL;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) commands = NULL;
  gboolean script_ok = FALSE;

  g_test_summary ("PIPELINING offered only before (or only after) TLS: "
                  "the client pipelines exactly when the post-TLS list "
                  "has it");

  /* The server refuses MAIL.  Without PIPELINING the client waits for
   * that reply and sends no RCPT; with it, RCPT and DATA come before the
   * reply (the script reads them before answering). */
  if (after_tls)
    script = g_strdup_printf (SCRIPT_GREETING
                              SCRIPT_EHLO_STARTTLS
                              SCRIPT_STARTTLS_ACCEPTED
                              "STARTTLS %s %s\n"
                              "C EHLO localhost\n"
                              "S 250-localhost\n"
                              "S 250 PIPELINING\n"
                              "C MAIL FROM:<sender@example.org>*\n"
                              "C RCPT TO:<rcpt@example.org>*\n"
                              "C DATA\n"
                              "S 550 5.7.1 sender refused\n"
                              "S 503 5.5.1 need MAIL first\n"
                              "S 503 5.5.1 need RCPT first\n"
                              "C QUIT\n"
                              "S 221 2.0.0 bye\n", pem, key);
  else
    script = g_strdup_printf (SCRIPT_GREETING
                              "C EHLO localhost\n"
                              "S 250-localhost\n"
                              "S 250-PIPELINING\n"
                              "S 250 STARTTLS\n"
                              SCRIPT_STARTTLS_ACCEPTED
                              "STARTTLS %s %s\n"
                              "C EHLO localhost\n"
                              "S 250 localhost\n"
                              "C MAIL FROM:<sender@example.org>*\n"
                              "S 550 5.7.1 sender refused\n"
                              "C QUIT\n"
                              "S 221 2.0.0 bye\n", pem, key);

  server = smtp_test_server_start_script (script);
  task = new_tls_task (smtp_test_server_get_port (server),
                       SMTP_CLIENT_SECURITY_STARTTLS);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER);
  g_assert_nonnull (strstr (error->message, "550 5.7.1 sender refused"));

  commands = get_commands (server, &script_ok, NULL);
  g_assert_true (script_ok);
  if (after_tls)
    g_assert_cmpint (find_command (commands, "RCPT TO:"), >, 0);
  else
    g_assert_cmpint (find_command (commands, "RCPT TO:"), ==, -1);
}

/* ---------------------------------------------------------------------- */
/* Certificates */

typedef struct
{
  guint                 calls;
  GTlsCertificateFlags  errors;
  GTlsCertificate      *certificate;
  gboolean              answer;
} AcceptRecord;

static gboolean
on_accept_certificate (GObject              *emitter,
                       GTlsCertificate      *certificate,
                       GTlsCertificateFlags  errors,
                       AcceptRecord         *record)
{
  record->calls++;
  record->errors = errors;
  g_set_object (&record->certificate, certificate);
  return record->answer;
}

static void
accept_record_clear (AcceptRecord *record)
{
  g_clear_object (&record->certificate);
}

typedef struct
{
  const char           *cert;      /* base name in the certificate dir */
  GTlsCertificateFlags  expected;  /* what the handler is told */
  gboolean              implicit;
} CertCase;

static void
assert_same_certificate (GTlsCertificate *certificate,
                         const char      *base)
{
  g_autofree char *name = g_strconcat (base, ".pem", NULL);
  g_autofree char *path = smtp_test_cert_path (name);
  g_autoptr(GTlsCertificate) expected = NULL;
  g_autoptr(GError) error = NULL;

  expected = g_tls_certificate_new_from_file (path, &error);
  g_assert_no_error (error);
  g_assert_nonnull (certificate);
  g_assert_true (g_tls_certificate_is_same (certificate, expected));
}

static char *
refusal_script (const CertCase *c)
{
  g_autofree char *pem_name = g_strconcat (c->cert, ".pem", NULL);
  g_autofree char *key_name = g_strconcat (c->cert, ".key", NULL);
  g_autofree char *pem = smtp_test_cert_path (pem_name);
  g_autofree char *key = smtp_test_cert_path (key_name);

  if (c->implicit)
    return g_strdup_printf ("TLS-REFUSED %s %s\n", pem, key);

  return g_strdup_printf (SCRIPT_GREETING
                          SCRIPT_EHLO_STARTTLS
                          SCRIPT_STARTTLS_ACCEPTED
                          "TLS-REFUSED %s %s\n", pem, key);
}

static void
test_certificate_refused (gconstpointer data)
{
  const CertCase *c = data;
  g_autofree char *script = refusal_script (c);
  g_autoptr(SmtpTestServer) server = NULL;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *raw = NULL;
  g_auto(GStrv) commands = NULL;
  gboolean script_ok = FALSE;
  AcceptRecord record = { 0, 0, NULL, FALSE };

  g_test_summary ("A certificate that does not verify fails the task with "
                  "G_TLS_ERROR_BAD_CERTIFICATE; the client aborts the "
                  "handshake and sends nothing after it");

  server = smtp_test_server_start_script (script);
  task = new_tls_task (smtp_test_server_get_port (server),
                       c->implicit ? SMTP_CLIENT_SECURITY_TLS
                                   : SMTP_CLIENT_SECURITY_STARTTLS);
  g_object_set (task, "auth-user", "alice", "auth-password", PASSWORD, NULL);
  g_signal_connect (task, "accept-certificate",
                    G_CALLBACK (on_accept_certificate), &record);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE);

  /* The handler was asked, with the right reasons, and said no */
  g_assert_cmpuint (record.calls, ==, 1);
  g_assert_cmphex (record.errors, ==, c->expected);
  assert_same_certificate (record.certificate, c->cert);

  /* TLS-REFUSED: the client did abort the handshake */
  commands = get_commands (server, &script_ok, &raw);
  g_assert_true (script_ok);
  g_assert_cmpstr (raw, ==, c->implicit ? ""
                                        : "EHLO localhost\r\nSTARTTLS\r\n");
  assert_log_lacks (task, "-> AUTH");
  assert_log_lacks (task, "-> MAIL");
  accept_record_clear (&record);
}

static void
test_certificate_accepted (gconstpointer data)
{
  const CertCase *c = data;
  g_autofree char *script = delivery_script (c->implicit, c->cert, NULL,
                                             NULL);
  g_autoptr(SmtpTestServer) server = NULL;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) commands = NULL;
  gboolean script_ok = FALSE;
  AcceptRecord record = { 0, 0, NULL, TRUE };

  g_test_summary ("An accept-certificate handler that returns TRUE lets "
                  "the delivery go on; it is told what is wrong");

  server = smtp_test_server_start_script (script);
  task = new_tls_task (smtp_test_server_get_port (server),
                       c->implicit ? SMTP_CLIENT_SECURITY_TLS
                                   : SMTP_CLIENT_SECURITY_STARTTLS);
  g_signal_connect (task, "accept-certificate",
                    G_CALLBACK (on_accept_certificate), &record);
  g_assert_true (smtp_test_run_task (task, &error));
  g_assert_no_error (error);

  g_assert_cmpuint (record.calls, ==, 1);
  g_assert_cmphex (record.errors, ==, c->expected);
  assert_same_certificate (record.certificate, c->cert);

  commands = get_commands (server, &script_ok, NULL);
  g_assert_true (script_ok);
  g_assert_cmpint (find_command (commands, "MAIL FROM:"), >=, 0);
  accept_record_clear (&record);
}

static void
test_certificate_valid (gconstpointer data)
{
  gboolean implicit = GPOINTER_TO_INT (data);
  g_autofree char *script = delivery_script (implicit, "server", NULL, NULL);
  g_autoptr(SmtpTestServer) server = NULL;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) commands = NULL;
  gboolean script_ok = FALSE;
  AcceptRecord record = { 0, 0, NULL, FALSE };

  g_test_summary ("A certificate from the CA in tls-database, for the "
                  "server's address: delivered, no question asked");

  server = smtp_test_server_start_script (script);
  task = new_tls_task (smtp_test_server_get_port (server),
                       implicit ? SMTP_CLIENT_SECURITY_TLS
                                : SMTP_CLIENT_SECURITY_STARTTLS);
  g_signal_connect (task, "accept-certificate",
                    G_CALLBACK (on_accept_certificate), &record);
  g_assert_true (smtp_test_run_task (task, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (record.calls, ==, 0);

  commands = get_commands (server, &script_ok, NULL);
  g_assert_true (script_ok);
  g_assert_cmpint (find_command (commands, "MAIL FROM:"), >=, 0);
}

/* The identity checked is the configured server name, not the address
 * connected to: "localhost" with a certificate for 127.0.0.1 only fails,
 * with one for localhost only succeeds. */
typedef struct
{
  const char *cert;
  gboolean    implicit;
  gboolean    succeeds;
} IdentityCase;

static void
test_identity (gconstpointer data)
{
  const IdentityCase *c = data;
  CertCase refusal = { c->cert, G_TLS_CERTIFICATE_BAD_IDENTITY, c->implicit };
  g_autofree char *script = c->succeeds ? delivery_script (c->implicit,
                                                           c->cert, NULL,
                                                           NULL)
                                        : refusal_script (&refusal);
  g_autoptr(SmtpTestServer) server = NULL;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) commands = NULL;
  gboolean script_ok = FALSE;
  AcceptRecord record = { 0, 0, NULL, FALSE };

  g_test_summary ("The certificate is checked against the configured "
                  "server name, not the address connected to");

  server = smtp_test_server_start_script (script);
  task = new_tls_task (smtp_test_server_get_port (server),
                       c->implicit ? SMTP_CLIENT_SECURITY_TLS
                                   : SMTP_CLIENT_SECURITY_STARTTLS);
  g_object_set (task, "server", "localhost", NULL);
  g_signal_connect (task, "accept-certificate",
                    G_CALLBACK (on_accept_certificate), &record);

  if (c->succeeds)
    {
      g_assert_true (smtp_test_run_task (task, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (record.calls, ==, 0);
    }
  else
    {
      g_assert_false (smtp_test_run_task (task, &error));
      g_assert_error (error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE);
      g_assert_cmpuint (record.calls, ==, 1);
      g_assert_cmphex (record.errors, ==, G_TLS_CERTIFICATE_BAD_IDENTITY);
    }

  commands = get_commands (server, &script_ok, NULL);
  g_assert_true (script_ok);
  if (c->succeeds)
    g_assert_cmpint (find_command (commands, "MAIL FROM:"), >=, 0);
  else
    g_assert_null (commands[c->implicit ? 0 : 2]);
  accept_record_clear (&record);
}


static void
test_certificate_session (void)
{
  g_autofree char *script = delivery_script (FALSE, "self-signed", NULL,
                                             NULL);
  g_autoptr(SmtpTestServer) server = NULL;
  g_autoptr(SmtpClientSession) session = NULL;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GTlsDatabase) database = smtp_test_cert_database ();
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) commands = NULL;
  gboolean script_ok = FALSE;
  AcceptRecord task_record = { 0, 0, NULL, FALSE };
  AcceptRecord session_record = { 0, 0, NULL, TRUE };

  g_test_summary ("The session's accept-certificate is asked for its "
                  "connections when the task's handler does not accept");

  server = smtp_test_server_start_script (script);
  session = smtp_client_session_new ();
  g_object_set (session,
                "server", "127.0.0.1",
                "port", smtp_test_server_get_port (server),
                "timeout", 10,
                "security", SMTP_CLIENT_SECURITY_STARTTLS,
                "tls-database", database,
                NULL);
  g_signal_connect (session, "accept-certificate",
                    G_CALLBACK (on_accept_certificate), &session_record);

  task = smtp_test_task_new (smtp_test_server_get_port (server), NULL);
  g_object_set (task, "session", session, NULL);
  g_signal_connect (task, "accept-certificate",
                    G_CALLBACK (on_accept_certificate), &task_record);
  g_assert_true (smtp_test_run_task (task, &error));
  g_assert_no_error (error);
  smtp_test_close_session (session);

  g_assert_cmpuint (task_record.calls, ==, 1);
  g_assert_cmpuint (session_record.calls, ==, 1);
  g_assert_cmphex (session_record.errors, ==, G_TLS_CERTIFICATE_UNKNOWN_CA);
  assert_same_certificate (session_record.certificate, "self-signed");

  commands = get_commands (server, &script_ok, NULL);
  g_assert_true (script_ok);
  g_assert_cmpint (find_command (commands, "MAIL FROM:"), >=, 0);
  accept_record_clear (&task_record);
  accept_record_clear (&session_record);
}

static void
test_session_certificate_refused (void)
{
  CertCase c = { "self-signed", G_TLS_CERTIFICATE_UNKNOWN_CA, FALSE };
  g_autofree char *script = refusal_script (&c);
  g_autoptr(SmtpTestServer) server = NULL;
  g_autoptr(SmtpClientSession) session = NULL;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GTlsDatabase) database = smtp_test_cert_database ();
  g_autoptr(GError) error = NULL;
  g_autofree char *raw = NULL;
  g_auto(GStrv) commands = NULL;
  gboolean script_ok = FALSE;
  AcceptRecord session_record = { 0, 0, NULL, FALSE };

  g_test_summary ("Through a session, a refused certificate fails the "
                  "task with G_TLS_ERROR_BAD_CERTIFICATE");

  server = smtp_test_server_start_script (script);
  session = smtp_client_session_new ();
  g_object_set (session,
                "server", "127.0.0.1",
                "port", smtp_test_server_get_port (server),
                "timeout", 10,
                "security", SMTP_CLIENT_SECURITY_STARTTLS,
                "tls-database", database,
                NULL);
  g_signal_connect (session, "accept-certificate",
                    G_CALLBACK (on_accept_certificate), &session_record);

  task = smtp_test_task_new (smtp_test_server_get_port (server), NULL);
  g_object_set (task, "session", session, NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE);
  smtp_test_close_session (session);

  g_assert_cmpuint (session_record.calls, ==, 1);
  g_assert_cmphex (session_record.errors, ==, G_TLS_CERTIFICATE_UNKNOWN_CA);

  commands = get_commands (server, &script_ok, &raw);
  g_assert_true (script_ok);
  g_assert_cmpstr (raw, ==, "EHLO localhost\r\nSTARTTLS\r\n");
  accept_record_clear (&session_record);
}

/* Client certificates */

typedef struct
{
  gboolean    implicit;
  const char *client;     /* base name, or NULL: no tls-certificate */
  const char *expected_cn;
} ClientCertCase;

static void
test_client_certificate (gconstpointer data)
{
  const ClientCertCase *c = data;
  g_autofree char *script = delivery_script (c->implicit, "server", "ca.pem",
                                             c->expected_cn);
  g_autoptr(SmtpTestServer) server = NULL;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) commands = NULL;
  gboolean script_ok = FALSE;

  g_test_summary ("tls-certificate is presented when the server asks for "
                  "a client certificate (and nothing when it is unset)");

  server = smtp_test_server_start_script (script);
  task = new_tls_task (smtp_test_server_get_port (server),
                       c->implicit ? SMTP_CLIENT_SECURITY_TLS
                                   : SMTP_CLIENT_SECURITY_STARTTLS);
  if (c->client != NULL)
    {
      g_autoptr(GTlsCertificate) certificate = smtp_test_cert_load (c->client);

      g_object_set (task, "tls-certificate", certificate, NULL);
    }
  g_assert_true (smtp_test_run_task (task, &error));
  g_assert_no_error (error);

  /* CLIENT-CERT checked the CN the server saw */
  commands = get_commands (server, &script_ok, NULL);
  g_assert_true (script_ok);
  g_assert_cmpint (find_command (commands, "MAIL FROM:"), >=, 0);
}

/* ---------------------------------------------------------------------- */

static const AuthCase auth_cases[] = {
  { FALSE, "PLAIN" }, { FALSE, "LOGIN" }, { FALSE, NULL },
  { TRUE, "PLAIN" }, { TRUE, "LOGIN" },
};

static const RefusalCase refusal_cases[] = {
  { "454 4.7.0 TLS not available due to temporary reason",
    SMTP_CLIENT_SECURITY_STARTTLS, TRUE, SMTP_CLIENT_ERROR_TLS_UNAVAILABLE },
  { "502 5.5.1 Command not implemented", SMTP_CLIENT_SECURITY_STARTTLS, TRUE,
    SMTP_CLIENT_ERROR_TLS_UNAVAILABLE },
  { "501 5.5.4 Syntax error", SMTP_CLIENT_SECURITY_STARTTLS, TRUE,
    SMTP_CLIENT_ERROR_TLS_UNAVAILABLE },
  { "421 4.3.2 Service shutting down", SMTP_CLIENT_SECURITY_STARTTLS, FALSE,
    SMTP_CLIENT_ERROR_SERVER, TRUE },
  { "354 go ahead?", SMTP_CLIENT_SECURITY_STARTTLS, FALSE,
    SMTP_CLIENT_ERROR_PROTOCOL },
  { "250 ok?", SMTP_CLIENT_SECURITY_STARTTLS, FALSE,
    SMTP_CLIENT_ERROR_PROTOCOL },
  { "454 4.7.0 TLS not available",
    SMTP_CLIENT_SECURITY_STARTTLS_IF_AVAILABLE, TRUE,
    SMTP_CLIENT_ERROR_TLS_UNAVAILABLE },
};

static const char * const refusal_names[] = {
  "454", "502", "501", "421", "354", "250", "454-if-available",
};

static const CertCase cert_cases[] = {
  { "self-signed", G_TLS_CERTIFICATE_UNKNOWN_CA, FALSE },
  { "unknown-ca", G_TLS_CERTIFICATE_UNKNOWN_CA, FALSE },
  { "wrong-host", G_TLS_CERTIFICATE_BAD_IDENTITY, FALSE },
  { "expired", G_TLS_CERTIFICATE_EXPIRED, FALSE },
  { "self-signed", G_TLS_CERTIFICATE_UNKNOWN_CA, TRUE },
  { "unknown-ca", G_TLS_CERTIFICATE_UNKNOWN_CA, TRUE },
  { "wrong-host", G_TLS_CERTIFICATE_BAD_IDENTITY, TRUE },
  { "expired", G_TLS_CERTIFICATE_EXPIRED, TRUE },
};

static const IdentityCase identity_cases[] = {
  { "localhost-only", FALSE, TRUE },
  { "localhost-only", TRUE, TRUE },
  { "ip-only", FALSE, FALSE },
  { "ip-only", TRUE, FALSE },
};

static const ClientCertCase client_cert_cases[] = {
  { FALSE, "client", "smtpclient test client" },
  { TRUE, "client", "smtpclient test client" },
  { FALSE, NULL, "-" },
};

/* Registers /smtpclient/tls/@path */
static void
add_test (const char    *path,
          gconstpointer  data,
          GTestDataFunc  func)
{
  g_autofree char *full = g_strconcat ("/smtpclient/tls/", path, NULL);

  g_test_add_data_func (full, data, func);
}

static void
add_func (const char *path,
          GTestFunc   func)
{
  g_autofree char *full = g_strconcat ("/smtpclient/tls/", path, NULL);

  g_test_add_func (full, func);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  /* aiosmtpd */
  add_test ("aiosmtpd/starttls-delivery", GINT_TO_POINTER (FALSE),
            test_aiosmtpd_delivery);
  add_test ("aiosmtpd/implicit-delivery", GINT_TO_POINTER (TRUE),
            test_aiosmtpd_delivery);
  for (gsize i = 0; i < G_N_ELEMENTS (auth_cases); i++)
    {
      const AuthCase *c = &auth_cases[i];
      g_autofree char *name = g_ascii_strdown (c->mechanism != NULL
                                               ? c->mechanism : "auto", -1);
      g_autofree char *path =
        g_strdup_printf ("aiosmtpd/%s-auth/%s",
                         c->implicit ? "implicit" : "starttls", name);

      add_test (path, c, test_aiosmtpd_auth);
    }
  add_test ("aiosmtpd/starttls-auth/wrong-password", &auth_cases[0],
            test_aiosmtpd_auth_wrong_password);
  add_test ("aiosmtpd/implicit-auth/wrong-password", &auth_cases[4],
            test_aiosmtpd_auth_wrong_password);
  add_func ("aiosmtpd/insecure-auth-refused",
            test_aiosmtpd_insecure_auth_refused);
  add_func ("aiosmtpd/system-store", test_aiosmtpd_system_store);

  /* STARTTLS missing, refused, injected; capabilities */
  add_func ("starttls/not-offered", test_starttls_not_offered);
  add_func ("starttls/if-available-not-offered",
            test_if_available_not_offered);
  for (gsize i = 0; i < G_N_ELEMENTS (refusal_cases); i++)
    {
      g_autofree char *path = g_strconcat ("starttls/refused/",
                                           refusal_names[i], NULL);

      add_test (path, &refusal_cases[i], test_starttls_refused);
    }
  add_test ("starttls/ehlo-refused/502", "502", test_ehlo_refused);
  add_test ("starttls/ehlo-refused/500", "500", test_ehlo_refused);
  add_test ("starttls/injection/line",
            "220 2.0.0 go ahead\\r\\n250 injected\\r\\n",
            test_starttls_injection);
  add_test ("starttls/injection/fragment",
            "220 2.0.0 go ahead\\r\\n250 inj", test_starttls_injection);
  add_func ("starttls/capabilities/auth-after-tls", test_auth_only_after_tls);
  add_func ("starttls/capabilities/auth-before-tls-only",
            test_auth_only_before_tls);
  add_test ("starttls/capabilities/pipelining-before-tls-only",
            GINT_TO_POINTER (FALSE), test_pipelining_changes);
  add_test ("starttls/capabilities/pipelining-after-tls-only",
            GINT_TO_POINTER (TRUE), test_pipelining_changes);

  /* Certificates */
  for (gsize i = 0; i < G_N_ELEMENTS (cert_cases); i++)
    {
      const CertCase *c = &cert_cases[i];
      const char *mode = c->implicit ? "implicit" : "starttls";
      g_autofree char *refused =
        g_strdup_printf ("certificate/%s/%s", mode, c->cert);
      g_autofree char *accepted =
        g_strdup_printf ("certificate/%s/%s-accepted", mode, c->cert);

      add_test (refused, c, test_certificate_refused);
      add_test (accepted, c, test_certificate_accepted);
    }
  add_test ("certificate/starttls/valid", GINT_TO_POINTER (FALSE),
            test_certificate_valid);
  add_test ("certificate/implicit/valid", GINT_TO_POINTER (TRUE),
            test_certificate_valid);
  for (gsize i = 0; i < G_N_ELEMENTS (identity_cases); i++)
    {
      const IdentityCase *c = &identity_cases[i];
      g_autofree char *path =
        g_strdup_printf ("certificate/%s/name-localhost/%s",
                         c->implicit ? "implicit" : "starttls", c->cert);

      add_test (path, c, test_identity);
    }
  add_func ("certificate/session-accepts", test_certificate_session);
  add_func ("certificate/session-refuses", test_session_certificate_refused);

  /* Client certificates */
  add_test ("client-certificate/starttls", &client_cert_cases[0],
            test_client_certificate);
  add_test ("client-certificate/implicit", &client_cert_cases[1],
            test_client_certificate);
  add_test ("client-certificate/none", &client_cert_cases[2],
            test_client_certificate);

  return g_test_run ();
}

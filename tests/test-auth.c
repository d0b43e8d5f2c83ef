/* test-auth.c: every SASL mechanism end to end, through the
 * scripted server, and no secret in the transaction log or the debug
 * output.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The server side comes from the RFCs: fixed lines with the RFCs' own
 * examples where the exchange is fixed (PLAIN, LOGIN, CRAM-MD5 from
 * RFC 2195, XOAUTH2 and its error challenge, OAUTHBEARER's error from
 * RFC 7628), and for SCRAM (RFC 5802, RFC 7677), whose client nonce is
 * random, the scripted server's SCRAM directive, which plays the server
 * with Python's hashlib/hmac.  Most exchanges run over plain TCP with
 * allow-insecure-auth (the wire is then what the transcript shows); one
 * runs over STARTTLS.
 */

#include "config.h"

#include <string.h>

#include "smtpclient-test-certs.h"
#include "smtpclient-test-utils.h"

/* ---------------------------------------------------------------------- */
/* Debug output: every g_debug() message, while a test captures */

static GMutex capture_lock;
static GString *captured;

static GLogWriterOutput
capture_writer (GLogLevelFlags   log_level,
                const GLogField *fields,
                gsize            n_fields,
                gpointer         user_data)
{
  if ((log_level & G_LOG_LEVEL_DEBUG) != 0)
    {
      g_mutex_lock (&capture_lock);
      if (captured != NULL)
        {
          for (gsize i = 0; i < n_fields; i++)
            {
              if (g_strcmp0 (fields[i].key, "MESSAGE") != 0)
                continue;
              if (fields[i].length < 0)
                g_string_append (captured, fields[i].value);
              else
                g_string_append_len (captured, fields[i].value,
                                     fields[i].length);
              g_string_append_c (captured, '\n');
            }
        }
      g_mutex_unlock (&capture_lock);
    }

  return g_log_writer_default (log_level, fields, n_fields, user_data);
}

static void
capture_start (void)
{
  g_mutex_lock (&capture_lock);
  g_assert_null (captured);
  captured = g_string_new (NULL);
  g_mutex_unlock (&capture_lock);
}

static char *
capture_stop (void)
{
  char *text;

  g_mutex_lock (&capture_lock);
  text = g_string_free (g_steal_pointer (&captured), FALSE);
  g_mutex_unlock (&capture_lock);

  return text;
}

/* ---------------------------------------------------------------------- */
/* Cases */

typedef struct
{
  const char *mechanism;    /* auth-mechanism; NULL: automatic choice */
  const char *offered;      /* the EHLO AUTH parameters */
  const char *user;
  const char *password;
  const char *exchange;     /* the script from the AUTH command on */
  const char *chosen;       /* the mechanism the client must use */
  const char *error_part;   /* NULL: succeeds; else in the AUTH_FAILED
                             * error's message */
  gboolean    over_tls;     /* STARTTLS, without allow-insecure-auth */
} MechanismCase;

#define RFC2195_CHALLENGE \
  "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"
#define RFC2195_RESPONSE \
  "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"
#define XOAUTH2_TOKEN "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
#define XOAUTH2_RESPONSE \
  "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRx" \
  "bVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
/* {"status":"401","schemes":"bearer mac",
 *  "scope":"https://mail.google.com/"} */
#define XOAUTH2_ERROR \
  "eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIG1hYyIsInNjb3BlIjoiaHR0" \
  "cHM6Ly9tYWlsLmdvb2dsZS5jb20vIn0="
#define OAUTHBEARER_TOKEN "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="
/* RFC 7628 §4.3: {"status":"invalid_token","scope":"example_scope",
 *  "openid-configuration":
 *  "https://example.com/.well-known/openid-configuration"} */
#define OAUTHBEARER_ERROR \
  "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJleGFtcGxlX3Njb3BlIiwi" \
  "b3BlbmlkLWNvbmZpZ3VyYXRpb24iOiJodHRwczovL2V4YW1wbGUuY29tLy53ZWxsLWtu" \
  "b3duL29wZW5pZC1jb25maWd1cmF0aW9uIn0="

static const struct
{
  const char   *path;
  MechanismCase c;
} cases[] = {
  { "plain",
    { "PLAIN", "PLAIN", "tim", "tanstaaftanstaaf",
      "C AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\n"
      "S 235 2.7.0 Authentication successful\n",
      "PLAIN", NULL, FALSE } },
  { "login",
    { "LOGIN", "LOGIN", "tim", "tanstaaftanstaaf",
      "C AUTH LOGIN\n"
      "S 334 VXNlcm5hbWU6\n"
      "C dGlt\n"
      "S 334 UGFzc3dvcmQ6\n"
      "C dGFuc3RhYWZ0YW5zdGFhZg==\n"
      "S 235 2.7.0 Authentication successful\n",
      "LOGIN", NULL, FALSE } },
  { "cram-md5",
    { "CRAM-MD5", "CRAM-MD5", "tim", "tanstaaftanstaaf",
      "C AUTH CRAM-MD5\n"
      "S 334 " RFC2195_CHALLENGE "\n"
      "C " RFC2195_RESPONSE "\n"
      "S 235 2.7.0 Authentication successful\n",
      "CRAM-MD5", NULL, FALSE } },
  { "xoauth2",
    { "XOAUTH2", "XOAUTH2", "someuser@example.com", XOAUTH2_TOKEN,
      "C AUTH XOAUTH2 " XOAUTH2_RESPONSE "\n"
      "S 235 2.7.0 Accepted\n",
      "XOAUTH2", NULL, FALSE } },
  { "xoauth2-error",
    { "XOAUTH2", "XOAUTH2", "someuser@example.com", XOAUTH2_TOKEN,
      "C AUTH XOAUTH2 " XOAUTH2_RESPONSE "\n"
      "S 334 " XOAUTH2_ERROR "\n"
      "C\n"
      "S 535 5.7.8 Username and Password not accepted\n",
      "XOAUTH2", "401", FALSE } },
  { "oauthbearer",
    /* The initial response names the port, which changes: checked from
     * the transcript */
    { "OAUTHBEARER", "OAUTHBEARER", "user@example.com", OAUTHBEARER_TOKEN,
      "C AUTH OAUTHBEARER *\n"
      "S 235 2.7.0 Accepted\n",
      "OAUTHBEARER", NULL, FALSE } },
  { "oauthbearer-error",
    { "OAUTHBEARER", "OAUTHBEARER", "user@example.com", OAUTHBEARER_TOKEN,
      "C AUTH OAUTHBEARER *\n"
      "S 334 " OAUTHBEARER_ERROR "\n"
      "C AQ==\n"
      "S 535 5.7.8 Authentication credentials invalid\n",
      "OAUTHBEARER", "invalid_token", FALSE } },
  { "scram-sha-1",
    { "SCRAM-SHA-1", "SCRAM-SHA-1", "user", "pencil",
      "SCRAM SHA-1 user pencil\n",
      "SCRAM-SHA-1", NULL, FALSE } },
  { "scram-sha-256",
    { "SCRAM-SHA-256", "SCRAM-SHA-256", "user", "pencil",
      "SCRAM SHA-256 user pencil\n",
      "SCRAM-SHA-256", NULL, FALSE } },
  { "scram-sha-1-forged-signature",
    { "SCRAM-SHA-1", "SCRAM-SHA-1", "user", "pencil",
      "SCRAM SHA-1 user pencil forge\n",
      "SCRAM-SHA-1", "signature", FALSE } },
  { "scram-sha-256-forged-signature",
    { "SCRAM-SHA-256", "SCRAM-SHA-256", "user", "pencil",
      "SCRAM SHA-256 user pencil forge\n",
      "SCRAM-SHA-256", "signature", FALSE } },
  { "scram-sha-256-no-server-proof",
    { "SCRAM-SHA-256", "SCRAM-SHA-256", "user", "pencil",
      "SCRAM SHA-256 user pencil omit\n",
      "SCRAM-SHA-256", "impostor", FALSE } },
  { "scram-sha-256-wrong-password",
    { "SCRAM-SHA-256", "SCRAM-SHA-256", "user", "pen cil",
      "SCRAM SHA-256 user pencil\n",
      "SCRAM-SHA-256", "535", FALSE } },
  { "auto/scram-sha-256",
    { NULL, "PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256", "user",
      "pencil",
      "SCRAM SHA-256 user pencil\n",
      "SCRAM-SHA-256", NULL, FALSE } },
  { "auto/scram-sha-256-first",
    { NULL, "SCRAM-SHA-256 LOGIN PLAIN CRAM-MD5", "user", "pencil",
      "SCRAM SHA-256 user pencil\n",
      "SCRAM-SHA-256", NULL, FALSE } },
  { "auto/scram-sha-1",
    { NULL, "LOGIN PLAIN SCRAM-SHA-1 CRAM-MD5", "user", "pencil",
      "SCRAM SHA-1 user pencil\n",
      "SCRAM-SHA-1", NULL, FALSE } },
  { "auto/cram-md5",
    { NULL, "PLAIN LOGIN CRAM-MD5", "tim", "tanstaaftanstaaf",
      "C AUTH CRAM-MD5\n"
      "S 334 " RFC2195_CHALLENGE "\n"
      "C " RFC2195_RESPONSE "\n"
      "S 235 2.7.0 Authentication successful\n",
      "CRAM-MD5", NULL, FALSE } },
  { "starttls/scram-sha-256",
    { NULL, "PLAIN SCRAM-SHA-256", "user", "pencil",
      "SCRAM SHA-256 user pencil\n",
      "SCRAM-SHA-256", NULL, TRUE } },
};

static char *
make_script (const MechanismCase *c)
{
  g_autofree char *tls = NULL;

  if (c->over_tls)
    {
      g_autofree char *pem = smtp_test_cert_path ("server.pem");
      g_autofree char *key = smtp_test_cert_path ("server.key");

      /* AUTH only after TLS, as a careful server does */
      tls = g_strdup_printf ("S 250 STARTTLS\n"
                             "C STARTTLS\n"
                             "S 220 2.0.0 Ready to start TLS\n"
                             "STARTTLS %s %s\n"
                             "C EHLO localhost\n"
                             "S 250-localhost\n", pem, key);
    }

  return g_strconcat ("S 220 localhost ESMTP scripted\n"
                      "C EHLO localhost\n"
                      "S 250-localhost\n",
                      tls != NULL ? tls : "",
                      "S 250 AUTH ", c->offered, "\n",
                      c->exchange,
                      c->error_part == NULL ? SMTP_TEST_SCRIPT_DELIVERY
                                            : "C QUIT\nS 221 2.0.0 bye\n",
                      NULL);
}

/* The lines the client sent from its AUTH command to the end of the
 * exchange (the AUTH command itself included). */
static GPtrArray *
get_auth_lines (GStrv commands)
{
  GPtrArray *lines = g_ptr_array_new ();
  gboolean in_auth = FALSE;

  for (guint i = 0; commands[i] != NULL; i++)
    {
      if (g_str_has_prefix (commands[i], "AUTH "))
        in_auth = TRUE;
      else if (g_str_has_prefix (commands[i], "MAIL ") ||
               g_str_equal (commands[i], "QUIT"))
        in_auth = FALSE;
      if (in_auth)
        g_ptr_array_add (lines, commands[i]);
    }

  return lines;
}

static void
assert_lacks (const char *where,
              const char *text,
              const char *secret)
{
  if (text != NULL && strstr (text, secret) != NULL)
    g_error ("the %s holds a secret (\"%s\"):\n%s", where, secret, text);
}

/* Neither the log nor the debug output holds the password, its base64
 * form, or any credential the client sent during AUTH. */
static void
assert_no_secret (const MechanismCase *c,
                  GPtrArray           *auth_lines,
                  const char          *log,
                  const char          *debug)
{
  g_autofree char *password64 = g_base64_encode ((const guchar *) c->password,
                                                 strlen (c->password));

  assert_lacks ("transaction log", log, c->password);
  assert_lacks ("debug output", debug, c->password);
  assert_lacks ("transaction log", log, password64);
  assert_lacks ("debug output", debug, password64);

  for (guint i = 0; i < auth_lines->len; i++)
    {
      const char *line = g_ptr_array_index (auth_lines, i);
      const char *payload = line;

      if (g_str_has_prefix (line, "AUTH "))
        {
          payload = strchr (line + strlen ("AUTH "), ' ');
          if (payload == NULL)
            continue;
          payload++;
        }

      /* "", "*", "AQ==", and LOGIN's user name are not secrets, and
       * too short to look for */
      if (strlen (payload) < 8)
        continue;
      assert_lacks ("transaction log", log, payload);
      assert_lacks ("debug output", debug, payload);
    }
}

static void
check_oauthbearer_response (GPtrArray *auth_lines,
                            guint      port)
{
  const char *line = g_ptr_array_index (auth_lines, 0);
  g_autofree guchar *decoded = NULL;
  g_autofree char *expected = NULL;
  gsize length = 0;

  g_assert_true (g_str_has_prefix (line, "AUTH OAUTHBEARER "));
  decoded = g_base64_decode (line + strlen ("AUTH OAUTHBEARER "), &length);
  /* RFC 7628 §3.1: gs2-header, host, port, auth */
  expected = g_strdup_printf ("n,a=user@example.com,\001host=127.0.0.1"
                              "\001port=%u\001auth=Bearer "
                              OAUTHBEARER_TOKEN "\001\001", port);
  g_assert_cmpmem (decoded, length, expected, strlen (expected));
}

static void
test_mechanism (gconstpointer data)
{
  const MechanismCase *c = data;
  g_autofree char *script = make_script (c);
  g_autoptr(SmtpTestServer) server = NULL;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) transcript = NULL;
  g_autoptr(GPtrArray) auth_lines = NULL;
  g_autofree char *text = NULL;
  g_autofree char *debug = NULL;
  g_autofree char *expected_auth = NULL;
  g_auto(GStrv) commands = NULL;
  const char *log;
  gboolean script_ok = FALSE;
  gboolean succeeded;
  gsize size = 0;
  const char *data_bytes;

  g_test_summary ("A SASL mechanism end to end against a server that "
                  "follows the RFC; nothing secret in the log or the "
                  "debug output");

  server = smtp_test_server_start_script (script);
  task = smtp_test_task_new (smtp_test_server_get_port (server), NULL);
  g_object_set (task,
                "auth-mechanism", c->mechanism,
                "auth-user", c->user,
                "auth-password", c->password,
                "transaction-log", TRUE,
                "debug", 1,
                "alias", "sasl-test",
                NULL);
  if (c->over_tls)
    {
      g_autoptr(GTlsDatabase) database = smtp_test_cert_database ();

      g_object_set (task,
                    "security", SMTP_CLIENT_SECURITY_STARTTLS,
                    "tls-database", database,
                    NULL);
    }
  else
    {
      g_object_set (task, "allow-insecure-auth", TRUE, NULL);
    }

  capture_start ();
  succeeded = smtp_test_run_task (task, &error);
  transcript = smtp_test_server_get_transcript (server, &script_ok);
  debug = capture_stop ();

  data_bytes = g_bytes_get_data (transcript, &size);
  text = g_strndup (data_bytes, size);
  commands = g_strsplit (text, "\r\n", -1);
  auth_lines = get_auth_lines (commands);
  log = smtp_client_task_get_transaction_log (task);

  if (!script_ok)
    g_test_message ("transaction log:\n%s", log);
  g_assert_true (script_ok);

  /* The mechanism used */
  g_assert_cmpuint (auth_lines->len, >, 0);
  expected_auth = g_strdup_printf ("AUTH %s", c->chosen);
  g_assert_true (g_str_has_prefix (g_ptr_array_index (auth_lines, 0),
                                   expected_auth));
  g_assert_true (g_str_equal (g_ptr_array_index (auth_lines, 0),
                              expected_auth) ||
                 ((const char *) g_ptr_array_index (auth_lines, 0))
                   [strlen (expected_auth)] == ' ');

  if (c->error_part == NULL)
    {
      g_assert_no_error (error);
      g_assert_true (succeeded);
      g_assert_cmpint (g_strv_length (commands), >, 0);
      g_assert_nonnull (strstr (text, "\r\nMAIL FROM:"));
    }
  else
    {
      g_assert_error (error, SMTP_CLIENT_ERROR,
                      SMTP_CLIENT_ERROR_AUTH_FAILED);
      g_assert_false (succeeded);
      if (strstr (error->message, c->error_part) == NULL)
        g_error ("\"%s\" is not in the error message \"%s\"", c->error_part,
                 error->message);
      /* Not a word of the transaction */
      g_assert_null (strstr (text, "MAIL FROM:"));
      g_assert_null (strstr (text, "RCPT TO:"));
      g_assert_null (strstr (text, "\r\nDATA\r\n"));
    }

  if (g_str_equal (c->chosen, "OAUTHBEARER"))
    check_oauthbearer_response (auth_lines,
                                smtp_test_server_get_port (server));

  /* The capture works (and the log has the exchange), so the absence of
   * secrets below means something */
  g_assert_nonnull (strstr (debug, "[sasl-test] -> AUTH "));
  g_assert_nonnull (strstr (debug, expected_auth));
  g_assert_nonnull (strstr (log, "-> AUTH "));
  assert_no_secret (c, auth_lines, log, debug);
}

static void
test_forged_signature_cancels (void)
{
  MechanismCase c = { "SCRAM-SHA-256", "SCRAM-SHA-256", "user", "pencil",
                      "SCRAM SHA-256 user pencil forge\n",
                      "SCRAM-SHA-256", "signature", FALSE };
  g_autofree char *script = make_script (&c);
  g_autoptr(SmtpTestServer) server = NULL;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) transcript = NULL;
  g_autofree char *text = NULL;
  g_auto(GStrv) commands = NULL;
  gboolean script_ok = FALSE;
  gsize size = 0;
  const char *bytes;
  guint n;

  g_test_summary ("A forged SCRAM server signature: the client cancels "
                  "with \"*\" (RFC 4954) and sends no MAIL");

  server = smtp_test_server_start_script (script);
  task = smtp_test_task_new (smtp_test_server_get_port (server), NULL);
  g_object_set (task,
                "auth-mechanism", c.mechanism,
                "auth-user", c.user,
                "auth-password", c.password,
                "allow-insecure-auth", TRUE,
                "transaction-log", TRUE,
                NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_AUTH_FAILED);

  transcript = smtp_test_server_get_transcript (server, &script_ok);
  g_assert_true (script_ok);
  bytes = g_bytes_get_data (transcript, &size);
  text = g_strndup (bytes, size);
  commands = g_strsplit (text, "\r\n", -1);
  n = g_strv_length (commands);

  /* EHLO, AUTH, client-final, "*", QUIT, and the empty rest */
  g_assert_cmpuint (n, ==, 6);
  g_assert_true (g_str_has_prefix (commands[1], "AUTH SCRAM-SHA-256 "));
  g_assert_cmpstr (commands[3], ==, "*");
  g_assert_cmpstr (commands[4], ==, "QUIT");
  g_assert_cmpstr (commands[5], ==, "");
  g_assert_cmpuint (smtp_client_task_get_reply_code (task), ==, 501);
}

/* ---------------------------------------------------------------------- */
/* Against aiosmtpd */

static void
run_auth (const char *mechanism,
          const char *password,
          GError    **error,
          guint      *ok,
          guint      *failed,
          char      **log)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_aiosmtpd ("--auth", "alice:s3cret pass", NULL);
  g_autoptr(SmtpClientTask) task = NULL;

  task = smtp_test_task_new (smtp_test_server_get_port (server), NULL);
  g_object_set (task,
                "auth-user", "alice",
                "auth-password", password,
                "auth-mechanism", mechanism,
                "allow-insecure-auth", TRUE,
                "transaction-log", TRUE,
                NULL);
  smtp_test_run_task (task, error);
  smtp_test_server_get_auth_counts (server, ok, failed);
  *log = g_strdup (smtp_client_task_get_transaction_log (task));
  if (*error == NULL)
    g_assert_cmpuint (smtp_test_server_get_messages (server)->len, ==, 1);
  else
    g_assert_cmpuint (smtp_test_server_get_messages (server)->len, ==, 0);
}

static void
test_auth (gconstpointer data)
{
  const char *mechanism = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *log = NULL;
  guint ok = 0, failed = 0;

  run_auth (mechanism, "s3cret pass", &error, &ok, &failed, &log);
  g_assert_no_error (error);
  g_assert_cmpuint (ok, ==, 1);
  g_assert_cmpuint (failed, ==, 0);
  if (mechanism != NULL)
    {
      g_autofree char *expected = g_strdup_printf ("-> AUTH %s", mechanism);

      g_assert_nonnull (strstr (log, expected));
    }
  g_assert_null (strstr (log, "s3cret"));
  g_assert_null (strstr (log, "czNjcmV0")); /* base64 of the password start */
}

static void
test_auth_wrong_password (gconstpointer data)
{
  const char *mechanism = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *log = NULL;
  guint ok = 0, failed = 0;

  run_auth (mechanism, "wrong", &error, &ok, &failed, &log);
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_AUTH_FAILED);
  g_assert_cmpuint (ok, ==, 0);
  g_assert_cmpuint (failed, ==, 1);
  g_assert_null (strstr (log, "MAIL FROM"));
  g_assert_null (strstr (log, "wrong"));
}

static void
test_auth_refused_in_plain_text (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_aiosmtpd ("--auth", "alice:pw", NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  guint ok = 0, failed = 0;

  g_test_summary ("Without allow-insecure-auth, credentials are refused over "
                  "plain TCP before anything is sent");

  task = smtp_test_task_new (smtp_test_server_get_port (server), NULL);
  g_object_set (task, "auth-user", "alice", "auth-password", "pw",
                "transaction-log", TRUE, NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE);
  g_assert_cmpstr (smtp_client_task_get_transaction_log (task), ==, "");
  smtp_test_server_get_auth_counts (server, &ok, &failed);
  g_assert_cmpuint (ok + failed, ==, 0);
  g_assert_cmpuint (smtp_test_server_get_messages (server)->len, ==, 0);
}

int
main (int    argc,
      char **argv)
{
  /* Before anything logs */
  g_log_set_writer_func (capture_writer, NULL, NULL);
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strconcat ("/smtpclient/auth/",
                                           cases[i].path, NULL);

      g_test_add_data_func (path, &cases[i].c, test_mechanism);
    }
  g_test_add_func ("/smtpclient/auth/scram-forged-cancels",
                   test_forged_signature_cancels);

  g_test_add_data_func ("/smtpclient/auth/aiosmtpd/plain", "PLAIN", test_auth);
  g_test_add_data_func ("/smtpclient/auth/aiosmtpd/login", "LOGIN", test_auth);
  g_test_add_data_func ("/smtpclient/auth/aiosmtpd/auto", NULL, test_auth);
  g_test_add_data_func ("/smtpclient/auth/aiosmtpd/plain-wrong-password",
                        "PLAIN", test_auth_wrong_password);
  g_test_add_data_func ("/smtpclient/auth/aiosmtpd/login-wrong-password",
                        "LOGIN", test_auth_wrong_password);
  g_test_add_func ("/smtpclient/auth/aiosmtpd/refused-in-plain-text",
                   test_auth_refused_in_plain_text);

  return g_test_run ();
}

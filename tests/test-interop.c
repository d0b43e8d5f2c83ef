/* test-interop.c: the scenario matrix against real mail servers — Postfix
 * smtpd with Dovecot SASL, and Exim — each started by the test with a
 * private configuration (tests/servers/mailserver-KIND.py)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each scenario runs against each server: plain; STARTTLS required;
 * implicit TLS; a wrong CA; every AUTH mechanism the server offers and a
 * wrong password; 8BITMIME; an SMTPUTF8 address; DSN parameters; SIZE;
 * a 20 MB message; refused recipients under both policies; 200 messages
 * through one session; no secret in the transaction log.  The assertions
 * read what the server stored (the Maildir files, their Received header)
 * and logged, not only what the client says.
 *
 * A server that cannot run here (not root, its package missing) makes its
 * scenarios skip, saying why.
 */

#include "config.h"

#include <string.h>

#include "smtpclient-test-certs.h"
#include "smtpclient-test-mailserver.h"
#include "smtpclient-test-utils.h"

#define USER_ADDRESS "user@example.org"
#define SIZE_LIMIT   (25 * 1024 * 1024)

typedef struct
{
  const char         *kind;
  SmtpTestMailServer *server;
  gboolean            tried;
} Server;

static Server servers[] = { { "postfix", NULL, FALSE }, { "exim", NULL, FALSE } };

/* The server of @kind, started at its first use; NULL (the test skipped)
 * when it cannot run here */
static SmtpTestMailServer *
get_server (const char *kind)
{
  for (gsize i = 0; i < G_N_ELEMENTS (servers); i++)
    if (g_str_equal (servers[i].kind, kind))
      {
        if (!servers[i].tried)
          {
            g_autofree char *size = g_strdup_printf ("--size=%d", SIZE_LIMIT);

            servers[i].tried = TRUE;
            servers[i].server = smtp_test_mailserver_start (kind, size, NULL);
          }
        else if (servers[i].server == NULL)
          g_test_skip ("the server could not be started here (see its first test)");
        return servers[i].server;
      }
  g_assert_not_reached ();
}

typedef struct
{
  const char *kind;
  const char *mechanism;   /* AUTH cells */
} Cell;

static GBytes *
text_bytes (const char *text)
{
  return g_bytes_new (text, strlen (text));
}

/* A task to @server's submission port with the given security */
static SmtpClientTask *
task_new (SmtpTestMailServer *server,
          SmtpClientSecurity  security,
          const char         *body)
{
  SmtpClientTask *task = smtp_test_task_new (0, body);
  static const char *const to[] = { USER_ADDRESS, NULL };

  g_object_set (task,
                "port", smtp_test_mailserver_get_port (server,
                                                       security == SMTP_CLIENT_SECURITY_TLS
                                                       ? "submissions_port" : "smtp_port"),
                "security", security,
                "tls-database", smtp_test_mailserver_get_tls_database (server),
                "to", to, "transaction-log", TRUE, "timeout", 30,
                NULL);
  g_object_set (task, "from", "sender@example.org", NULL);
  return task;
}

static guint
n_stored (SmtpTestMailServer *server,
          const char         *address)
{
  g_autoptr(GPtrArray) messages = smtp_test_mailserver_get_messages (server, address);

  return messages->len;
}

/* The message @address got as its number @n (0 first), after a bounded
 * wait; and it ends with @sent */
static GBytes *
stored_message (SmtpTestMailServer *server,
                const char         *address,
                guint               n,
                GBytes             *sent)
{
  g_autoptr(GPtrArray) messages = smtp_test_mailserver_wait_messages (server, address, n + 1);
  GBytes *stored = g_bytes_ref (g_ptr_array_index (messages, n));

  if (sent != NULL)
    g_assert_true (smtp_test_mailserver_stored_is (server, stored, sent));
  return stored;
}

/* The header lines the server put on top (up to the first line the
 * client sent, which starts with "Subject:") */
static char *
server_headers (GBytes *stored)
{
  gsize n;
  const char *data = g_bytes_get_data (stored, &n);
  g_autofree char *text = g_strndup (data, n);
  char *subject = strstr (text, "Subject:");

  if (subject != NULL)
    *subject = '\0';
  return g_steal_pointer (&text);
}

static void
run_ok (SmtpClientTask *task)
{
  g_autoptr(GError) error = NULL;

  if (!smtp_test_run_task (task, &error))
    smtp_test_print_log (task);
  g_assert_no_error (error);
  g_assert_cmpint (smtp_client_task_get_delivery_state (task), ==,
                   SMTP_CLIENT_DELIVERY_STATE_ACCEPTED);
}

static void
assert_no_secret (SmtpClientTask *task,
                  const char     *password)
{
  const char *log = smtp_client_task_get_transaction_log (task);
  g_autofree char *b64 = g_base64_encode ((const guchar *) password, strlen (password));

  g_assert_nonnull (log);
  g_assert_null (strstr (log, password));
  g_assert_null (strstr (log, b64));
  smtp_test_assert_log_format (log);
}

/* ---------------------------------------------------------------------- */
/* Scenarios */

static void
test_plain (gconstpointer data)
{
  const Cell *c = data;
  SmtpTestMailServer *server = get_server (c->kind);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GBytes) sent = NULL;
  g_autoptr(GBytes) stored = NULL;
  guint before;

  if (server == NULL)
    return;
  g_test_summary ("Plain SMTP, no TLS, no AUTH, to a local mailbox");

  before = n_stored (server, USER_ADDRESS);
  task = task_new (server, SMTP_CLIENT_SECURITY_NONE,
                   "Subject: plain\r\n\r\nplain text\r\n");
  run_ok (task);
  sent = text_bytes ("Subject: plain\r\n\r\nplain text\r\n");
  stored = stored_message (server, USER_ADDRESS, before, sent);
}

static void
test_tls (gconstpointer data,
          SmtpClientSecurity security)
{
  const Cell *c = data;
  SmtpTestMailServer *server = get_server (c->kind);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GBytes) sent = text_bytes ("Subject: tls\r\n\r\nover TLS\r\n");
  g_autoptr(GBytes) stored = NULL;
  g_autofree char *headers = NULL;
  guint before;

  if (server == NULL)
    return;

  before = n_stored (server, USER_ADDRESS);
  task = task_new (server, security, "Subject: tls\r\n\r\nover TLS\r\n");
  run_ok (task);
  stored = stored_message (server, USER_ADDRESS, before, sent);
  /* The server's Received header says the mail came over TLS: "with
   * ESMTPS" (RFC 3848), and the TLS version */
  headers = server_headers (stored);
  g_test_message ("%s", headers);
  {
    g_autofree char *lower = g_ascii_strdown (headers, -1);

    g_assert_nonnull (strstr (lower, "with esmtps"));
  }
  g_assert_nonnull (strstr (headers, "TLS"));
  if (security == SMTP_CLIENT_SECURITY_STARTTLS)
    g_assert_nonnull (strstr (smtp_client_task_get_transaction_log (task), "-> STARTTLS"));
}

static void
test_starttls (gconstpointer data)
{
  g_test_summary ("STARTTLS required, the server's certificate from the "
                  "test's throwaway CA: the Received header says TLS");
  test_tls (data, SMTP_CLIENT_SECURITY_STARTTLS);
}

static void
test_implicit_tls (gconstpointer data)
{
  g_test_summary ("Implicit TLS on the submissions port");
  test_tls (data, SMTP_CLIENT_SECURITY_TLS);
}

static void
test_wrong_ca (gconstpointer data)
{
  const Cell *c = data;
  SmtpTestMailServer *server = get_server (c->kind);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GTlsDatabase) other = NULL;
  g_autoptr(GError) error = NULL;
  guint before;

  if (server == NULL)
    return;
  g_test_summary ("A CA that did not sign the server's certificate: a TLS "
                  "error, nothing sent, nothing stored");

  before = n_stored (server, USER_ADDRESS);
  /* The project's own test CA, which did not sign this server's */
  other = smtp_test_cert_database ();
  task = task_new (server, SMTP_CLIENT_SECURITY_STARTTLS, NULL);
  g_object_set (task, "tls-database", other, NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_true (error->domain == G_TLS_ERROR);
  g_assert_cmpint (smtp_client_task_get_delivery_state (task), ==,
                   SMTP_CLIENT_DELIVERY_STATE_NOT_SENT);
  g_assert_null (strstr (smtp_client_task_get_transaction_log (task), "MAIL FROM"));
  g_usleep (G_USEC_PER_SEC / 2);
  g_assert_cmpuint (n_stored (server, USER_ADDRESS), ==, before);
}

static void
test_auth (gconstpointer data)
{
  const Cell *c = data;
  SmtpTestMailServer *server = get_server (c->kind);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autofree char *body = NULL;
  g_autoptr(GBytes) sent = NULL;
  g_autoptr(GBytes) stored = NULL;
  g_autofree char *log = NULL;
  const char *password;
  guint before;

  if (server == NULL)
    return;
  g_test_summary ("Each AUTH mechanism the server offers, over STARTTLS: "
                  "delivered, the server logs the authentication, the "
                  "transaction log holds no secret");

  password = smtp_test_mailserver_get_string (server, "password");
  before = n_stored (server, USER_ADDRESS);
  body = g_strdup_printf ("Subject: auth %s\r\n\r\nauthenticated\r\n", c->mechanism);
  sent = text_bytes (body);
  task = task_new (server, SMTP_CLIENT_SECURITY_STARTTLS, body);
  g_object_set (task, "auth-mechanism", c->mechanism,
                "auth-user", smtp_test_mailserver_get_string (server, "user"),
                "auth-password", password, NULL);
  run_ok (task);
  stored = stored_message (server, USER_ADDRESS, before, sent);
  assert_no_secret (task, password);
  g_assert_nonnull (strstr (smtp_client_task_get_transaction_log (task), "235"));

  /* The server's log names the mechanism */
  log = smtp_test_mailserver_get_log (server);
  {
    g_autofree char *lower = g_ascii_strdown (log, -1);
    g_autofree char *mech = g_ascii_strdown (c->mechanism, -1);
    g_autofree char *underscored = g_strdelimit (g_strdup (mech), "-", '_');

    if (strstr (lower, mech) == NULL && strstr (lower, underscored) == NULL)
      {
        g_test_message ("server log:\n%s", log);
        g_assert_not_reached ();
      }
  }
}

static void
test_wrong_password (gconstpointer data)
{
  const Cell *c = data;
  SmtpTestMailServer *server = get_server (c->kind);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  guint before;

  if (server == NULL)
    return;
  g_test_summary ("A wrong password: AUTH_FAILED with the server's 535, "
                  "nothing sent or stored, no secret in the log");

  before = n_stored (server, USER_ADDRESS);
  task = task_new (server, SMTP_CLIENT_SECURITY_STARTTLS, NULL);
  g_object_set (task, "auth-mechanism", "PLAIN",
                "auth-user", smtp_test_mailserver_get_string (server, "user"),
                "auth-password", "not-the-password", NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_AUTH_FAILED);
  g_assert_nonnull (strstr (error->message, "535"));
  g_assert_cmpuint (smtp_client_task_get_reply_code (task), ==, 535);
  g_assert_cmpint (smtp_client_task_get_delivery_state (task), ==,
                   SMTP_CLIENT_DELIVERY_STATE_NOT_SENT);
  assert_no_secret (task, "not-the-password");
  g_assert_cmpuint (n_stored (server, USER_ADDRESS), ==, before);
}

static void
test_8bitmime (gconstpointer data)
{
  const Cell *c = data;
  SmtpTestMailServer *server = get_server (c->kind);
  static const char body[] = "Subject: 8bit\r\nContent-Type: text/plain; charset=utf-8\r\n"
                             "Content-Transfer-Encoding: 8bit\r\n\r\n"
                             "gr\xc3\xbc\xc3\x9f Gott, \xc3\xa7" "a va, \xe2\x82\xac 5\r\n";
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GBytes) sent = text_bytes (body);
  g_autoptr(GBytes) stored = NULL;
  guint before;

  if (server == NULL)
    return;
  g_test_summary ("8-bit content: BODY=8BITMIME, the bytes arrive intact");

  before = n_stored (server, USER_ADDRESS);
  task = task_new (server, SMTP_CLIENT_SECURITY_NONE, body);
  run_ok (task);
  g_assert_nonnull (strstr (smtp_client_task_get_transaction_log (task), "BODY=8BITMIME"));
  stored = stored_message (server, USER_ADDRESS, before, sent);
}

static void
test_smtputf8 (gconstpointer data)
{
  const Cell *c = data;
  SmtpTestMailServer *server = get_server (c->kind);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GBytes) stored = NULL;
  g_autofree char *headers = NULL;
  guint before;

  if (server == NULL)
    return;
  g_test_summary ("An SMTPUTF8 (non-ASCII) sender address: SMTPUTF8 on "
                  "MAIL, the server keeps the address as it came");

  before = n_stored (server, USER_ADDRESS);
  task = task_new (server, SMTP_CLIENT_SECURITY_NONE,
                   "Subject: utf8\r\n\r\nfrom an international address\r\n");
  g_object_set (task, "from", "j\xc3\xb6rg@example.org", NULL);
  run_ok (task);
  g_assert_nonnull (strstr (smtp_client_task_get_transaction_log (task), "SMTPUTF8"));
  stored = stored_message (server, USER_ADDRESS, before, NULL);
  headers = server_headers (stored);
  g_test_message ("%s", headers);
  /* The Received header's protocol says UTF8SMTP (RFC 6531 §4.3), and the
   * server logged (or stored) the address as it came */
  {
    g_autofree char *lower = g_ascii_strdown (headers, -1);
    g_autofree char *log = smtp_test_mailserver_get_log (server);

    g_assert_nonnull (strstr (lower, "utf8"));
    g_assert_true (strstr (headers, "j\xc3\xb6rg@example.org") != NULL ||
                   strstr (log, "j\xc3\xb6rg@example.org") != NULL);
  }
}

static void
test_dsn (gconstpointer data)
{
  const Cell *c = data;
  SmtpTestMailServer *server = get_server (c->kind);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GBytes) report = NULL;
  const char *log;
  static const char *const to[] = { USER_ADDRESS, NULL };
  guint before;

  if (server == NULL)
    return;
  g_test_summary ("DSN parameters: RET, ENVID, NOTIFY, ORCPT accepted; with "
                  "NOTIFY=SUCCESS the server sends the sender a delivery "
                  "report carrying the ENVID");

  before = n_stored (server, "alice@example.org");
  task = task_new (server, SMTP_CLIENT_SECURITY_NONE,
                   "Subject: dsn\r\n\r\nwith a delivery report\r\n");
  g_object_set (task, "from", "alice@example.org", "to", to,
                "dsn-notify", SMTP_CLIENT_DSN_NOTIFY_SUCCESS | SMTP_CLIENT_DSN_NOTIFY_FAILURE,
                "dsn-return", SMTP_CLIENT_DSN_RETURN_HEADERS,
                "dsn-envelope-id", "interop-envid-42", NULL);
  run_ok (task);
  log = smtp_client_task_get_transaction_log (task);
  g_assert_nonnull (strstr (log, "RET=HDRS"));
  g_assert_nonnull (strstr (log, "ENVID=interop-envid-42"));
  g_assert_nonnull (strstr (log, "NOTIFY=SUCCESS,FAILURE"));
  /* The success report goes back to the sender's mailbox */
  report = stored_message (server, "alice@example.org", before, NULL);
  g_assert_nonnull (g_strstr_len (g_bytes_get_data (report, NULL),
                                  (gssize) g_bytes_get_size (report),
                                  "interop-envid-42"));
}

static void
test_size (gconstpointer data)
{
  const Cell *c = data;
  SmtpTestMailServer *server = get_server (c->kind);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  GString *big;
  g_autoptr(GBytes) body = NULL;
  guint before;

  if (server == NULL)
    return;
  g_test_summary ("A message over the server's SIZE: MESSAGE_TOO_LARGE "
                  "before any content is sent, nothing stored");

  big = g_string_new ("Subject: big\r\n\r\n");
  while (big->len <= SIZE_LIMIT + 1024)
    g_string_append (big, "0123456789012345678901234567890123456789012345678901234567890123456789\r\n");
  body = g_string_free_to_bytes (big);
  before = n_stored (server, USER_ADDRESS);
  task = task_new (server, SMTP_CLIENT_SECURITY_NONE, NULL);
  g_object_set (task, "body", body, NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_MESSAGE_TOO_LARGE);
  g_assert_cmpint (smtp_client_task_get_delivery_state (task), ==,
                   SMTP_CLIENT_DELIVERY_STATE_NOT_SENT);
  g_assert_null (strstr (smtp_client_task_get_transaction_log (task), "[message"));
  g_assert_cmpuint (n_stored (server, USER_ADDRESS), ==, before);
}

static void
test_20mb (gconstpointer data)
{
  const Cell *c = data;
  SmtpTestMailServer *server = get_server (c->kind);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autofree char *path = smtp_test_tmp_path ("20mb.eml");
  g_autoptr(GFile) file = g_file_new_for_path (path);
  GString *text;
  g_autoptr(GBytes) sent = NULL;
  g_autoptr(GBytes) stored = NULL;
  guint before;
  guint32 seed = 20;

  if (server == NULL)
    return;
  g_test_summary ("A 20 MB message from a file arrives byte for byte "
                  "(compared whole, and as SHA-256)");

  text = g_string_new ("Subject: 20 MB\r\n\r\n");
  while (text->len < 20 * 1000 * 1000)
    {
      /* Lines of varying length and content, some starting with "." */
      guint length = 1 + (seed = seed * 1103515245 + 12345) % 300;

      if (seed % 17 == 0)
        g_string_append_c (text, '.');
      for (guint i = 0; i < length; i++)
        g_string_append_c (text, (char) ('!' + (seed >> (i % 20)) % 90));
      g_string_append (text, "\r\n");
    }
  sent = g_string_free_to_bytes (text);
  g_assert_true (g_file_set_contents (path, g_bytes_get_data (sent, NULL),
                                      (gssize) g_bytes_get_size (sent), NULL));

  before = n_stored (server, USER_ADDRESS);
  task = task_new (server, SMTP_CLIENT_SECURITY_STARTTLS, NULL);
  g_object_set (task, "message-file", file, NULL);
  run_ok (task);
  stored = stored_message (server, USER_ADDRESS, before, sent);
  {
    g_autofree char *sum = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, sent);

    g_test_message ("20 MB message, SHA-256 %s, stored intact", sum);
  }
}

static void
test_refused (gconstpointer data,
              gboolean      allow)
{
  const Cell *c = data;
  SmtpTestMailServer *server = get_server (c->kind);
  static const char *const to[] = { "bob@example.org", "nobody-here@example.org", NULL };
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  const char *const *refused;
  guint before;

  if (server == NULL)
    return;

  before = n_stored (server, "bob@example.org");
  task = task_new (server, SMTP_CLIENT_SECURITY_NONE,
                   "Subject: refused\r\n\r\none of two\r\n");
  g_object_set (task, "to", to, "allow-refused-recipients", allow, NULL);
  if (allow)
    {
      g_autoptr(GBytes) stored = NULL;

      run_ok (task);
      stored = stored_message (server, "bob@example.org", before, NULL);
    }
  else
    {
      g_assert_false (smtp_test_run_task (task, &error));
      g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER);
      g_assert_nonnull (strstr (error->message, "nobody-here@example.org"));
      g_assert_cmpint (smtp_client_task_get_delivery_state (task), ==,
                       SMTP_CLIENT_DELIVERY_STATE_REFUSED);
      g_usleep (G_USEC_PER_SEC / 2);
      g_assert_cmpuint (n_stored (server, "bob@example.org"), ==, before);
    }
  refused = smtp_client_task_get_refused_recipients (task);
  g_assert_nonnull (refused);
  g_assert_cmpstr (refused[0], ==, "nobody-here@example.org");
  g_assert_null (refused[1]);
  g_assert_cmpuint (smtp_client_task_get_recipient_reply_code (task, "nobody-here@example.org"),
                    >=, 500);
  g_assert_cmpuint (smtp_client_task_get_recipient_reply_code (task, "bob@example.org"), ==, 250);
}

static void
test_refused_default (gconstpointer data)
{
  g_test_summary ("An unknown recipient, default policy: SERVER naming it, "
                  "nothing delivered to the other");
  test_refused (data, FALSE);
}

static void
test_refused_allowed (gconstpointer data)
{
  g_test_summary ("An unknown recipient, allow-refused-recipients: the "
                  "other gets the message");
  test_refused (data, TRUE);
}

static void
test_session_200 (gconstpointer data)
{
  const Cell *c = data;
  SmtpTestMailServer *server = get_server (c->kind);
  const guint n = 200;
  g_autoptr(SmtpClientSession) session = NULL;
  SmtpTestDelivery **deliveries;
  static const char *const to[] = { "carol@example.org", NULL };
  g_autoptr(GPtrArray) stored = NULL;
  g_autoptr(GVariant) statistics = NULL;
  guint64 accepted = 0, opened = 0;
  guint before;

  if (server == NULL)
    return;
  g_test_summary ("200 messages through one session over STARTTLS with "
                  "AUTH: each stored once, few connections");

  before = n_stored (server, "carol@example.org");
  session = g_object_new (SMTP_CLIENT_TYPE_SESSION,
                          "server", "127.0.0.1",
                          "port", smtp_test_mailserver_get_port (server, "smtp_port"),
                          "security", SMTP_CLIENT_SECURITY_STARTTLS,
                          "tls-database", smtp_test_mailserver_get_tls_database (server),
                          "auth-user", smtp_test_mailserver_get_string (server, "user"),
                          "auth-password", smtp_test_mailserver_get_string (server, "password"),
                          "max-connections", 2, "timeout", 30, NULL);
  deliveries = g_new0 (SmtpTestDelivery *, n);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *body = g_strdup_printf ("Subject: batch %u\r\n\r\nmessage %u\r\n", i, i);
      g_autoptr(SmtpClientTask) task = smtp_test_task_new (0, body);

      g_object_set (task, "session", session, "to", to, NULL);
      deliveries[i] = smtp_test_delivery_start (task, NULL);
    }
  smtp_test_delivery_wait (deliveries, n);
  for (guint i = 0; i < n; i++)
    {
      if (deliveries[i]->error != NULL)
        smtp_test_print_log (deliveries[i]->task);
      g_assert_no_error (deliveries[i]->error);
      g_assert_cmpuint (deliveries[i]->succeeded, ==, 1);
      smtp_test_delivery_free (deliveries[i]);
    }
  g_free (deliveries);
  statistics = smtp_client_session_get_statistics (session);
  g_variant_lookup (statistics, "messages-accepted", "t", &accepted);
  g_variant_lookup (statistics, "connections-opened", "t", &opened);
  g_test_message ("accepted %" G_GUINT64_FORMAT ", connections %" G_GUINT64_FORMAT,
                  accepted, opened);
  g_assert_cmpuint (accepted, ==, n);
  g_assert_cmpuint (opened, <=, 4);
  smtp_test_close_session (session);

  stored = smtp_test_mailserver_wait_messages (server, "carol@example.org", before + n);
  g_assert_cmpuint (stored->len, ==, before + n);
  {
    g_autofree guint *seen = g_new0 (guint, n);

    for (guint i = before; i < stored->len; i++)
      {
        gsize size;
        const char *text = g_bytes_get_data (g_ptr_array_index (stored, i), &size);
        g_autofree char *copy = g_strndup (text, size);
        const char *number = strstr (copy, "\nmessage ");
        guint64 k;

        g_assert_nonnull (number);
        k = g_ascii_strtoull (number + strlen ("\nmessage "), NULL, 10);
        g_assert_cmpuint (k, <, n);
        seen[k]++;
      }
    for (guint i = 0; i < n; i++)
      g_assert_cmpuint (seen[i], ==, 1);
  }
}

/* ---------------------------------------------------------------------- */

static const char *const kinds[] = { "postfix", "exim" };
/* What each offers (after TLS): the mechanisms the launchers set up */
static const char *const postfix_mechanisms[] = {
  "PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", NULL
};
static const char *const exim_mechanisms[] = { "PLAIN", "LOGIN", "CRAM-MD5", NULL };

static void
add (const char    *kind,
     const char    *name,
     const char    *mechanism,
     GTestDataFunc  func)
{
  Cell *cell = g_new0 (Cell, 1);
  g_autofree char *path = g_strdup_printf ("/interop/%s/%s", kind, name);

  cell->kind = kind;
  cell->mechanism = mechanism;
  g_test_add_data_func_full (path, cell, func, g_free);
}

int
main (int    argc,
      char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);

  for (gsize k = 0; k < G_N_ELEMENTS (kinds); k++)
    {
      const char *kind = kinds[k];
      const char *const *mechanisms = k == 0 ? postfix_mechanisms : exim_mechanisms;

      add (kind, "plain", NULL, test_plain);
      add (kind, "starttls", NULL, test_starttls);
      add (kind, "implicit-tls", NULL, test_implicit_tls);
      add (kind, "wrong-ca", NULL, test_wrong_ca);
      for (guint i = 0; mechanisms[i] != NULL; i++)
        {
          g_autofree char *name = g_strdup_printf ("auth/%s", mechanisms[i]);

          add (kind, name, mechanisms[i], test_auth);
        }
      add (kind, "auth/wrong-password", NULL, test_wrong_password);
      add (kind, "8bitmime", NULL, test_8bitmime);
      add (kind, "smtputf8", NULL, test_smtputf8);
      add (kind, "dsn", NULL, test_dsn);
      add (kind, "size", NULL, test_size);
      add (kind, "20mb", NULL, test_20mb);
      add (kind, "refused/default", NULL, test_refused_default);
      add (kind, "refused/allowed", NULL, test_refused_allowed);
      add (kind, "session-200", NULL, test_session_200);
    }

  status = g_test_run ();
  for (gsize i = 0; i < G_N_ELEMENTS (servers); i++)
    g_clear_pointer (&servers[i].server, smtp_test_mailserver_free);
  return status;
}

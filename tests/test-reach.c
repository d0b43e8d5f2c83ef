/* test-reach.c: CHUNKING/BINARYMIME (RFC 3030), LMTP (RFC 2033) over TCP
 * and a Unix socket, REQUIRETLS (RFC 8689), SCRAM-*-PLUS channel binding
 * (RFC 5802, RFC 9266) and SRV discovery (RFC 6186, RFC 8314), against
 * the in-process scripted server: what no server on Debian offers, or
 * not on demand.  Real Postfix and Dovecot are in the interop suite.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The channel-binding tests run twice: as they are (TLS 1.3:
 * tls-exporter) and, as the test "reach-tls12", with GnuTLS held to TLS
 * 1.2 (--tls12 sets G_TLS_GNUTLS_PRIORITY): tls-server-end-point.  The scripted
 * server's SCRAM directive checks the binding the TLS version calls for.
 */

#include "config.h"

#include <string.h>
#include <unistd.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixsocketaddress.h>

#include "smtpclient-test-certs.h"
#include "smtpclient-test-server.h"
#include "smtpclient-test-utils.h"

#define GREETING "S 220 scripted ESMTP\n"

/* ---------------------------------------------------------------------- */
/* Helpers */

static SmtpTestScriptServer *
serve (const char *flags)
{
  g_autofree char *script = g_strconcat (GREETING, "SERVE ", flags, "\n", NULL);

  return smtp_test_script_server_new (script);
}

/* Content with every kind of line end and lines starting with "." */
static GBytes *
make_content (gsize size)
{
  GString *text = g_string_new ("Subject: reach\r\n\r\n");
  guint line = 0;

  while (text->len < size)
    {
      switch (line++ % 4)
        {
        case 0: g_string_append_printf (text, "line %u crlf\r\n", line); break;
        case 1: g_string_append_printf (text, "line %u bare lf\n", line); break;
        case 2: g_string_append_printf (text, ".line %u dot\r\n", line); break;
        default: g_string_append (text, ".\r\n"); break;
        }
    }
  return g_string_free_to_bytes (text);
}

/* @content as the server must receive it: line ends CRLF, a final CRLF;
 * with BDAT, no dot-stuffing (so nothing to undo) */
static GBytes *
normalised (GBytes *content)
{
  gsize n;
  const char *data = g_bytes_get_data (content, &n);
  GString *out = g_string_sized_new (n + n / 10);

  for (gsize i = 0; i < n; i++)
    {
      if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
        g_string_append_c (out, '\r');
      g_string_append_c (out, data[i]);
    }
  if (out->len < 2 || out->str[out->len - 1] != '\n')
    g_string_append (out, "\r\n");
  return g_string_free_to_bytes (out);
}

static gboolean
commands_have_prefix (SmtpTestScriptServer *server,
                      guint                 connection,
                      const char           *prefix)
{
  g_auto(GStrv) commands = smtp_test_script_server_get_commands (server, connection);

  return smtp_test_strv_has_prefix (commands, prefix);
}

static void
assert_only_message (SmtpTestScriptServer *server,
                     GBytes               *expected)
{
  g_autoptr(GPtrArray) messages = smtp_test_script_server_get_messages (server);

  g_assert_cmpuint (messages->len, ==, 1);
  g_assert_cmpuint (g_bytes_get_size (g_ptr_array_index (messages, 0)), ==,
                    g_bytes_get_size (expected));
  g_assert_true (g_bytes_equal (g_ptr_array_index (messages, 0), expected));
}

static void
assert_failed (SmtpClientTask          *task,
               const GError            *error,
               GQuark                   domain,
               gint                     code,
               SmtpClientDeliveryState  state)
{
  if (error == NULL || !g_error_matches (error, domain, code))
    smtp_test_print_log (task);
  g_assert_error ((GError *) error, domain, code);
  g_assert_cmpint (smtp_client_task_get_delivery_state (task), ==, state);
}

/* ---------------------------------------------------------------------- */
/* CHUNKING */

typedef struct
{
  const char *flags;        /* the server's */
  gboolean    chunking;     /* the task's property */
  const char *source;       /* "memory", "file" or "pipe" */
} ChunkCase;

/* A pipe whose writer pauses after its first part: the stream source
 * that would block */
static gpointer
pipe_writer (gpointer data)
{
  gpointer *args = data;
  int fd = GPOINTER_TO_INT (args[0]);
  GBytes *content = args[1];
  gsize n;
  const guint8 *bytes = g_bytes_get_data (content, &n);
  gsize half = n / 2;

  g_assert_cmpint (write (fd, bytes, half), ==, (gssize) half);
  g_usleep (300 * 1000);
  for (gsize done = half; done < n;)
    {
      gssize w = write (fd, bytes + done, n - done);

      g_assert_cmpint (w, >, 0);
      done += (gsize) w;
    }
  close (fd);
  g_free (args);
  return NULL;
}

static GThread *
set_source (SmtpClientTask *task,
            GBytes         *content,
            const char     *source)
{
  if (g_str_equal (source, "file"))
    {
      g_autofree char *path = smtp_test_tmp_path ("chunking.eml");
      g_autoptr(GFile) file = g_file_new_for_path (path);
      gsize n;
      const char *data = g_bytes_get_data (content, &n);

      g_assert_true (g_file_set_contents (path, data, (gssize) n, NULL));
      g_object_set (task, "message-file", file, NULL);
    }
  else if (g_str_equal (source, "pipe"))
    {
      int fds[2];
      g_autoptr(GInputStream) stream = NULL;
      gpointer *args = g_new (gpointer, 2);

      g_assert_cmpint (pipe (fds), ==, 0);
      stream = g_unix_input_stream_new (fds[0], TRUE);
      g_object_set (task, "input-stream", stream, NULL);
      args[0] = GINT_TO_POINTER (fds[1]);
      args[1] = content;
      return g_thread_new ("pipe-writer", pipe_writer, args);
    }
  else
    g_object_set (task, "body", content, NULL);

  return NULL;
}

static void
test_chunking (gconstpointer data)
{
  const ChunkCase *c = data;
  g_autoptr(SmtpTestScriptServer) server = serve (c->flags);
  g_autoptr(GBytes) content = make_content (200 * 1024);
  g_autoptr(GBytes) expected = normalised (content);
  g_autoptr(SmtpClientTask) task =
    smtp_test_task_new (smtp_test_script_server_get_port (server), NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *log = NULL;
  GThread *writer;
  gboolean bdat = strstr (c->flags, "CHUNKING") != NULL && c->chunking;

  g_test_summary ("With CHUNKING offered and allowed, the content goes as "
                  "BDAT chunks without dot-stuffing (pipelined when "
                  "PIPELINING is offered), from memory, a file and a pipe "
                  "whose writer pauses; otherwise over DATA; either way "
                  "the server gets it byte for byte");

  g_object_set (task, "chunking", c->chunking, "transaction-log", TRUE, NULL);
  writer = set_source (task, content, c->source);
  g_assert_true (smtp_test_run_task (task, &error));
  smtp_test_print_log (task);
  if (writer != NULL)
    g_thread_join (writer);
  g_assert_no_error (error);
  smtp_test_script_server_wait (server, 1);
  g_assert_null (smtp_test_script_server_get_failure (server));

  assert_only_message (server, expected);
  g_assert_cmpint (commands_have_prefix (server, 0, "BDAT "), ==, bdat);
  g_assert_cmpint (commands_have_prefix (server, 0, "DATA"), ==, !bdat);
  log = g_strdup (smtp_client_task_get_transaction_log (task));
  g_assert_nonnull (log);
  smtp_test_assert_log_format (log);
  if (bdat)
    {
      /* Chunks of 64 KiB or a little more: three or more for 200 KiB,
       * summarised in one line of the log; the last says LAST */
      g_auto(GStrv) commands = smtp_test_script_server_get_commands (server, 0);
      guint n_bdat = 0, n_last = 0;

      for (guint i = 0; commands[i] != NULL; i++)
        if (g_str_has_prefix (commands[i], "BDAT "))
          {
            n_bdat++;
            n_last += g_str_has_suffix (commands[i], " LAST");
          }
      g_assert_cmpuint (n_bdat, >=, 3);
      g_assert_cmpuint (n_last, ==, 1);
      g_assert_nonnull (strstr (log, "BDAT chunks]"));
    }
  if (strstr (c->flags, "PIPELINING") != NULL && bdat)
    {
      /* The chunks go out without waiting for each 250: the server's
       * first chunk reply comes after the client has sent a second */
      g_autoptr(GBytes) received = smtp_test_script_server_get_received (server, 0);
      g_assert_cmpuint (g_bytes_get_size (received), >, 2 * 65536);
    }
  g_assert_cmpint (smtp_client_task_get_delivery_state (task), ==,
                   SMTP_CLIENT_DELIVERY_STATE_ACCEPTED);
}

static const ChunkCase chunk_cases[] = {
  { "PIPELINING CHUNKING", TRUE, "memory" },
  { "PIPELINING CHUNKING", TRUE, "file" },
  { "PIPELINING CHUNKING", TRUE, "pipe" },
  { "CHUNKING", TRUE, "memory" },
  { "CHUNKING", TRUE, "pipe" },
  { "PIPELINING CHUNKING", FALSE, "memory" },
  { "PIPELINING CHUNKING", FALSE, "pipe" },
  { "PIPELINING", TRUE, "memory" },
};

static void
test_chunk_refused (gconstpointer data)
{
  const char *flags = data;
  g_autoptr(SmtpTestScriptServer) server = serve (flags);
  g_autoptr(SmtpClientSession) session = g_object_new (SMTP_CLIENT_TYPE_SESSION,
                                                       "server", "127.0.0.1",
                                                       "port", smtp_test_script_server_get_port (server),
                                                       "timeout", 10,
                                                       "max-retries", 0,
                                                       NULL);
  g_autoptr(GBytes) content = make_content (300 * 1024);
  g_autoptr(SmtpClientTask) task = smtp_test_task_new (0, NULL);
  g_autoptr(SmtpClientTask) next = smtp_test_task_new (0, "Subject: next\r\n\r\nnext\r\n");
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) messages = NULL;
  g_auto(GStrv) commands = NULL;

  g_test_summary ("A chunk the server refuses (552 to the second BDAT) "
                  "fails the task with that reply, REFUSED, nothing "
                  "stored; no chunk follows the refusal but those already "
                  "pipelined; the transaction is reset and the connection "
                  "carries the next message");

  g_object_set (task, "session", session, "body", content,
                "transaction-log", TRUE, NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  assert_failed (task, error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER,
                 SMTP_CLIENT_DELIVERY_STATE_REFUSED);
  g_assert_cmpuint (smtp_client_task_get_reply_code (task), ==, 552);
  g_assert_nonnull (strstr (error->message, "552"));

  g_object_set (next, "session", session, NULL);
  g_assert_true (smtp_test_run_task (next, NULL));
  smtp_test_close_session (session);
  smtp_test_script_server_wait (server, 1);

  messages = smtp_test_script_server_get_messages (server);
  g_assert_cmpuint (messages->len, ==, 1);
  g_assert_nonnull (g_strstr_len (g_bytes_get_data (g_ptr_array_index (messages, 0), NULL),
                                  (gssize) g_bytes_get_size (g_ptr_array_index (messages, 0)),
                                  "next"));
  commands = smtp_test_script_server_get_commands (server, 0);
  g_assert_true (smtp_test_strv_has (commands, "RSET"));
  g_assert_true (smtp_test_strv_has (commands, "QUIT"));
  /* 300 KiB is five chunks, and the client stops at the refusal: in
   * lock-step after the second (then one for the next message);
   * pipelined, the chunks already on their way are all it sends */
  {
    guint n_bdat = 0;

    for (guint i = 0; commands[i] != NULL; i++)
      n_bdat += g_str_has_prefix (commands[i], "BDAT ");
    if (strstr (flags, "PIPELINING") == NULL)
      g_assert_cmpuint (n_bdat, ==, 3);
    else
      g_assert_cmpuint (n_bdat, <=, 6);
  }
}

static void
test_chunk_exact_multiple (void)
{
  g_autoptr(SmtpTestScriptServer) server = serve ("PIPELINING CHUNKING");
  GString *text = g_string_new (NULL);
  g_autoptr(GBytes) content = NULL;
  g_autoptr(SmtpClientTask) task =
    smtp_test_task_new (smtp_test_script_server_get_port (server), NULL);
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) commands = NULL;
  guint n_bdat = 0;

  g_test_summary ("Content of a known size that fills whole chunks: the "
                  "last full chunk says LAST (no empty BDAT 0 LAST after "
                  "it)");

  /* 128 KiB of CRLF lines: two chunks of 64 KiB exactly */
  while (text->len < 128 * 1024)
    g_string_append (text, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n");
  content = g_string_free_to_bytes (text);
  g_assert_cmpuint (g_bytes_get_size (content), ==, 128 * 1024);
  g_object_set (task, "body", content, NULL);
  g_assert_true (smtp_test_run_task (task, &error));
  g_assert_no_error (error);
  smtp_test_script_server_wait (server, 1);
  assert_only_message (server, content);
  commands = smtp_test_script_server_get_commands (server, 0);
  for (guint i = 0; commands[i] != NULL; i++)
    if (g_str_has_prefix (commands[i], "BDAT "))
      n_bdat++;
  g_assert_cmpuint (n_bdat, ==, 2);
  g_assert_true (smtp_test_strv_has (commands, "BDAT 65536 LAST"));
}

/* ---------------------------------------------------------------------- */
/* BINARYMIME */

static void
test_binary_mime (void)
{
  g_autoptr(SmtpTestScriptServer) server = serve ("PIPELINING CHUNKING BINARYMIME");
  static const guint8 raw[] = "Content-Type: application/octet-stream\r\n\r\n"
                              "\x00\x01 NUL\rlone CR\nlone LF\r\n.\r\n.dot\n"
                              "\xff\xfe no final line end";
  g_autoptr(GBytes) content = g_bytes_new_static (raw, sizeof raw - 1);
  g_autoptr(SmtpClientTask) task =
    smtp_test_task_new (smtp_test_script_server_get_port (server), NULL);
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) commands = NULL;

  g_test_summary ("With binary-mime the content goes byte for byte (NUL, "
                  "lone CR and LF, lines of one dot, no final line end) "
                  "with BODY=BINARYMIME, and arrives unchanged");

  g_object_set (task, "binary-mime", TRUE, "body", content, NULL);
  g_assert_true (smtp_test_run_task (task, &error));
  g_assert_no_error (error);
  smtp_test_script_server_wait (server, 1);

  assert_only_message (server, content);
  commands = smtp_test_script_server_get_commands (server, 0);
  g_assert_true (smtp_test_strv_has_prefix (commands,
                                            "MAIL FROM:<sender@example.org> BODY=BINARYMIME"));
  g_assert_false (smtp_test_strv_has (commands, "DATA"));
}

static void
test_binary_mime_unsupported (gconstpointer data)
{
  g_autoptr(SmtpTestScriptServer) server = serve (data);
  g_autoptr(SmtpClientTask) task =
    smtp_test_task_new (smtp_test_script_server_get_port (server), NULL);
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) commands = NULL;

  g_test_summary ("binary-mime with a server that lacks BINARYMIME or "
                  "CHUNKING: NOT_SUPPORTED before MAIL, NOT_SENT");

  g_object_set (task, "binary-mime", TRUE, NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  assert_failed (task, error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_NOT_SUPPORTED,
                 SMTP_CLIENT_DELIVERY_STATE_NOT_SENT);
  smtp_test_script_server_wait (server, 1);
  commands = smtp_test_script_server_get_commands (server, 0);
  g_assert_false (smtp_test_strv_has_prefix (commands, "MAIL"));
  g_assert_true (smtp_test_strv_has (commands, "QUIT"));
}

/* ---------------------------------------------------------------------- */
/* REQUIRETLS */

static void
test_require_tls (void)
{
  g_autoptr(SmtpTestScriptServer) server =
    smtp_test_script_server_new ("TLS\n" GREETING "SERVE PIPELINING REQUIRETLS\n");
  g_autoptr(GTlsDatabase) database = smtp_test_cert_database ();
  g_autoptr(SmtpClientTask) task =
    smtp_test_task_new (smtp_test_script_server_get_port (server), NULL);
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) commands = NULL;

  g_test_summary ("require-tls over TLS to a server offering REQUIRETLS: "
                  "MAIL FROM carries REQUIRETLS");

  g_object_set (task, "require-tls", TRUE, "security", SMTP_CLIENT_SECURITY_TLS,
                "tls-database", database, NULL);
  g_assert_true (smtp_test_run_task (task, &error));
  g_assert_no_error (error);
  smtp_test_script_server_wait (server, 1);
  commands = smtp_test_script_server_get_commands (server, 0);
  g_assert_true (smtp_test_strv_has_prefix (commands,
                                            "MAIL FROM:<sender@example.org>"));
  for (guint i = 0; commands[i] != NULL; i++)
    if (g_str_has_prefix (commands[i], "MAIL"))
      g_assert_true (g_str_has_suffix (commands[i], " REQUIRETLS"));
}

typedef struct
{
  const char         *script;
  SmtpClientSecurity  security;
} RequireTlsCase;

static void
test_require_tls_refused (gconstpointer data)
{
  const RequireTlsCase *c = data;
  g_autoptr(SmtpTestScriptServer) server = smtp_test_script_server_new (c->script);
  g_autoptr(GTlsDatabase) database = smtp_test_cert_database ();
  g_autoptr(SmtpClientTask) task =
    smtp_test_task_new (smtp_test_script_server_get_port (server), NULL);
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) commands = NULL;

  g_test_summary ("require-tls over plain TCP, or with a server that does "
                  "not offer REQUIRETLS: NOT_SUPPORTED before MAIL");

  g_object_set (task, "require-tls", TRUE, "security", c->security,
                "tls-database", database, NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  assert_failed (task, error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_NOT_SUPPORTED,
                 SMTP_CLIENT_DELIVERY_STATE_NOT_SENT);
  smtp_test_script_server_wait (server, 1);
  commands = smtp_test_script_server_get_commands (server, 0);
  g_assert_false (smtp_test_strv_has_prefix (commands, "MAIL"));
}

static const RequireTlsCase require_tls_cases[] = {
  /* Plain TCP: the server offers it only over TLS (RFC 8689 §4.1) */
  { GREETING "SERVE REQUIRETLS\n", SMTP_CLIENT_SECURITY_NONE },
  /* TLS, but not offered */
  { "TLS\n" GREETING "SERVE PIPELINING\n", SMTP_CLIENT_SECURITY_TLS },
  /* STARTTLS if available, and the server has no STARTTLS */
  { GREETING "SERVE REQUIRETLS\n", SMTP_CLIENT_SECURITY_STARTTLS_IF_AVAILABLE },
};

/* ---------------------------------------------------------------------- */
/* LMTP */

static const char *const lmtp_recipients[] = {
  "alice@example.org", "full-bob@example.org", "carol@example.org", NULL
};

static void
test_lmtp (gconstpointer data)
{
  gboolean allow_refused = GPOINTER_TO_INT (data);
  g_autoptr(SmtpTestScriptServer) server = serve ("LMTP PIPELINING CHUNKING");
  g_autoptr(SmtpClientTask) task =
    smtp_test_task_new (smtp_test_script_server_get_port (server), NULL);
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) commands = NULL;
  const char *const *refused;

  g_test_summary ("LMTP: LHLO, one reply per accepted recipient after the "
                  "data; a recipient refused then is listed with its "
                  "reply; the refused-recipients policy decides");

  g_object_set (task, "protocol", SMTP_CLIENT_PROTOCOL_LMTP,
                "to", lmtp_recipients, "allow-refused-recipients", allow_refused,
                "transaction-log", TRUE, NULL);
  g_assert_cmpint (smtp_test_run_task (task, &error), ==, allow_refused);
  smtp_test_print_log (task);
  if (allow_refused)
    g_assert_no_error (error);
  else
    {
      g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER);
      g_assert_nonnull (strstr (error->message, "full-bob@example.org"));
      /* Delivered to two mailboxes already: never NOT_SENT */
      g_assert_cmpint (smtp_client_task_get_delivery_state (task), ==,
                       SMTP_CLIENT_DELIVERY_STATE_REFUSED);
    }
  refused = smtp_client_task_get_refused_recipients (task);
  g_assert_nonnull (refused);
  g_assert_cmpstr (refused[0], ==, "full-bob@example.org");
  g_assert_null (refused[1]);
  g_assert_cmpuint (smtp_client_task_get_recipient_reply_code (task, "alice@example.org"), ==, 250);
  g_assert_cmpuint (smtp_client_task_get_recipient_reply_code (task, "carol@example.org"), ==, 250);
  g_assert_cmpuint (smtp_client_task_get_recipient_reply_code (task, "full-bob@example.org"), ==, 552);
  g_assert_nonnull (strstr (smtp_client_task_get_recipient_reply (task, "full-bob@example.org"),
                            "mailbox full"));

  smtp_test_script_server_wait (server, 1);
  commands = smtp_test_script_server_get_commands (server, 0);
  g_assert_true (smtp_test_strv_has_prefix (commands, "LHLO "));
  g_assert_false (smtp_test_strv_has_prefix (commands, "EHLO"));
  g_assert_false (smtp_test_strv_has_prefix (commands, "HELO"));
}

static void
test_lmtp_no_helo_fallback (void)
{
  g_autoptr(SmtpTestScriptServer) server =
    smtp_test_script_server_new (GREETING
                                 "C LHLO *\n"
                                 "S 500 5.5.1 what is LHLO?\n"
                                 "C QUIT\n"
                                 "S 221 bye\n");
  g_autoptr(SmtpClientTask) task =
    smtp_test_task_new (smtp_test_script_server_get_port (server), NULL);
  g_autoptr(GError) error = NULL;

  g_test_summary ("LMTP has no HELO fallback: a refused LHLO fails the task");

  g_object_set (task, "protocol", SMTP_CLIENT_PROTOCOL_LMTP, NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  assert_failed (task, error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER,
                 SMTP_CLIENT_DELIVERY_STATE_NOT_SENT);
  smtp_test_script_server_wait (server, 1);
  g_assert_null (smtp_test_script_server_get_failure (server));
}

/* A Unix socket in front of the scripted server's TCP port: each
 * connection is spliced to a new one to the server */
typedef struct
{
  GSocketService *service;
  guint           port;
  char           *path;
} UnixFront;

static gboolean
on_unix_incoming (GSocketService    *service,
                  GSocketConnection *connection,
                  GObject           *source,
                  gpointer           user_data)
{
  UnixFront *front = user_data;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) tcp = NULL;
  g_autoptr(GError) error = NULL;

  tcp = g_socket_client_connect_to_host (client, "127.0.0.1", (guint16) front->port,
                                         NULL, &error);
  g_assert_no_error (error);
  g_io_stream_splice_async (G_IO_STREAM (connection), G_IO_STREAM (tcp),
                            G_IO_STREAM_SPLICE_CLOSE_STREAM1 |
                            G_IO_STREAM_SPLICE_CLOSE_STREAM2 |
                            G_IO_STREAM_SPLICE_WAIT_FOR_BOTH,
                            G_PRIORITY_DEFAULT, NULL, NULL, NULL);
  return TRUE;
}

static UnixFront *
unix_front_new (guint port)
{
  UnixFront *front = g_new0 (UnixFront, 1);
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GError) error = NULL;

  front->port = port;
  front->path = smtp_test_tmp_path ("lmtp.sock");
  unlink (front->path);
  address = g_unix_socket_address_new (front->path);
  front->service = g_socket_service_new ();
  g_socket_listener_add_address (G_SOCKET_LISTENER (front->service), address,
                                 G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
                                 NULL, NULL, &error);
  g_assert_no_error (error);
  g_signal_connect (front->service, "incoming", G_CALLBACK (on_unix_incoming), front);
  g_socket_service_start (front->service);
  return front;
}

static void
unix_front_free (UnixFront *front)
{
  g_socket_service_stop (front->service);
  g_socket_listener_close (G_SOCKET_LISTENER (front->service));
  g_object_unref (front->service);
  unlink (front->path);
  g_free (front->path);
  g_free (front);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (UnixFront, unix_front_free)

static void
test_lmtp_unix_socket (void)
{
  g_autoptr(SmtpTestScriptServer) server = serve ("LMTP PIPELINING");
  g_autoptr(UnixFront) front = unix_front_new (smtp_test_script_server_get_port (server));
  g_autoptr(SmtpClientTask) task = smtp_test_task_new (0, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) messages = NULL;

  g_test_summary ("LMTP to a Unix domain socket: server is an absolute path");

  g_object_set (task, "protocol", SMTP_CLIENT_PROTOCOL_LMTP,
                "server", front->path, NULL);
  g_assert_true (smtp_test_run_task (task, &error));
  g_assert_no_error (error);
  smtp_test_script_server_wait (server, 1);
  messages = smtp_test_script_server_get_messages (server);
  g_assert_cmpuint (messages->len, ==, 1);
  g_assert_cmpuint (smtp_client_task_get_recipient_reply_code (task, "rcpt@example.org"), ==, 250);
}

/* smtpclient-send --lmtp --server SOCKET, and --require-tls over plain
 * TCP: its exit status, and what it wrote to standard error */
static void
test_cli_lmtp (void)
{
  g_autoptr(SmtpTestScriptServer) server = serve ("LMTP PIPELINING");
  g_autoptr(UnixFront) front = unix_front_new (smtp_test_script_server_get_port (server));
  const char *argv[] = { smtp_test_send_tool (), "--lmtp", "--server",
                         front->path, "--from", "a@example.org", "--log",
                         "b@example.org", NULL };
  g_auto(SmtpTestToolRun) run = { 0, NULL, NULL };
  g_autoptr(GPtrArray) messages = NULL;

  g_test_summary ("smtpclient-send --lmtp --server /path/to/socket");

  smtp_test_run_tool (&run, argv, NULL, "Subject: cli\r\n\r\nby LMTP\r\n");
  g_assert_cmpint (run.status, ==, 0);
  g_assert_nonnull (strstr (run.err, "-> LHLO "));
  smtp_test_script_server_wait (server, 1);
  messages = smtp_test_script_server_get_messages (server);
  g_assert_cmpuint (messages->len, ==, 1);
}

static void
test_cli_require_tls (void)
{
  g_autoptr(SmtpTestScriptServer) server = serve ("REQUIRETLS");
  g_autofree char *port = g_strdup_printf ("%u", smtp_test_script_server_get_port (server));
  const char *argv[] = { smtp_test_send_tool (), "--require-tls",
                         "--server", "127.0.0.1", "--port", port,
                         "--from", "a@example.org", "b@example.org", NULL };
  g_auto(SmtpTestToolRun) run = { 0, NULL, NULL };

  g_test_summary ("smtpclient-send --require-tls over plain TCP: a one-line "
                  "error, non-zero exit, no MAIL sent");

  smtp_test_run_tool (&run, argv, NULL, "Subject: cli\r\n\r\nx\r\n");
  g_assert_cmpint (run.status, !=, 0);
  g_assert_nonnull (strstr (run.err, "REQUIRETLS"));
  g_assert_null (strchr (g_strchomp (run.err), '\n'));
  smtp_test_script_server_wait (server, 1);
  g_assert_false (commands_have_prefix (server, 0, "MAIL"));
}

static void
test_cli_discover_usage (void)
{
  const char *tool = smtp_test_send_tool ();
  const char *not_a_domain[] = { tool, "--discover", "not a/domain",
                                 "b@example.org", NULL };
  const char *with_server[] = { tool, "--discover", "example.org", "--server",
                                "127.0.0.1", "b@example.org", NULL };
  g_auto(SmtpTestToolRun) run1 = { 0, NULL, NULL };
  g_auto(SmtpTestToolRun) run2 = { 0, NULL, NULL };

  g_test_summary ("smtpclient-send --discover: what is not a domain, or "
                  "--server given as well, is a usage error (exit 2, one "
                  "line), before any lookup");

  smtp_test_run_tool (&run1, not_a_domain, NULL, "Subject: x\r\n\r\nx\r\n");
  g_assert_cmpint (run1.status, ==, 2);
  g_assert_nonnull (strstr (run1.err, "not a mail domain"));
  g_assert_null (strchr (g_strchomp (run1.err), '\n'));
  smtp_test_run_tool (&run2, with_server, NULL, "Subject: x\r\n\r\nx\r\n");
  g_assert_cmpint (run2.status, ==, 2);
  g_assert_nonnull (strstr (run2.err, "--discover"));
  g_assert_null (strchr (g_strchomp (run2.err), '\n'));
}

/* ---------------------------------------------------------------------- */
/* SCRAM-*-PLUS */

typedef struct
{
  const char *offered;      /* the EHLO's AUTH line */
  const char *scram;        /* the SCRAM directive's arguments */
  const char *mechanism;    /* the task's, NULL: the auto choice */
  gboolean    tls;
  gboolean    succeeds;
} PlusCase;

static void
test_scram_plus (gconstpointer data)
{
  const PlusCase *c = data;
  g_autofree char *script =
    g_strdup_printf ("%s" GREETING
                     "C EHLO *\n"
                     "S 250-scripted\n"
                     "S 250 AUTH %s\n"
                     "SCRAM %s\n"
                     "%s",
                     c->tls ? "TLS\n" : "", c->offered, c->scram,
                     c->succeeds ? SMTP_TEST_SCRIPT_DELIVERY : "C QUIT\nS 221 bye\n");
  g_autoptr(SmtpTestScriptServer) server = smtp_test_script_server_new (script);
  g_autoptr(GTlsDatabase) database = smtp_test_cert_database ();
  g_autoptr(SmtpClientTask) task =
    smtp_test_task_new (smtp_test_script_server_get_port (server), NULL);
  g_autoptr(GError) error = NULL;

  g_test_summary ("SCRAM-*-PLUS binds to the TLS channel (tls-exporter "
                  "over TLS 1.3, tls-server-end-point over TLS 1.2), is "
                  "the auto choice over TLS, fails against a server bound "
                  "to other data, and says 'y' to a server without -PLUS");

  g_object_set (task, "auth-user", "user", "auth-password", "pencil",
                "auth-mechanism", c->mechanism, "tls-database", database,
                "security", c->tls ? SMTP_CLIENT_SECURITY_TLS : SMTP_CLIENT_SECURITY_NONE,
                "allow-insecure-auth", !c->tls, "transaction-log", TRUE, NULL);
  if (c->succeeds)
    {
      g_assert_true (smtp_test_run_task (task, &error));
      g_assert_no_error (error);
    }
  else
    {
      g_assert_false (smtp_test_run_task (task, &error));
      assert_failed (task, error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_AUTH_FAILED,
                     SMTP_CLIENT_DELIVERY_STATE_NOT_SENT);
      g_assert_cmpuint (smtp_client_task_get_reply_code (task), ==, 535);
    }
  smtp_test_script_server_wait (server, 1);
  g_assert_null (smtp_test_script_server_get_failure (server));
  /* No secret in the log */
  g_assert_null (strstr (smtp_client_task_get_transaction_log (task), "pencil"));
}

static const PlusCase plus_cases[] = {
  { "SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN", "SHA-256 user pencil PLUS", NULL, TRUE, TRUE },
  { "SCRAM-SHA-1-PLUS SCRAM-SHA-1 PLAIN", "SHA-1 user pencil PLUS", NULL, TRUE, TRUE },
  { "SCRAM-SHA-1-PLUS SCRAM-SHA-256-PLUS", "SHA-1 user pencil PLUS", "SCRAM-SHA-1-PLUS", TRUE, TRUE },
  { "SCRAM-SHA-256-PLUS SCRAM-SHA-256", "SHA-256 user pencil PLUS WRONG-BINDING", NULL, TRUE, FALSE },
  { "SCRAM-SHA-256 PLAIN", "SHA-256 user pencil", NULL, TRUE, TRUE },
  { "SCRAM-SHA-256-PLUS SCRAM-SHA-256", "SHA-256 user pencil", NULL, FALSE, TRUE },
  { "SCRAM-SHA-256-PLUS SCRAM-SHA-256", "SHA-256 user pencil N", "SCRAM-SHA-256", TRUE, TRUE },
};

/* ---------------------------------------------------------------------- */

int
main (int    argc,
      char **argv)
{
  gboolean tls12 = FALSE;

  /* --tls12: GnuTLS held to TLS 1.2, set before glib-networking starts */
  for (int i = 1; i < argc; i++)
    if (g_str_equal (argv[i], "--tls12"))
      {
        tls12 = TRUE;
        g_setenv ("G_TLS_GNUTLS_PRIORITY", "NORMAL:-VERS-TLS1.3", TRUE);
        memmove (&argv[i], &argv[i + 1], (gsize) (argc - i) * sizeof *argv);
        argc--;
        break;
      }
  g_test_init (&argc, &argv, NULL);

  if (!tls12)
    {
      for (gsize i = 0; i < G_N_ELEMENTS (chunk_cases); i++)
        {
          const ChunkCase *c = &chunk_cases[i];
          g_autofree char *path = g_strdup_printf ("/reach/chunking/%s%s%s/%s",
                                                   strstr (c->flags, "PIPELINING") ? "pipelined" : "lock-step",
                                                   strstr (c->flags, "CHUNKING") ? "" : "-not-offered",
                                                   c->chunking ? "" : "-disabled",
                                                   c->source);
          g_test_add_data_func (path, c, test_chunking);
        }
      g_test_add_data_func ("/reach/chunking/refused/pipelined",
                            "PIPELINING CHUNKING BDAT-552=2", test_chunk_refused);
      g_test_add_data_func ("/reach/chunking/refused/lock-step",
                            "CHUNKING BDAT-552=2", test_chunk_refused);
      g_test_add_func ("/reach/chunking/exact-multiple", test_chunk_exact_multiple);
      g_test_add_func ("/reach/binarymime/bytes", test_binary_mime);
      g_test_add_data_func ("/reach/binarymime/not-offered",
                            "PIPELINING CHUNKING", test_binary_mime_unsupported);
      g_test_add_data_func ("/reach/binarymime/no-chunking",
                            "PIPELINING BINARYMIME", test_binary_mime_unsupported);
      g_test_add_func ("/reach/requiretls/offered", test_require_tls);
      g_test_add_data_func ("/reach/requiretls/plain", &require_tls_cases[0],
                            test_require_tls_refused);
      g_test_add_data_func ("/reach/requiretls/not-offered", &require_tls_cases[1],
                            test_require_tls_refused);
      g_test_add_data_func ("/reach/requiretls/no-starttls", &require_tls_cases[2],
                            test_require_tls_refused);
      g_test_add_data_func ("/reach/lmtp/refused-policy", GINT_TO_POINTER (FALSE),
                            test_lmtp);
      g_test_add_data_func ("/reach/lmtp/allow-refused", GINT_TO_POINTER (TRUE),
                            test_lmtp);
      g_test_add_func ("/reach/lmtp/no-helo-fallback", test_lmtp_no_helo_fallback);
      g_test_add_func ("/reach/lmtp/unix-socket", test_lmtp_unix_socket);
      g_test_add_func ("/reach/cli/lmtp", test_cli_lmtp);
      g_test_add_func ("/reach/cli/require-tls", test_cli_require_tls);
      g_test_add_func ("/reach/cli/discover-usage", test_cli_discover_usage);
    }

  g_test_add_data_func ("/reach/scram-plus/sha-256-auto", &plus_cases[0], test_scram_plus);
  g_test_add_data_func ("/reach/scram-plus/sha-1-auto", &plus_cases[1], test_scram_plus);
  g_test_add_data_func ("/reach/scram-plus/sha-1-chosen", &plus_cases[2], test_scram_plus);
  g_test_add_data_func ("/reach/scram-plus/wrong-binding", &plus_cases[3], test_scram_plus);
  g_test_add_data_func ("/reach/scram-plus/server-without-plus", &plus_cases[4], test_scram_plus);
  g_test_add_data_func ("/reach/scram-plus/plain-connection", &plus_cases[5], test_scram_plus);
  g_test_add_data_func ("/reach/scram-plus/plain-form-chosen", &plus_cases[6], test_scram_plus);

  return g_test_run ();
}

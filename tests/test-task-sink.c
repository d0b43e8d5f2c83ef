/* test-task-sink.c: SmtpClientTask against Postfix's smtp-sink
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "smtpclient-test-utils.h"

static SmtpClientTask *
new_logged_task (SmtpTestServer *server,
                 const char     *body)
{
  SmtpClientTask *task = smtp_test_task_new (smtp_test_server_get_port (server),
                                             body);

  g_object_set (task, "transaction-log", TRUE, NULL);
  return task;
}

/* Position of @needle in @haystack, failing the test if absent */
static gsize
position_of (const char *haystack,
             const char *needle)
{
  const char *found = strstr (haystack, needle);

  if (found == NULL)
    g_error ("“%s” not in:\n%s", needle, haystack);
  return found - haystack;
}

static void
test_pipelined_delivery (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_sink (NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  const char *to[] = { "a@example.org", "b@example.org", NULL };
  const char *log;

  g_test_summary ("With PIPELINING, MAIL, every RCPT and DATA go out before "
                  "their replies are read");

  task = new_logged_task (server, "Subject: sink\n\nhello\n");
  g_object_set (task, "to", to, NULL);
  g_assert_true (smtp_test_run_task (task, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (smtp_client_task_get_reply_code (task), ==, 250);

  log = smtp_client_task_get_transaction_log (task);
  g_assert_cmpuint (position_of (log, "-> DATA"), <,
                    position_of (log, "<- 250 2.1.0"));
  g_assert_cmpuint (position_of (log, "-> RCPT TO:<b@example.org>"), <,
                    position_of (log, "<- 250 2.1.5"));
  g_assert_cmpuint (position_of (log, "<- 354"), <,
                    position_of (log, "-> [message: 21 bytes]"));
}

static void
test_rcpt_refused (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_sink ("-f", "RCPT", NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  const char * const *refused;
  const char *log;

  task = new_logged_task (server, NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER);
  g_assert_nonnull (strstr (error->message, "rcpt@example.org"));
  g_assert_cmpuint (smtp_client_task_get_reply_code (task) / 100, ==, 5);

  refused = smtp_client_task_get_refused_recipients (task);
  g_assert_nonnull (refused);
  g_assert_cmpstr (refused[0], ==, "rcpt@example.org");
  g_assert_null (refused[1]);

  /* Nothing delivered; a one-shot task says QUIT, no RSET first */
  log = smtp_client_task_get_transaction_log (task);
  g_assert_null (strstr (log, "-> RSET"));
  g_assert_nonnull (strstr (log, "-> QUIT"));
  g_assert_cmpint (smtp_client_task_get_delivery_state (task), ==,
                   SMTP_CLIENT_DELIVERY_STATE_REFUSED);
}

static void
test_421_after_mail (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_sink ("-Q", "MAIL", NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;

  task = new_logged_task (server, NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER);
  g_assert_cmpuint (smtp_client_task_get_reply_code (task), ==, 421);
  g_assert_nonnull (strstr (error->message, "421"));
  g_assert_true (g_str_has_prefix (smtp_client_task_get_reply (task), "421"));
}

static void
test_disconnect (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_sink ("-q", "DATA", NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("The server hangs up without a reply: a GIO error");

  task = new_logged_task (server, NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_nonnull (error);
  g_assert_true (error->domain == G_IO_ERROR);
  g_assert_null (strstr (smtp_client_task_get_transaction_log (task),
                         "[message:"));
}

static void
test_abort_during_data (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_sink ("-A", "1", NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *body = NULL;
  const gsize size = 24 * 1024 * 1024;

  g_test_summary ("A 550 while the content is still uploading stops the "
                  "upload and fails the task with that reply");

  /* Big enough not to fit in the socket buffers within the second the
   * sink waits before its early reply */
  body = g_malloc (size + 1);
  for (gsize i = 0; i < size; i += 64)
    {
      memset (body + i, 'a' + (i / 64) % 26, 63);
      body[i + 63] = '\n';
    }
  body[size] = '\0';

  task = new_logged_task (server, body);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER);
  g_assert_cmpuint (smtp_client_task_get_reply_code (task), ==, 550);
  /* The upload did not complete */
  g_assert_null (strstr (smtp_client_task_get_transaction_log (task),
                         "[message:"));
}

static void
test_no_esmtp (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_sink ("-e", NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  const char *log;

  task = new_logged_task (server, NULL);
  g_assert_true (smtp_test_run_task (task, &error));
  g_assert_no_error (error);

  log = smtp_client_task_get_transaction_log (task);
  g_assert_cmpuint (position_of (log, "-> EHLO localhost"), <,
                    position_of (log, "-> HELO localhost"));
  /* No ESMTP parameters on MAIL after HELO */
  g_assert_nonnull (strstr (log, "-> MAIL FROM:<sender@example.org>\n"));
}

static void
test_refused_connection (void)
{
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  guint port;

  g_test_summary ("Nobody listens: the GIO error as GIO reports it");

  /* A port that was free a moment ago */
  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                         G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  address = g_inet_socket_address_new (loopback, 0);
  g_assert_true (g_socket_bind (socket, address, TRUE, &error));
  g_clear_object (&address);
  address = g_socket_get_local_address (socket, &error);
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address));
  g_socket_close (socket, NULL);

  task = smtp_test_task_new (port, NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_assert_cmpuint (smtp_client_task_get_reply_code (task), ==, 0);
  g_assert_null (smtp_client_task_get_reply (task));
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/smtpclient/sink/pipelined-delivery", test_pipelined_delivery);
  g_test_add_func ("/smtpclient/sink/rcpt-refused", test_rcpt_refused);
  g_test_add_func ("/smtpclient/sink/421-after-mail", test_421_after_mail);
  g_test_add_func ("/smtpclient/sink/disconnect", test_disconnect);
  g_test_add_func ("/smtpclient/sink/abort-during-data", test_abort_during_data);
  g_test_add_func ("/smtpclient/sink/no-esmtp", test_no_esmtp);
  g_test_add_func ("/smtpclient/sink/refused-connection", test_refused_connection);

  return g_test_run ();
}

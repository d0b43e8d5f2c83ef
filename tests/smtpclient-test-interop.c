/* smtpclient-test-interop.c: what the interop tests share (see
 * smtpclient-test-interop.h)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "smtpclient-test-interop.h"
#include "smtpclient-test-utils.h"

SmtpTestMailServer *
smtp_test_shared_server (SmtpTestSharedServer *shared)
{
  if (!shared->tried)
    {
      shared->tried = TRUE;
      shared->server = smtp_test_mailserver_start (shared->kind,
                                                   shared->option, NULL);
      return shared->server;
    }
  if (shared->server == NULL)
    g_test_skip ("the mail server could not start here (the first test "
                 "that needed it says why)");
  return shared->server;
}

/* Waiting, bounded */

static gboolean
on_timeout_set_flag (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

void
smtp_test_iterate_until (const gboolean *done,
                         guint           seconds,
                         const char     *what)
{
  gboolean timed_out = FALSE;
  GSource *timeout = g_timeout_source_new_seconds (seconds);

  g_source_set_callback (timeout, on_timeout_set_flag, &timed_out, NULL);
  g_source_attach (timeout, NULL);
  while (!*done && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  g_source_destroy (timeout);
  g_source_unref (timeout);
  if (!*done)
    g_error ("%s did not finish within %u s", what, seconds);
}

typedef struct
{
  gboolean done;
  gboolean succeeded;
  GError  *error;
} Sent;

static void
on_sent (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Sent *sent = user_data;

  sent->succeeded = smtp_client_task_send_finish (SMTP_CLIENT_TASK (source),
                                                  result, &sent->error);
  sent->done = TRUE;
}

/* Sends @task with its transaction log on and waits (bounded) for the
 * end */
gboolean
smtp_test_interop_run_task (SmtpClientTask  *task,
                            GError         **error)
{
  Sent sent = { FALSE, FALSE, NULL };

  g_object_set (task, "transaction-log", TRUE, NULL);
  smtp_client_task_send_async (task, NULL, on_sent, &sent);
  smtp_test_iterate_until (&sent.done, SMTP_TEST_INTEROP_RUN_WAIT_S,
                           "the task");
  if (sent.error != NULL)
    g_propagate_error (error, sent.error);
  return sent.succeeded;
}

/* Deterministic content of exactly @size bytes: headers a Postfix
 * accepts unchanged (so that the stored message ends with it), then
 * lines of 76 characters, some starting with "." (dot-stuffing over DATA),
 * CRLF line ends.  Under 200 bytes: that many "x" */
GBytes *
smtp_test_make_message (gsize size,
                        guint seed)
{
  g_autoptr(GString) text = g_string_sized_new (size);
  guint32 state = seed * 2654435761u + 1;
  static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/ ";
  guint line = 0;

  if (size < 200)
    {
      for (gsize i = 0; i < size; i++)
        g_string_append_c (text, 'x');
      return g_string_free_to_bytes (g_steal_pointer (&text));
    }
  g_string_append_printf (text,
                          "From: sender@example.org\r\n"
                          "To: user@example.org\r\n"
                          "Subject: libsmtpclient interop, %" G_GSIZE_FORMAT
                          " bytes\r\n"
                          "Date: Sun, 06 Dec 2026 06:00:00 +0000\r\n"
                          "Message-ID: <interop-%u-%" G_GSIZE_FORMAT
                          "@example.org>\r\n"
                          "\r\n", size, seed, size);
  while (text->len < size)
    {
      gsize left = size - text->len;
      gsize length = left <= 78 ? left - 2 : (left == 79 ? 70 : 76);

      for (gsize i = 0; i < length; i++)
        {
          state = state * 1664525u + 1013904223u;
          g_string_append_c (text, i == 0 && line % 7 == 3
                                   ? '.' : alphabet[(state >> 24) % 65]);
        }
      g_string_append (text, "\r\n");
      line++;
    }
  g_assert_cmpuint (text->len, ==, size);
  return g_string_free_to_bytes (g_steal_pointer (&text));
}

/* What goes on the wire for @content: a final CRLF when it lacks one */
GBytes *
smtp_test_wire_form (GBytes *content)
{
  gsize length;
  const char *data = g_bytes_get_data (content, &length);
  GByteArray *out;

  if (length >= 2 && data[length - 2] == '\r' && data[length - 1] == '\n')
    return g_bytes_ref (content);
  out = g_byte_array_sized_new (length + 2);
  g_byte_array_append (out, (const guint8 *) data, length);
  g_byte_array_append (out, (const guint8 *) "\r\n", 2);
  return g_byte_array_free_to_bytes (out);
}

/* @stored ends with @sent byte for byte: compared as SHA-256 sums of
 * @sent and of the same length at the end of @stored (the server's own
 * header lines come before it) */
void
smtp_test_assert_stored (SmtpTestMailServer *server,
                         GBytes             *stored,
                         GBytes             *sent)
{
  gsize stored_length, sent_length;
  const guint8 *stored_data = g_bytes_get_data (stored, &stored_length);
  const guint8 *sent_data = g_bytes_get_data (sent, &sent_length);
  g_autofree char *sent_sum = NULL;
  g_autofree char *stored_sum = NULL;

  g_assert_cmpuint (stored_length, >=, sent_length);
  sent_sum = g_compute_checksum_for_data (G_CHECKSUM_SHA256, sent_data,
                                          sent_length);
  stored_sum = g_compute_checksum_for_data (G_CHECKSUM_SHA256,
                                            stored_data + stored_length
                                            - sent_length, sent_length);
  g_assert_cmpstr (stored_sum, ==, sent_sum);
  g_assert_true (smtp_test_mailserver_stored_is (server, stored, sent));
}

/* Every line of @log that starts with @prefix */
guint
smtp_test_count_lines (const char *log,
                       const char *prefix)
{
  g_auto(GStrv) lines = g_strsplit (log != NULL ? log : "", "\n", -1);
  guint n = 0;

  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], prefix))
      n++;
  return n;
}

void
smtp_test_print_and_save_log (SmtpClientTask *task,
                              const char     *file_name)
{
  const char *directory = g_getenv ("SMTPCLIENT_INTEROP_TRANSCRIPTS");
  const char *log = smtp_client_task_get_transaction_log (task);

  smtp_test_print_log (task);
  if (directory != NULL && *directory != '\0')
    {
      g_autofree char *path = g_build_filename (directory, file_name, NULL);
      g_autoptr(GError) error = NULL;
      g_autofree char *text = g_strconcat (log, "\n", NULL);

      g_file_set_contents (path, text, -1, &error);
      g_assert_no_error (error);
      g_test_message ("transcript saved to %s", path);
    }
}

/* Postfix */

void
smtp_test_shared_server_free (SmtpTestSharedServer *shared)
{
  g_clear_pointer (&shared->server, smtp_test_mailserver_free);
}


/* test-content.c: the message content: bytes, a file, a stream, a pipe
 * whose writer pauses, a stream that fails; CR LF normalisation,
 * dot-stuffing, 8BITMIME, SIZE, progress
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <glib-unix.h>
#include <glib/gstdio.h>
#include <gio/gunixinputstream.h>

#include "smtpclient-test-certs.h"
#include "smtpclient-test-server.h"
#include "smtpclient-test-utils.h"

static void
test_deliver_exact (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_aiosmtpd (NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  SmtpTestMessage *message;
  const char *log;

  g_test_summary ("Bare LF, bare CR, dot lines and a missing final newline "
                  "arrive as CRLF, unstuffed, with a final CRLF");

  task = smtp_test_task_new (smtp_test_server_get_port (server),
                             "Subject: exact\n\nline one\r\n.dot\n..two dots"
                             "\rcr alone\n.\nlast");
  g_object_set (task, "transaction-log", TRUE, NULL);
  g_assert_true (smtp_test_run_task (task, &error));
  g_assert_no_error (error);

  message = smtp_test_only_message (server);
  smtp_test_assert_content (message,
                  "Subject: exact\r\n\r\nline one\r\n.dot\r\n..two dots\r\n"
                  "cr alone\r\n.\r\nlast\r\n");
  g_assert_cmpstr (message->mail_from, ==, "sender@example.org");
  g_assert_true (smtp_test_strv_has (message->rcpt_tos, "rcpt@example.org"));
  g_assert_cmpuint (g_strv_length (message->rcpt_tos), ==, 1);

  g_assert_cmpuint (smtp_client_task_get_reply_code (task), ==, 250);
  g_assert_true (g_str_has_prefix (smtp_client_task_get_reply (task), "250"));

  log = smtp_client_task_get_transaction_log (task);
  smtp_test_assert_log_format (log);
  g_assert_nonnull (strstr (log, "-> MAIL FROM:<sender@example.org>"));
  g_assert_nonnull (strstr (log, "-> RCPT TO:<rcpt@example.org>"));
  g_assert_nonnull (strstr (log, "-> [message: "));
  g_assert_null (strstr (log, "line one"));
  g_assert_nonnull (strstr (log, "<- 221"));
}

static void
test_content_precedence (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_aiosmtpd (NULL);
  g_autofree char *path = smtp_test_tmp_path ("precedence.eml");
  g_autoptr(GFile) file = NULL;
  g_autoptr(GBytes) stream_bytes = NULL;
  g_autoptr(GInputStream) stream = NULL;
  g_autoptr(SmtpClientTask) task1 = NULL;
  g_autoptr(SmtpClientTask) task2 = NULL;
  g_autoptr(GError) error = NULL;
  GPtrArray *messages;

  g_test_summary ("input-stream wins over message-file, which wins over body");

  g_assert_true (g_file_set_contents (path, "Subject: file\n\nfrom the file\n",
                                      -1, NULL));
  file = g_file_new_for_path (path);
  stream_bytes = g_bytes_new_static ("Subject: stream\n\nfrom the stream\n",
                                     strlen ("Subject: stream\n\nfrom the stream\n"));
  stream = g_memory_input_stream_new_from_bytes (stream_bytes);

  task1 = smtp_test_task_new (smtp_test_server_get_port (server),
                              "Subject: body\n\nfrom the body\n");
  g_object_set (task1, "message-file", file, "input-stream", stream, NULL);
  g_assert_true (smtp_test_run_task (task1, &error));
  g_assert_no_error (error);

  task2 = smtp_test_task_new (smtp_test_server_get_port (server),
                              "Subject: body\n\nfrom the body\n");
  g_object_set (task2, "message-file", file, NULL);
  g_assert_true (smtp_test_run_task (task2, &error));
  g_assert_no_error (error);

  messages = smtp_test_server_get_messages (server);
  g_assert_cmpuint (messages->len, ==, 2);
  smtp_test_assert_content (g_ptr_array_index (messages, 0),
                  "Subject: stream\r\n\r\nfrom the stream\r\n");
  smtp_test_assert_content (g_ptr_array_index (messages, 1),
                  "Subject: file\r\n\r\nfrom the file\r\n");
}

static void
test_message_file_missing (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_aiosmtpd (NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GFile) file = g_file_new_for_path ("/nonexistent/dir/message.eml");

  task = smtp_test_task_new (smtp_test_server_get_port (server), NULL);
  g_object_set (task, "message-file", file, NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_MESSAGE_FILE);
  g_assert_cmpuint (smtp_test_server_get_messages (server)->len, ==, 0);
}

static void
test_large_file (void)
{
  g_autoptr(SmtpTestServer) server = NULL;
  g_autofree char *path = smtp_test_tmp_path ("large.eml");
  g_autoptr(GChecksum) expected = g_checksum_new (G_CHECKSUM_SHA256);
  g_autoptr(GChecksum) received = g_checksum_new (G_CHECKSUM_SHA256);
  g_autoptr(GFile) file = NULL;
  g_autoptr(GFileOutputStream) out = NULL;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  const gsize total = 100 * 1024 * 1024;
  char line[1024];
  gsize written = 0;
  guint n = 0;
  SmtpTestMessage *message;
  gsize size = 0;
  const guint8 *data;

  g_test_summary ("A 100 MB message file is streamed; the server's copy has "
                  "the same SHA-256 as the wire form of the file");

  server = smtp_test_server_start_aiosmtpd ("--size", "0", NULL);
  file = g_file_new_for_path (path);
  out = g_file_replace (file, NULL, FALSE, G_FILE_CREATE_NONE, NULL, &error);
  g_assert_no_error (error);

  /* Lines of 1000 bytes with LF ends, some starting with a dot: the wire
   * form (what the server stores after unstuffing) has CRLF. */
  while (written < total)
    {
      gsize length = g_snprintf (line, sizeof line - 2, "%s%08u ",
                                 n % 97 == 0 ? "." : "", n);

      memset (line + length, 'a' + n % 26, 998 - length);
      line[998] = '\n';
      g_assert_true (g_output_stream_write_all (G_OUTPUT_STREAM (out), line,
                                                999, NULL, NULL, &error));
      line[998] = '\r';
      line[999] = '\n';
      g_checksum_update (expected, (guchar *) line, 1000);
      written += 999;
      n++;
    }
  g_assert_true (g_output_stream_close (G_OUTPUT_STREAM (out), NULL, &error));

  task = smtp_test_task_new (smtp_test_server_get_port (server), NULL);
  g_object_set (task, "message-file", file, "timeout", 60, NULL);
  g_assert_true (smtp_test_run_task (task, &error));
  g_assert_no_error (error);

  message = smtp_test_only_message (server);
  data = g_bytes_get_data (message->content, &size);
  g_assert_cmpuint (size, ==, n * 1000);
  g_checksum_update (received, data, size);
  g_assert_cmpstr (g_checksum_get_string (received), ==,
                   g_checksum_get_string (expected));
  g_unlink (path);
}

static void
test_8bitmime_and_size (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_aiosmtpd (NULL);
  g_autoptr(SmtpClientTask) task1 = NULL;
  g_autoptr(SmtpClientTask) task2 = NULL;
  g_autoptr(GError) error = NULL;
  GPtrArray *messages;
  SmtpTestMessage *seven, *eight;
  const char *body7 = "Subject: ascii\n\nplain\n";

  g_test_summary ("SIZE is declared; BODY=8BITMIME only for 8-bit content");

  task1 = smtp_test_task_new (smtp_test_server_get_port (server), body7);
  g_assert_true (smtp_test_run_task (task1, &error));
  task2 = smtp_test_task_new (smtp_test_server_get_port (server),
                              "Subject: latin\n\ncaf\xc3\xa9\n");
  g_assert_true (smtp_test_run_task (task2, &error));
  g_assert_no_error (error);

  messages = smtp_test_server_get_messages (server);
  g_assert_cmpuint (messages->len, ==, 2);
  seven = g_ptr_array_index (messages, 0);
  eight = g_ptr_array_index (messages, 1);
  g_assert_false (smtp_test_strv_has_prefix (seven->mail_options, "BODY="));
  g_assert_true (smtp_test_strv_has (eight->mail_options, "BODY=8BITMIME"));
  g_assert_true (smtp_test_strv_has_prefix (seven->mail_options, "SIZE="));
  smtp_test_assert_content (eight, "Subject: latin\r\n\r\ncaf\xc3\xa9\r\n");
}

static void
test_size_too_large (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_aiosmtpd ("--size", "1000", NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *body = NULL;

  body = g_strnfill (2000, 'x');
  task = smtp_test_task_new (smtp_test_server_get_port (server), body);
  g_object_set (task, "transaction-log", TRUE, NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_MESSAGE_TOO_LARGE);
  g_assert_null (strstr (smtp_client_task_get_transaction_log (task), "MAIL FROM"));
  g_assert_cmpuint (smtp_test_server_get_messages (server)->len, ==, 0);
}

/* ---------------------------------------------------------------------- */
/* Streams that would block, and streams that fail */

typedef struct
{
  int          fd;
  const char  *parts[4];
  guint        pause_ms;
} PipeWriter;

/* Writes the parts into the pipe with a pause between them, as a
 * producer that works in bursts (a cron job, a script) does */
static gpointer
write_in_bursts (gpointer user_data)
{
  PipeWriter *writer = user_data;

  for (guint i = 0; writer->parts[i] != NULL; i++)
    {
      const char *part = writer->parts[i];
      gsize done = 0;

      if (i > 0)
        g_usleep ((gulong) writer->pause_ms * 1000);
      while (done < strlen (part))
        {
          gssize n = write (writer->fd, part + done, strlen (part) - done);

          g_assert_cmpint (n, >, 0);
          done += n;
        }
    }
  close (writer->fd);
  return NULL;
}

static void
test_pipe_pausing_writer (void)
{
  g_autoptr(SmtpTestScriptServer) server = NULL;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(SmtpTestDelivery) delivery = NULL;
  g_autoptr(GInputStream) input = NULL;
  g_autoptr(GPtrArray) messages = NULL;
  g_autoptr(GError) error = NULL;
  PipeWriter writer = { -1, { "Subject: bursts\r\n\r\nfirst\r\n",
                              "second\r\n", "third\r\n", NULL }, 1500 };
  GThread *thread;
  int fds[2];
  gsize size = 0;
  const char *data;

  g_test_summary ("Audit 1: content from a pipe whose writer pauses longer "
                  "than the timeout is waited for (only the server's "
                  "silence counts), and arrives whole");

  server = smtp_test_script_server_new ("S 220 serve ESMTP\nSERVE\n");
  g_assert_true (g_unix_open_pipe (fds, FD_CLOEXEC, &error));
  g_assert_no_error (error);
  input = g_unix_input_stream_new (fds[0], TRUE);
  writer.fd = fds[1];

  task = smtp_test_task_new (smtp_test_script_server_get_port (server), NULL);
  g_object_set (task, "input-stream", input, "timeout", 1,
                "transaction-log", TRUE, NULL);
  thread = g_thread_new ("writer", write_in_bursts, &writer);
  delivery = smtp_test_delivery_start (task, NULL);
  smtp_test_delivery_wait (&delivery, 1);
  g_thread_join (thread);

  g_assert_no_error (delivery->error);
  g_assert_cmpuint (delivery->succeeded, ==, 1);
  smtp_test_script_server_wait (server, 1);
  messages = smtp_test_script_server_get_messages (server);
  g_assert_cmpuint (messages->len, ==, 1);
  data = g_bytes_get_data (g_ptr_array_index (messages, 0), &size);
  g_assert_cmpmem (data, size, "Subject: bursts\r\n\r\nfirst\r\nsecond\r\nthird\r\n",
                   strlen ("Subject: bursts\r\n\r\nfirst\r\nsecond\r\nthird\r\n"));
}

/* A stream that gives some bytes, then an error (not pollable: read in
 * GIO's asynchronous way) */
#define TYPE_FAILING_STREAM (failing_stream_get_type ())
G_DECLARE_FINAL_TYPE (FailingStream, failing_stream, TEST, FAILING_STREAM,
                      GInputStream)

struct _FailingStream
{
  GInputStream parent_instance;
  gsize        given;
};

G_DEFINE_FINAL_TYPE (FailingStream, failing_stream, G_TYPE_INPUT_STREAM)

static gssize
failing_stream_read (GInputStream  *stream,
                     void          *buffer,
                     gsize          count,
                     GCancellable  *cancellable,
                     GError       **error)
{
  FailingStream *self = TEST_FAILING_STREAM (stream);
  static const char head[] = "Subject: half\r\n\r\nthe first half\r\n";

  if (self->given < sizeof head - 1)
    {
      gsize n = MIN (count, sizeof head - 1 - self->given);

      memcpy (buffer, head + self->given, n);
      self->given += n;
      return n;
    }

  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                       "the disk went away");
  return -1;
}

static void
failing_stream_class_init (FailingStreamClass *klass)
{
  G_INPUT_STREAM_CLASS (klass)->read_fn = failing_stream_read;
}

static void
failing_stream_init (FailingStream *self)
{
}

static void
test_stream_read_error (void)
{
  g_autoptr(SmtpTestScriptServer) server = NULL;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GInputStream) input = g_object_new (TYPE_FAILING_STREAM, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) received = NULL;
  gsize size = 0;
  const char *data;

  g_test_summary ("A content source that fails half-way: MESSAGE_FILE, "
                  "NOT_SENT, and the end of data never goes out (half a "
                  "message is never delivered)");

  server = smtp_test_script_server_new ("S 220 scripted ESMTP\n"
                                        "C EHLO localhost\n"
                                        "S 250 scripted\n"
                                        "C MAIL FROM:<sender@example.org>\n"
                                        "S 250 ok\n"
                                        "C RCPT TO:<rcpt@example.org>\n"
                                        "S 250 ok\n"
                                        "C DATA\n"
                                        "S 354 go ahead\n"
                                        "EXPECT-CLOSE\n");
  task = smtp_test_task_new (smtp_test_script_server_get_port (server), NULL);
  g_object_set (task, "input-stream", input, NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_MESSAGE_FILE);
  g_assert_nonnull (strstr (error->message, "the disk went away"));
  g_assert_cmpint (smtp_client_task_get_delivery_state (task), ==,
                   SMTP_CLIENT_DELIVERY_STATE_NOT_SENT);

  smtp_test_script_server_wait (server, 1);
  g_assert_null (smtp_test_script_server_get_failure (server));
  received = smtp_test_script_server_get_received (server, 0);
  data = g_bytes_get_data (received, &size);
  g_assert_nonnull (g_strstr_len (data, size, "the first half"));
  g_assert_null (g_strstr_len (data, size, "\r\n.\r\n"));
}

typedef struct
{
  guint   count;
  guint64 last_sent;
  guint64 last_total;
} Progress;

static void
on_progress (SmtpClientTask *task,
             guint64         sent,
             guint64         total,
             Progress       *progress)
{
  g_assert_cmpuint (sent, >=, progress->last_sent);
  progress->count++;
  progress->last_sent = sent;
  progress->last_total = total;
}

static void
test_progress (gconstpointer data)
{
  gboolean from_file = GPOINTER_TO_INT (data);
  g_autoptr(SmtpTestScriptServer) server = NULL;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) body = g_string_new ("Subject: progress\r\n\r\n");
  Progress progress = { 0 };

  g_test_summary ("progress: increasing, the size known in advance for a "
                  "body and a file, and once at the end with every byte");

  while (body->len < 3 * 1024 * 1024)
    g_string_append (body, "a line of the message body, nothing special\r\n");

  server = smtp_test_script_server_new ("S 220 serve ESMTP\nSERVE\n");
  task = smtp_test_task_new (smtp_test_script_server_get_port (server), NULL);
  /* The server, in this process, reads 3 MB line by line after the client
   * has written them: slow under valgrind */
  g_object_set (task, "timeout", 60, NULL);
  if (from_file)
    {
      g_autofree char *path = smtp_test_tmp_path ("progress.eml");
      g_autoptr(GFile) file = g_file_new_for_path (path);

      g_assert_true (g_file_set_contents (path, body->str, body->len, &error));
      g_object_set (task, "message-file", file, NULL);
    }
  else
    {
      g_autoptr(GBytes) bytes = g_bytes_new (body->str, body->len);

      g_object_set (task, "body", bytes, NULL);
    }
  g_signal_connect (task, "progress", G_CALLBACK (on_progress), &progress);
  g_assert_true (smtp_test_run_task (task, &error));
  g_assert_no_error (error);

  g_assert_cmpuint (progress.count, >=, 1);
  g_assert_cmpuint (progress.last_sent, ==, body->len);
  g_assert_cmpuint (progress.last_total, ==, body->len);
}

static gboolean
on_timeout_set_flag (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* A progress handler that spins a main loop of its own for half a second,
 * once, counting its iterations */
static void
on_progress_nested_loop (SmtpClientTask *task,
                         guint64         sent,
                         guint64         total,
                         gpointer        user_data)
{
  guint *iterations = user_data;
  g_autoptr(GMainContext) context = g_main_context_ref_thread_default ();
  gboolean done = FALSE;
  GSource *timeout;

  if (*iterations > 0)
    return;

  timeout = g_timeout_source_new (500);
  g_source_set_callback (timeout, on_timeout_set_flag, &done, NULL);
  g_source_attach (timeout, context);
  while (!done)
    {
      g_main_context_iteration (context, TRUE);
      (*iterations)++;
    }
  g_source_destroy (timeout);
  g_source_unref (timeout);
}

static void
test_progress_nested_loop (gconstpointer data)
{
  gboolean tls = GPOINTER_TO_INT (data);
  g_autoptr(SmtpTestScriptServer) server = NULL;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  guint iterations = 0;

  g_test_summary ("A progress handler that runs a main loop of its own "
                  "while the server's reply arrives: the connection does "
                  "not spin that loop (its read source is set aside until "
                  "the handler returns), and the task then succeeds; over "
                  "plain TCP and over TLS (where the source watches the "
                  "socket under the TLS connection)");

  server = smtp_test_script_server_new (tls ? "TLS\nS 220 serve ESMTP\nSERVE\n"
                                            : "S 220 serve ESMTP\nSERVE\n");
  task = smtp_test_task_new (smtp_test_script_server_get_port (server),
                             "Subject: nested\r\n\r\nbody\r\n");
  if (tls)
    {
      g_autoptr(GTlsDatabase) database = smtp_test_cert_database ();

      g_object_set (task, "security", SMTP_CLIENT_SECURITY_TLS,
                    "tls-database", database, NULL);
    }
  g_signal_connect (task, "progress", G_CALLBACK (on_progress_nested_loop),
                    &iterations);
  g_assert_true (smtp_test_run_task (task, &error));
  g_assert_no_error (error);

  /* A source that fired for each turn would make it tens of thousands */
  g_assert_cmpuint (iterations, >, 0);
  g_assert_cmpuint (iterations, <, 200);
}

/* ---------------------------------------------------------------------- */
/* Files read on the main context, and the rest */

#define FILE_TEXT "Subject: file\r\n\r\nthe body\r\n.dot line\r\n"

static void
assert_messages (SmtpTestScriptServer *server,
                 guint                 count,
                 const char           *expected)
{
  g_autoptr(GPtrArray) messages = smtp_test_script_server_get_messages (server);

  g_assert_cmpuint (messages->len, ==, count);
  for (guint i = 0; i < count; i++)
    {
      gsize size = 0;
      const char *data = g_bytes_get_data (g_ptr_array_index (messages, i),
                                           &size);

      g_assert_cmpmem (data, size, expected, strlen (expected));
    }
}

static void
test_message_file_again (void)
{
  g_autoptr(SmtpTestScriptServer) server = NULL;
  g_autofree char *path = smtp_test_tmp_path ("again.eml");
  g_autoptr(GFile) file = NULL;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  const char *to[] = { "one@example.org", "two@example.org", NULL };

  g_test_summary ("A message file (read with read(2), not GIO's threads) "
                  "is read again from its start for a second transaction: "
                  "a server that takes one recipient at a time gets it "
                  "whole twice");

  g_file_set_contents (path, FILE_TEXT, -1, &error);
  g_assert_no_error (error);
  file = g_file_new_for_path (path);

  server = smtp_test_script_server_new ("S 220 serve ESMTP\n"
                                        "SERVE PIPELINING RCPT-452=1\n");
  task = smtp_test_task_new (smtp_test_script_server_get_port (server), NULL);
  g_object_set (task, "message-file", file, "to", to, NULL);
  g_assert_true (smtp_test_run_task (task, &error));
  g_assert_no_error (error);
  smtp_test_script_server_wait (server, 1);
  assert_messages (server, 2, FILE_TEXT);
}

static void
test_file_stream_position (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_aiosmtpd (NULL);
  g_autofree char *path = smtp_test_tmp_path ("position.eml");
  const char *skipped = "X-Skipped: by the caller\r\n";
  g_autofree char *text = g_strconcat (skipped, FILE_TEXT, NULL);
  g_autofree char *size = g_strdup_printf ("SIZE=%zu", strlen (FILE_TEXT));
  g_autoptr(GFile) file = NULL;
  g_autoptr(GFileInputStream) stream = NULL;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  SmtpTestMessage *message;

  g_test_summary ("An input stream over a regular file, part read already: "
                  "the rest is sent, and SIZE declares the rest");

  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
  file = g_file_new_for_path (path);
  stream = g_file_read (file, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_input_stream_skip (G_INPUT_STREAM (stream),
                                        strlen (skipped), NULL, &error),
                   ==, (gssize) strlen (skipped));

  task = smtp_test_task_new (smtp_test_server_get_port (server), NULL);
  g_object_set (task, "input-stream", stream, NULL);
  g_assert_true (smtp_test_run_task (task, &error));
  g_assert_no_error (error);

  message = smtp_test_only_message (server);
  smtp_test_assert_content (message, FILE_TEXT);
  g_assert_true (smtp_test_strv_has (message->mail_options, size));
}

static void
test_message_file_fifo (void)
{
  g_autoptr(SmtpTestScriptServer) server = NULL;
  g_autofree char *path = smtp_test_tmp_path ("message.fifo");
  g_autofree char *script = NULL;
  g_autoptr(GFile) file = NULL;
  g_autoptr(GSubprocess) writer = NULL;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("A message file that is a FIFO, whose writer pauses "
                  "longer than the timeout: not opened on the main "
                  "context, waited for, sent whole");

  g_assert_cmpint (mkfifo (path, 0600), ==, 0);
  script = g_strdup_printf ("( printf 'Subject: fifo\\r\\n\\r\\nfirst\\r\\n'; "
                            "sleep 2; printf 'second\\r\\n' ) > '%s'", path);
  writer = g_subprocess_new (G_SUBPROCESS_FLAGS_NONE, &error,
                             "/bin/sh", "-c", script, NULL);
  g_assert_no_error (error);
  file = g_file_new_for_path (path);

  server = smtp_test_script_server_new ("S 220 serve ESMTP\nSERVE\n");
  task = smtp_test_task_new (smtp_test_script_server_get_port (server), NULL);
  g_object_set (task, "message-file", file, "timeout", 1, NULL);
  g_assert_true (smtp_test_run_task (task, &error));
  g_assert_no_error (error);
  smtp_test_script_server_wait (server, 1);
  assert_messages (server, 1, "Subject: fifo\r\n\r\nfirst\r\nsecond\r\n");

  g_subprocess_wait_check (writer, NULL, &error);
  g_assert_no_error (error);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/smtpclient/content/deliver-exact", test_deliver_exact);
  g_test_add_func ("/smtpclient/content/precedence", test_content_precedence);
  g_test_add_func ("/smtpclient/content/message-file/missing",
                   test_message_file_missing);
  g_test_add_func ("/smtpclient/content/message-file/large", test_large_file);
  g_test_add_func ("/smtpclient/content/8bitmime-and-size",
                   test_8bitmime_and_size);
  g_test_add_func ("/smtpclient/content/size-too-large", test_size_too_large);
  g_test_add_data_func ("/smtpclient/content/progress/nested-loop",
                        GINT_TO_POINTER (FALSE), test_progress_nested_loop);
  g_test_add_data_func ("/smtpclient/content/progress/nested-loop-tls",
                        GINT_TO_POINTER (TRUE), test_progress_nested_loop);
  g_test_add_func ("/smtpclient/content/message-file/read-again",
                   test_message_file_again);
  g_test_add_func ("/smtpclient/content/message-file/fifo",
                   test_message_file_fifo);
  g_test_add_func ("/smtpclient/content/stream/file-position",
                   test_file_stream_position);
  g_test_add_func ("/smtpclient/content/audit/pipe-pausing-writer",
                   test_pipe_pausing_writer);
  g_test_add_func ("/smtpclient/content/stream/read-error",
                   test_stream_read_error);
  g_test_add_data_func ("/smtpclient/content/progress/body",
                        GINT_TO_POINTER (FALSE), test_progress);
  g_test_add_data_func ("/smtpclient/content/progress/file",
                        GINT_TO_POINTER (TRUE), test_progress);

  return g_test_run ();
}

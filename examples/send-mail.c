/* send-mail.c: send one message asynchronously with libsmtpclient
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Build:  cc send-mail.c $(pkg-config --cflags --libs smtpclient-1.0)
 * Run:    ./send-mail SERVER PORT [FROM TO]
 *
 * The task is started with smtp_client_task_send_async(); the outcome
 * arrives both as a signal (succeeded or failed, with the context we set)
 * and in the GAsyncReadyCallback.  The progress signal reports the upload,
 * and a GCancellable stops the delivery when it takes longer than a minute
 * or when the user presses Ctrl+C.
 */

#include <string.h>

#include <glib-unix.h>
#include <smtpclient/smtpclient.h>

typedef struct
{
  GMainLoop    *loop;
  GCancellable *cancellable;
  int           status;
} Example;

static void
on_progress (SmtpClientTask *task,
             guint64         bytes_sent,
             guint64         bytes_total,
             gpointer        user_data)
{
  if (bytes_total > 0)
    g_print ("progress: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
             " bytes\n", bytes_sent, bytes_total);
  else
    g_print ("progress: %" G_GUINT64_FORMAT " bytes\n", bytes_sent);
}

static void
on_succeeded (SmtpClientTask *task,
              GVariant       *context,
              const char     *log,
              gpointer        user_data)
{
  /* The context is whatever the application attached to the task: here a
   * string naming the message. */
  g_print ("succeeded: %s, server said: %s\n",
           g_variant_get_string (context, NULL),
           smtp_client_task_get_reply (task));
}

static void
on_failed (SmtpClientTask *task,
           GVariant       *context,
           const GError   *error,
           const char     *log,
           gpointer        user_data)
{
  g_printerr ("failed: %s: %s\n",
              g_variant_get_string (context, NULL), error->message);
}

static void
on_sent (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Example *example = user_data;
  g_autoptr(GError) error = NULL;

  if (smtp_client_task_send_finish (SMTP_CLIENT_TASK (source), result,
                                    &error))
    example->status = 0;
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    example->status = 2;
  else
    example->status = 1;

  g_main_loop_quit (example->loop);
}

static gboolean
cancel_delivery (gpointer user_data)
{
  Example *example = user_data;

  g_printerr ("cancelling\n");
  g_cancellable_cancel (example->cancellable);
  return G_SOURCE_CONTINUE;   /* removed in main() */
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(GCancellable) cancellable = NULL;
  g_autoptr(GBytes) body = NULL;
  guint64 port;
  const char *from = argc > 3 ? argv[3] : "sender@example.org";
  const char *to[] = { argc > 4 ? argv[4] : "recipient@example.org", NULL };
  g_autofree char *message = NULL;
  Example example = { 0 };
  guint timeout_id, sigint_id;

  if (argc < 3 ||
      !g_ascii_string_to_unsigned (argv[2], 10, 1, 65535, &port, NULL))
    {
      g_printerr ("Usage: %s SERVER PORT [FROM TO]\n", argv[0]);
      return 2;
    }

  message = g_strdup_printf ("From: <%s>\r\n"
                             "To: <%s>\r\n"
                             "Subject: Hello from send-mail.c\r\n"
                             "\r\n"
                             "This message was sent by the C example of "
                             "libsmtpclient.\r\n", from, to[0]);
  body = g_bytes_new_take (message, strlen (message));
  message = NULL;

  task = g_object_new (SMTP_CLIENT_TYPE_TASK,
                       "server", argv[1],
                       "port", (guint) port,
                       "from", from,
                       "to", to,
                       "body", body,
                       "context", g_variant_new_string ("greeting-1"),
                       NULL);
  g_signal_connect (task, "progress", G_CALLBACK (on_progress), NULL);
  g_signal_connect (task, "succeeded", G_CALLBACK (on_succeeded), NULL);
  g_signal_connect (task, "failed", G_CALLBACK (on_failed), NULL);

  loop = g_main_loop_new (NULL, FALSE);
  cancellable = g_cancellable_new ();
  example.loop = loop;
  example.cancellable = cancellable;

  timeout_id = g_timeout_add_seconds (60, cancel_delivery, &example);
  sigint_id = g_unix_signal_add (SIGINT, cancel_delivery, &example);

  smtp_client_task_send_async (task, cancellable, on_sent, &example);
  g_main_loop_run (loop);

  g_source_remove (timeout_id);
  g_source_remove (sigint_id);
  return example.status;
}

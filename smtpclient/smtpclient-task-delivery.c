/* smtpclient-task-delivery.c: sending a task: its content, its delivery
 * through a session, its outcome
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A task is delivered as one SmtpClientTransaction through its session,
 * or through a private one-shot session of its own (one code path for
 * every task).  The session calls back once with the outcome; with its own
 * session the task says QUIT before it emits its signal, so that the
 * goodbye is in its log.
 */

#include "config.h"

#include <string.h>

#include "smtpclient-data-stream-private.h"
#include "smtpclient-enum-types.h"
#include "smtpclient-envelope-private.h"
#include "smtpclient-error.h"
#include "smtpclient-private.h"
#include "smtpclient-session-private.h"
#include "smtpclient-task-object-private.h"

/* One delivery, the send GTask's task data */
typedef struct
{
  SmtpClientTransaction *transaction;
  SmtpClientSettings    *settings;   /* those the delivery uses */
  SmtpClientSession     *session;    /* the task's, or a private one */
  gboolean               is_one_shot;
  GError                *error;      /* the outcome, while it closes */
  GSource               *cancel_source; /* while it closes */
} Delivery;

static void
delivery_stop_cancel_source (Delivery *delivery)
{
  if (delivery->cancel_source != NULL)
    {
      g_source_destroy (delivery->cancel_source);
      g_clear_pointer (&delivery->cancel_source, g_source_unref);
    }
}

static void
delivery_free (Delivery *delivery)
{
  delivery_stop_cancel_source (delivery);
  smtp_client_transaction_unref (delivery->transaction);
  g_clear_pointer (&delivery->settings, smtp_client_settings_unref);
  g_clear_object (&delivery->session);
  g_clear_error (&delivery->error);
  g_free (delivery);
}

/* ---------------------------------------------------------------------- */
/* Validation */

static gboolean
validate_task (SmtpClientTask      *self,
               SmtpClientSettings  *settings,
               GError             **error)
{
  if (self->from == NULL)
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE,
                           _("No sender address is set"));
      return FALSE;
    }

  if (!smtp_client_address_validate (self->from, TRUE, error))
    return FALSE;

  if (self->to == NULL || self->to[0] == NULL)
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE,
                           _("No recipient is set"));
      return FALSE;
    }

  for (guint i = 0; self->to[i] != NULL; i++)
    if (!smtp_client_address_validate (self->to[i], FALSE, error))
      return FALSE;

  if ((self->dsn_notify & SMTP_CLIENT_DSN_NOTIFY_NEVER) &&
      (self->dsn_notify & ~SMTP_CLIENT_DSN_NOTIFY_NEVER))
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE,
                           _("The DSN notification NEVER cannot be combined "
                             "with others"));
      return FALSE;
    }

  if (self->dsn_envelope_id != NULL)
    {
      for (const char *p = self->dsn_envelope_id; *p != '\0'; p++)
        if ((guchar) *p < 0x20 || (guchar) *p > 0x7e)
          {
            g_set_error_literal (error, SMTP_CLIENT_ERROR,
                                 SMTP_CLIENT_ERROR_CONFIGURE,
                                 _("The DSN envelope id must be printable "
                                   "ASCII"));
            return FALSE;
          }
    }

  return smtp_client_settings_validate (settings, error);
}

/* ---------------------------------------------------------------------- */
/* Outcome */

static void
set_delivery_state (SmtpClientTask          *self,
                    SmtpClientDeliveryState  state)
{
  if (self->delivery_state == state)
    return;

  self->delivery_state = state;
  g_object_notify_by_pspec (G_OBJECT (self), smtp_client_task_properties[PROP_DELIVERY_STATE]);
}

/* The outcome of the transaction becomes the task's */
static void
take_outcome (SmtpClientTask        *self,
              SmtpClientTransaction *transaction)
{
  self->reply_code = transaction->reply_code;
  g_free (self->reply);
  self->reply = g_strdup (transaction->reply);
  self->attempts = transaction->attempts;
  memcpy (self->timings, transaction->timings, sizeof self->timings);

  g_strfreev (self->refused);
  self->refused = g_new0 (char *, transaction->refused->len + 1);
  for (guint i = 0; i < transaction->refused->len; i++)
    self->refused[i] = g_strdup (g_ptr_array_index (transaction->refused, i));

  g_strfreev (self->recipients);
  g_free (self->recipient_codes);
  g_strfreev (self->recipient_replies);
  self->recipients = g_strdupv (transaction->recipients);
  self->recipient_codes = g_new0 (guint, transaction->n_recipients + 1);
  self->recipient_replies = g_new0 (char *, transaction->n_recipients + 1);
  for (guint i = 0; i < transaction->n_recipients; i++)
    {
      const char *reply = NULL;

      if (transaction->recipient_codes != NULL)
        {
          self->recipient_codes[i] = transaction->recipient_codes[i];
          reply = transaction->recipient_replies[i];
        }
      self->recipient_replies[i] = g_strdup (reply != NULL ? reply : "");
    }
}

/* Emit the one signal and return the GTask.  @error: transfer full, NULL
 * for success. */
static void
finish_delivery (GTask  *gtask,
                 GError *error)
{
  SmtpClientTask *self = g_task_get_source_object (gtask);
  Delivery *delivery = g_task_get_task_data (gtask);
  const char *log = self->transaction_log ? smtp_client_task_log_text (self)
                                          : NULL;
  SmtpClientTransaction *transaction = delivery->transaction;
  SmtpClientDeliveryState state = transaction->state;

  if (state == SMTP_CLIENT_DELIVERY_STATE_PENDING)
    /* It never reached a server (a setting, the content, cancelled) */
    state = SMTP_CLIENT_DELIVERY_STATE_NOT_SENT;
  take_outcome (self, transaction);

  if (self->debug > 0)
    {
      if (self->alias != NULL)
        g_debug ("[%s] %s", self->alias,
                 error == NULL ? "delivered" : error->message);
      else
        g_debug ("%s", error == NULL ? "delivered" : error->message);
    }

  self->total = (g_get_monotonic_time () - self->started) /
                (gdouble) G_USEC_PER_SEC;
  set_delivery_state (self, error == NULL ? SMTP_CLIENT_DELIVERY_STATE_ACCEPTED
                                          : state);

  /* The log is complete: nothing more reaches the task */
  smtp_client_transaction_clear_hooks (transaction);

  if (error == NULL)
    {
      g_signal_emit (self, smtp_client_task_signals[SIGNAL_SUCCEEDED], 0, self->context, log);
      g_task_return_boolean (gtask, TRUE);
    }
  else
    {
      g_signal_emit (self, smtp_client_task_signals[SIGNAL_FAILED], 0, self->context, error, log);
      g_task_return_error (gtask, error);
    }
}

static void
on_session_closed (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) gtask = user_data;
  Delivery *delivery = g_task_get_task_data (gtask);

  smtp_client_session_close_finish (SMTP_CLIENT_SESSION (source), result, NULL);
  delivery_stop_cancel_source (delivery);
  finish_delivery (gtask, g_steal_pointer (&delivery->error));
}

static gboolean
on_cancel_close (GCancellable *cancellable,
                 gpointer      user_data)
{
  GTask *gtask = user_data;
  Delivery *delivery = g_task_get_task_data (gtask);

  /* Not worth waiting for QUIT: drop the connection (the outcome stays) */
  g_clear_pointer (&delivery->cancel_source, g_source_unref);
  g_object_run_dispose (G_OBJECT (delivery->session));

  return G_SOURCE_REMOVE;
}

static void
on_delivered (SmtpClientTransaction *transaction,
              GError                *error,
              gpointer               user_data)
{
  GTask *gtask = user_data;
  Delivery *delivery = g_task_get_task_data (gtask);
  GCancellable *cancellable = g_task_get_cancellable (gtask);

  if (!delivery->is_one_shot)
    {
      finish_delivery (gtask, error);
      g_object_unref (gtask);
      return;
    }

  /* Our own connection: QUIT before telling (the task's log holds the
   * goodbye); a cancellation meanwhile drops the connection, and the
   * outcome stays what the transaction decided */
  delivery->error = error;
  if (cancellable != NULL)
    {
      delivery->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (delivery->cancel_source,
                             (GSourceFunc) (void (*) (void)) on_cancel_close,
                             gtask, NULL);
      g_source_set_static_name (delivery->cancel_source,
                                "[smtpclient] cancel QUIT");
      g_source_attach (delivery->cancel_source, g_task_get_context (gtask));
    }
  smtp_client_session_close_async (delivery->session, NULL, on_session_closed,
                                   gtask);
}

/* ---------------------------------------------------------------------- */
/* Hooks of the transaction */

static void
on_log_line (const char *line,
             gpointer    user_data)
{
  SmtpClientTask *self = user_data;

  if (self->log == NULL)
    self->log = g_string_sized_new (256);
  else if (self->log->len > 0)
    g_string_append_c (self->log, '\n');
  g_string_append (self->log, line);
}

static void
on_progress (guint64  bytes_sent,
             guint64  bytes_total,
             gpointer user_data)
{
  SmtpClientTask *self = user_data;

  g_signal_emit (self, smtp_client_task_signals[SIGNAL_PROGRESS], 0, bytes_sent, bytes_total);
}

static gboolean
on_accept_certificate (GTlsCertificate      *certificate,
                       GTlsCertificateFlags  errors,
                       gpointer              user_data)
{
  SmtpClientTask *self = user_data;
  gboolean accepted = FALSE;

  g_signal_emit (self, smtp_client_task_signals[SIGNAL_ACCEPT_CERTIFICATE], 0, certificate,
                 errors, &accepted);
  return accepted;
}

/* ---------------------------------------------------------------------- */
/* Delivery */

static void
deliver (GTask *gtask)
{
  Delivery *delivery = g_task_get_task_data (gtask);

  smtp_client_session_deliver (delivery->session, delivery->transaction,
                               g_task_get_cancellable (gtask), on_delivered,
                               g_object_ref (gtask));
}

static void
fail_before_delivery (GTask  *gtask,
                      GError *error)
{
  Delivery *delivery = g_task_get_task_data (gtask);

  /* Nothing was opened: no connection to close */
  delivery->is_one_shot = FALSE;
  finish_delivery (gtask, error);
}

static void
on_file_info (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GTask) gtask = user_data;
  Delivery *delivery = g_task_get_task_data (gtask);
  g_autoptr(GFileInfo) info = NULL;

  info = g_file_input_stream_query_info_finish (G_FILE_INPUT_STREAM (source),
                                                result, NULL);
  if (info != NULL &&
      g_file_info_has_attribute (info, G_FILE_ATTRIBUTE_STANDARD_SIZE))
    delivery->transaction->content_size = g_file_info_get_size (info);

  deliver (gtask);
}

/* A file stream's size, when it is a file */
static void
query_stream_size (GTask *gtask)
{
  Delivery *delivery = g_task_get_task_data (gtask);

  /* A regular file's size comes with its descriptor; a GVfs file's
   * from GIO */
  if (delivery->transaction->content_fd < 0 &&
      G_IS_FILE_INPUT_STREAM (delivery->transaction->content))
    {
      g_file_input_stream_query_info_async (G_FILE_INPUT_STREAM (delivery->transaction->content),
                                            G_FILE_ATTRIBUTE_STANDARD_SIZE,
                                            G_PRIORITY_DEFAULT,
                                            g_task_get_cancellable (gtask),
                                            on_file_info,
                                            g_object_ref (gtask));
      return;
    }

  deliver (gtask);
}

static void
on_file_opened (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) gtask = user_data;
  Delivery *delivery = g_task_get_task_data (gtask);
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;
  GFileInputStream *stream;

  stream = g_file_read_finish (G_FILE (source), result, &error);
  if (stream == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          fail_before_delivery (gtask, g_steal_pointer (&error));
          return;
        }

      name = g_file_get_parse_name (G_FILE (source));
      fail_before_delivery (gtask,
                            g_error_new (SMTP_CLIENT_ERROR,
                                         SMTP_CLIENT_ERROR_MESSAGE_FILE,
                                         _("Could not open the message file "
                                           "“%s”: %s"),
                                         name, error->message));
      return;
    }

  smtp_client_transaction_set_content (delivery->transaction,
                                       G_INPUT_STREAM (stream));
  g_object_unref (stream);
  query_stream_size (gtask);
}

static gboolean
start_delivery (gpointer user_data)
{
  GTask *gtask = user_data;
  SmtpClientTask *self = g_task_get_source_object (gtask);
  Delivery *delivery = g_task_get_task_data (gtask);
  SmtpClientTransaction *transaction = delivery->transaction;
  GError *error = NULL;

  if (g_cancellable_set_error_if_cancelled (g_task_get_cancellable (gtask),
                                            &error) ||
      !validate_task (self, delivery->settings, &error))
    {
      fail_before_delivery (gtask, error);
      return G_SOURCE_REMOVE;
    }

  if (self->input_stream != NULL)
    {
      smtp_client_transaction_set_content (transaction, self->input_stream);
      query_stream_size (gtask);
      return G_SOURCE_REMOVE;
    }

  /* A local regular file is opened here and now; anything else (a FIFO,
   * a GVfs file, one that cannot be opened) by GIO, which says why not */
  if (self->message_file != NULL &&
      smtp_client_transaction_open_file (transaction, self->message_file))
    {
      deliver (gtask);
      return G_SOURCE_REMOVE;
    }

  if (self->message_file != NULL)
    {
      g_file_read_async (self->message_file, G_PRIORITY_DEFAULT,
                         g_task_get_cancellable (gtask), on_file_opened,
                         g_object_ref (gtask));
      return G_SOURCE_REMOVE;
    }

  if (self->body != NULL)
    {
      gsize size = 0;
      const guint8 *data = g_bytes_get_data (self->body, &size);

      transaction->content = g_memory_input_stream_new_from_bytes (self->body);
      transaction->content_size = size;
      transaction->content_is_7bit = !smtp_client_data_has_8bit (data, size);
    }
  else
    {
      transaction->content = g_memory_input_stream_new ();
      transaction->content_is_7bit = TRUE;
    }

  deliver (gtask);
  return G_SOURCE_REMOVE;
}

/* ---------------------------------------------------------------------- */
/* Sending */

static gboolean
report_sent_twice (gpointer user_data)
{
  GTask *gtask = user_data;
  SmtpClientTask *self = g_task_get_source_object (gtask);
  GError *error = g_error_new_literal (SMTP_CLIENT_ERROR,
                                       SMTP_CLIENT_ERROR_CONFIGURE,
                                       _("This task has already been sent; "
                                         "create a new one"));

  /* The first delivery's results are left as they are */
  g_signal_emit (self, smtp_client_task_signals[SIGNAL_FAILED], 0, self->context, error, NULL);
  g_task_return_error (gtask, error);

  return G_SOURCE_REMOVE;
}

/* Run @func (gtask) from the thread-default main context; takes @gtask */
static void
schedule (GTask       *gtask,
          GSourceFunc  func)
{
  GSource *idle = g_idle_source_new ();

  g_source_set_priority (idle, G_PRIORITY_DEFAULT);
  g_source_set_callback (idle, func, g_object_ref (gtask), g_object_unref);
  g_source_set_static_name (idle, "[smtpclient] task");
  g_source_attach (idle, g_task_get_context (gtask));
  g_source_unref (idle);
}

static SmtpClientTransaction *
new_transaction (SmtpClientTask *self)
{
  SmtpClientTransaction *transaction = smtp_client_transaction_new ();

  /* The envelope as it is now: later property changes do not affect it */
  transaction->from = g_strdup (self->from);
  transaction->recipients = g_strdupv (self->to);
  transaction->n_recipients = self->to != NULL ? g_strv_length (self->to) : 0;
  transaction->allow_refused_recipients = self->allow_refused_recipients;
  transaction->binary_mime = self->binary_mime;
  transaction->require_tls = self->require_tls;
  transaction->dsn_notify = self->dsn_notify;
  transaction->dsn_return = self->dsn_return;
  transaction->dsn_envelope_id = g_strdup (self->dsn_envelope_id);

  transaction->debug = self->debug;
  transaction->alias = g_strdup (self->alias);
  transaction->log_func = self->transaction_log ? on_log_line : NULL;
  transaction->progress_func = on_progress;
  transaction->accept_func = on_accept_certificate;
  transaction->owner = self;

  return transaction;
}

/**
 * smtp_client_task_send_async:
 * @task: a #SmtpClientTask
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when the delivery has ended
 * @user_data: data for @callback
 *
 * Starts delivering the message on the thread-default main context and
 * returns at once.  When the delivery has ended, successfully or not,
 * [signal@SmtpClient.Task::succeeded] or [signal@SmtpClient.Task::failed]
 * is emitted, then @callback is called; call
 * [method@SmtpClient.Task.send_finish] from it.
 *
 * Cancelling @cancellable closes the connection at once (a message being
 * uploaded is abandoned, never half-delivered) and fails the task with
 * %G_IO_ERROR_CANCELLED — unless the server has already accepted the
 * message: a delivered message is never reported as failed, and
 * [property@SmtpClient.Task:delivery-state] says whether the server has
 * it.
 *
 * A task is sent at most once: a second call fails with
 * %SMTP_CLIENT_ERROR_CONFIGURE.
 *
 * Since: 1.0
 */
void
smtp_client_task_send_async (SmtpClientTask      *self,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_autoptr(GTask) gtask = NULL;
  Delivery *delivery;

  g_return_if_fail (SMTP_CLIENT_IS_TASK (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  smtp_client_init_i18n ();

  gtask = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (gtask, smtp_client_task_send_async);
  /* The outcome is what the server decided, not whether the cancellable
   * was cancelled since: a delivered message stays delivered */
  g_task_set_check_cancellable (gtask, FALSE);

  if (self->sent)
    {
      /* Reported later, like every outcome */
      schedule (gtask, report_sent_twice);
      return;
    }
  self->sent = TRUE;
  self->started = g_get_monotonic_time ();

  delivery = g_new0 (Delivery, 1);
  g_task_set_task_data (gtask, delivery, (GDestroyNotify) delivery_free);
  delivery->transaction = new_transaction (self);
  if (self->session != NULL)
    {
      delivery->session = g_object_ref (self->session);
      delivery->settings = smtp_client_session_dup_settings (self->session);
    }
  else
    {
      delivery->settings = smtp_client_settings_copy (
          smtp_client_task_settings (self));
      delivery->session = smtp_client_session_new_one_shot (delivery->settings);
      delivery->is_one_shot = TRUE;
    }

  if (self->log != NULL)
    g_string_truncate (self->log, 0);
  set_delivery_state (self, SMTP_CLIENT_DELIVERY_STATE_PENDING);

  /* Everything, even a configuration error, is reported from the main
   * loop, never before this function returns. */
  schedule (gtask, start_delivery);
}

/**
 * smtp_client_task_send_finish:
 * @task: a #SmtpClientTask
 * @result: the #GAsyncResult passed to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@SmtpClient.Task.send_async].
 *
 * Returns: %TRUE if the server accepted the message
 *
 * Since: 1.0
 */
gboolean
smtp_client_task_send_finish (SmtpClientTask  *self,
                              GAsyncResult    *result,
                              GError         **error)
{
  g_return_val_if_fail (SMTP_CLIENT_IS_TASK (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        smtp_client_task_send_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * smtp_client_task_send:
 * @task: a #SmtpClientTask
 *
 * Starts delivering the message on the thread-default main context and
 * returns at once, like the seed's `send()`.  Exactly one of
 * [signal@SmtpClient.Task::succeeded] and [signal@SmtpClient.Task::failed]
 * is emitted later, once.  The task keeps itself alive until then: the
 * caller may drop its reference right away.
 *
 * Since: 1.0
 */
void
smtp_client_task_send (SmtpClientTask *self)
{
  g_return_if_fail (SMTP_CLIENT_IS_TASK (self));

  smtp_client_task_send_async (self, NULL, NULL, NULL);
}


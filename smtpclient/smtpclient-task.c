/* smtpclient-task.c: one message, one delivery
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "smtpclient-data-stream-private.h"
#include "smtpclient-enum-types.h"
#include "smtpclient-envelope-private.h"
#include "smtpclient-error.h"
#include "smtpclient-private.h"
#include "smtpclient-session-private.h"
#include "smtpclient-task.h"

/**
 * SmtpClientTask:
 *
 * One mail transaction: the envelope, the content, where to send it, and
 * the outcome.
 *
 * Set the properties (or pass them to g_object_new()), connect to
 * [signal@SmtpClient.Task::succeeded] and [signal@SmtpClient.Task::failed],
 * then call [method@SmtpClient.Task.send] (or the GIO-style
 * [method@SmtpClient.Task.send_async]).  The delivery runs on the
 * thread-default main context without blocking it; exactly one of the two
 * signals is emitted, once.
 *
 * ```c
 * g_autoptr(SmtpClientTask) task = smtp_client_task_new ();
 * const char *to[] = { "bob@example.org", NULL };
 *
 * g_object_set (task,
 *               "server", "mail.example.org",
 *               "from", "alice@example.org",
 *               "to", to,
 *               "body", body_bytes,
 *               NULL);
 * g_signal_connect (task, "succeeded", G_CALLBACK (on_sent), NULL);
 * g_signal_connect (task, "failed", G_CALLBACK (on_failed), NULL);
 * smtp_client_task_send (task);
 * ```
 *
 * Since: 1.0
 */

struct _SmtpClientTask
{
  GObject                  parent_instance;

  /* Properties */
  SmtpClientSettings      *settings;     /* server, port, ... */
  char                    *from;
  GStrv                    to;
  GBytes                  *body;
  guint                    debug;
  char                    *alias;
  GVariant                *context;
  GFile                   *message_file;
  GInputStream            *input_stream;
  gboolean                 transaction_log;
  gboolean                 allow_refused_recipients;
  SmtpClientDsnNotify      dsn_notify;
  SmtpClientDsnReturn      dsn_return;
  char                    *dsn_envelope_id;
  SmtpClientSession       *session;

  /* Outcome */
  gboolean                 sent;
  GString                 *log;
  guint                    reply_code;
  char                    *reply;
  GStrv                    refused;
  SmtpClientDeliveryState  delivery_state;
  guint                    attempts;
  GStrv                    recipients;        /* as sent */
  guint                   *recipient_codes;
  GStrv                    recipient_replies; /* "" for none */
};

enum {
  PROP_0,
  PROP_FROM,
  PROP_TO,
  PROP_BODY,
  PROP_DEBUG,
  PROP_ALIAS,
  PROP_CONTEXT,
  PROP_MESSAGE_FILE,
  PROP_INPUT_STREAM,
  PROP_TRANSACTION_LOG,
  PROP_ALLOW_REFUSED_RECIPIENTS,
  PROP_DSN_NOTIFY,
  PROP_DSN_RETURN,
  PROP_DSN_ENVELOPE_ID,
  PROP_SESSION,
  PROP_DELIVERY_STATE,
  PROP_FIRST_SETTING,
  N_PROPS = PROP_FIRST_SETTING + N_SETTINGS_PROPS
};

enum {
  SIGNAL_SUCCEEDED,
  SIGNAL_FAILED,
  SIGNAL_PROGRESS,
  SIGNAL_ACCEPT_CERTIFICATE,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (SmtpClientTask, smtp_client_task, G_TYPE_OBJECT)

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

/**
 * smtp_client_task_new:
 *
 * Creates a task with every property at its default: from `root@localhost`
 * to `root@localhost` through `localhost:25`, with an empty body.
 *
 * Returns: (transfer full): a new #SmtpClientTask
 *
 * Since: 1.0
 */
SmtpClientTask *
smtp_client_task_new (void)
{
  return g_object_new (SMTP_CLIENT_TYPE_TASK, NULL);
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
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DELIVERY_STATE]);
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
  const char *log = self->transaction_log ? self->log->str : NULL;
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

  set_delivery_state (self, error == NULL ? SMTP_CLIENT_DELIVERY_STATE_ACCEPTED
                                          : state);

  /* The log is complete: nothing more reaches the task */
  smtp_client_transaction_clear_hooks (transaction);

  if (error == NULL)
    {
      g_signal_emit (self, signals[SIGNAL_SUCCEEDED], 0, self->context, log);
      g_task_return_boolean (gtask, TRUE);
    }
  else
    {
      g_signal_emit (self, signals[SIGNAL_FAILED], 0, self->context, error, log);
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

  if (self->log->len > 0)
    g_string_append_c (self->log, '\n');
  g_string_append (self->log, line);
}

static void
on_progress (guint64  bytes_sent,
             guint64  bytes_total,
             gpointer user_data)
{
  SmtpClientTask *self = user_data;

  g_signal_emit (self, signals[SIGNAL_PROGRESS], 0, bytes_sent, bytes_total);
}

static gboolean
on_accept_certificate (GTlsCertificate      *certificate,
                       GTlsCertificateFlags  errors,
                       gpointer              user_data)
{
  SmtpClientTask *self = user_data;
  gboolean accepted = FALSE;

  g_signal_emit (self, signals[SIGNAL_ACCEPT_CERTIFICATE], 0, certificate,
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

  if (G_IS_FILE_INPUT_STREAM (delivery->transaction->content))
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

  delivery->transaction->content = G_INPUT_STREAM (stream);
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
      transaction->content = g_object_ref (self->input_stream);
      query_stream_size (gtask);
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
  g_signal_emit (self, signals[SIGNAL_FAILED], 0, self->context, error, NULL);
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
      delivery->settings = smtp_client_settings_copy (self->settings);
      delivery->session = smtp_client_session_new_one_shot (delivery->settings);
      delivery->is_one_shot = TRUE;
    }

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

/* ---------------------------------------------------------------------- */
/* Getters */

/**
 * smtp_client_task_get_reply_code:
 * @task: a #SmtpClientTask
 *
 * Gets the code of the reply that decided the outcome: the server's 250
 * to the message after success, or the 4yz (try again later) or 5yz
 * (permanent) reply that failed it.  What happens afterwards (`RSET`,
 * `QUIT`, the server closing the connection) does not change it.
 *
 * Returns: the reply code, or 0 if no reply decided the outcome (a
 *   timeout, a lost connection, a cancellation, a bad setting)
 *
 * Since: 1.0
 */
guint
smtp_client_task_get_reply_code (SmtpClientTask *self)
{
  g_return_val_if_fail (SMTP_CLIENT_IS_TASK (self), 0);

  return self->reply_code;
}

/**
 * smtp_client_task_get_reply:
 * @task: a #SmtpClientTask
 *
 * Gets the reply that decided the outcome, as it was on the wire (lines
 * joined with `\n`, control characters escaped).  After success, it is
 * the server's reply to the message, which usually carries the queue id.
 *
 * Returns: (nullable): the reply, or %NULL if no reply decided the
 *   outcome
 *
 * Since: 1.0
 */
const char *
smtp_client_task_get_reply (SmtpClientTask *self)
{
  g_return_val_if_fail (SMTP_CLIENT_IS_TASK (self), NULL);

  return self->reply;
}

/**
 * smtp_client_task_get_refused_recipients:
 * @task: a #SmtpClientTask
 *
 * Gets the recipients the server refused.
 *
 * Returns: (transfer none) (array zero-terminated=1) (nullable): the
 *   refused addresses, or %NULL before the task has been sent
 *
 * Since: 1.0
 */
const char * const *
smtp_client_task_get_refused_recipients (SmtpClientTask *self)
{
  g_return_val_if_fail (SMTP_CLIENT_IS_TASK (self), NULL);

  return (const char * const *) self->refused;
}

/**
 * smtp_client_task_get_transaction_log:
 * @task: a #SmtpClientTask
 *
 * Gets the transaction log: one line per line on the wire, `<- ` for what
 * the server sent, `-> ` for what the client sent, joined with `\n`.
 * Credentials are redacted and the message content is summarised in one
 * line.
 *
 * Returns: (nullable): the log, or %NULL unless
 *   [property@SmtpClient.Task:transaction-log] is %TRUE
 *
 * Since: 1.0
 */
const char *
smtp_client_task_get_transaction_log (SmtpClientTask *self)
{
  g_return_val_if_fail (SMTP_CLIENT_IS_TASK (self), NULL);

  return self->transaction_log ? self->log->str : NULL;
}

/**
 * smtp_client_task_get_delivery_state:
 * @task: a #SmtpClientTask
 *
 * Gets whether the server has the message: see
 * [property@SmtpClient.Task:delivery-state].
 *
 * Returns: the delivery state
 *
 * Since: 1.0
 */
SmtpClientDeliveryState
smtp_client_task_get_delivery_state (SmtpClientTask *self)
{
  g_return_val_if_fail (SMTP_CLIENT_IS_TASK (self),
                        SMTP_CLIENT_DELIVERY_STATE_PENDING);

  return self->delivery_state;
}

/**
 * smtp_client_task_get_attempts:
 * @task: a #SmtpClientTask
 *
 * Gets how many attempts the delivery took: 1 when it went (or failed) at
 * the first try, more when it was tried again (see
 * [property@SmtpClient.Task:max-retries]), 0 when it never reached a
 * connection.
 *
 * Returns: the number of attempts
 *
 * Since: 1.0
 */
guint
smtp_client_task_get_attempts (SmtpClientTask *self)
{
  g_return_val_if_fail (SMTP_CLIENT_IS_TASK (self), 0);

  return self->attempts;
}

static gint
find_recipient (SmtpClientTask *self,
                const char     *address)
{
  if (self->recipients == NULL || address == NULL)
    return -1;

  for (guint i = 0; self->recipients[i] != NULL; i++)
    if (g_ascii_strcasecmp (self->recipients[i], address) == 0)
      return (gint) i;

  return -1;
}

/**
 * smtp_client_task_get_recipient_reply_code:
 * @task: a #SmtpClientTask
 * @address: one of the task's recipients
 *
 * Gets the code of the server's reply to @address's `RCPT` command in the
 * last attempt, for example 250 when it was accepted, 550 when the
 * mailbox does not exist.
 *
 * Returns: the reply code, or 0 when @address is not a recipient of the
 *   task or got no reply
 *
 * Since: 1.0
 */
guint
smtp_client_task_get_recipient_reply_code (SmtpClientTask *self,
                                           const char     *address)
{
  gint index;

  g_return_val_if_fail (SMTP_CLIENT_IS_TASK (self), 0);
  g_return_val_if_fail (address != NULL, 0);

  index = find_recipient (self, address);
  return index >= 0 ? self->recipient_codes[index] : 0;
}

/**
 * smtp_client_task_get_recipient_reply:
 * @task: a #SmtpClientTask
 * @address: one of the task's recipients
 *
 * Gets the server's reply to @address's `RCPT` command in the last
 * attempt, as on the wire.
 *
 * Returns: (nullable): the reply, or %NULL when @address is not a
 *   recipient of the task or got no reply
 *
 * Since: 1.0
 */
const char *
smtp_client_task_get_recipient_reply (SmtpClientTask *self,
                                      const char     *address)
{
  gint index;

  g_return_val_if_fail (SMTP_CLIENT_IS_TASK (self), NULL);
  g_return_val_if_fail (address != NULL, NULL);

  index = find_recipient (self, address);
  if (index < 0 || self->recipient_replies[index][0] == '\0')
    return NULL;

  return self->recipient_replies[index];
}

/* ---------------------------------------------------------------------- */
/* GObject */

static void
smtp_client_task_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  SmtpClientTask *self = SMTP_CLIENT_TASK (object);

  if (prop_id >= PROP_FIRST_SETTING && prop_id < N_PROPS)
    {
      smtp_client_settings_get_property (self->settings,
                                         prop_id - PROP_FIRST_SETTING, value);
      return;
    }

  switch (prop_id)
    {
    case PROP_FROM:
      g_value_set_string (value, self->from);
      break;
    case PROP_TO:
      g_value_set_boxed (value, self->to);
      break;
    case PROP_BODY:
      g_value_set_boxed (value, self->body);
      break;
    case PROP_DEBUG:
      g_value_set_uint (value, self->debug);
      break;
    case PROP_ALIAS:
      g_value_set_string (value, self->alias);
      break;
    case PROP_CONTEXT:
      g_value_set_variant (value, self->context);
      break;
    case PROP_MESSAGE_FILE:
      g_value_set_object (value, self->message_file);
      break;
    case PROP_INPUT_STREAM:
      g_value_set_object (value, self->input_stream);
      break;
    case PROP_TRANSACTION_LOG:
      g_value_set_boolean (value, self->transaction_log);
      break;
    case PROP_ALLOW_REFUSED_RECIPIENTS:
      g_value_set_boolean (value, self->allow_refused_recipients);
      break;
    case PROP_DSN_NOTIFY:
      g_value_set_flags (value, self->dsn_notify);
      break;
    case PROP_DSN_RETURN:
      g_value_set_enum (value, self->dsn_return);
      break;
    case PROP_DSN_ENVELOPE_ID:
      g_value_set_string (value, self->dsn_envelope_id);
      break;
    case PROP_SESSION:
      g_value_set_object (value, self->session);
      break;
    case PROP_DELIVERY_STATE:
      g_value_set_enum (value, self->delivery_state);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static gboolean
set_string (char       **field,
            const GValue *value)
{
  const char *text = g_value_get_string (value);

  if (g_strcmp0 (*field, text) == 0)
    return FALSE;

  g_free (*field);
  *field = g_strdup (text);
  return TRUE;
}

static gboolean
set_strv (GStrv        *field,
          const GValue *value)
{
  const char * const *strv = g_value_get_boxed (value);

  if (*field != NULL && strv != NULL &&
      g_strv_equal ((const char * const *) *field, strv))
    return FALSE;

  g_strfreev (*field);
  *field = g_strdupv ((char **) strv);
  return TRUE;
}

static void
smtp_client_task_set_property (GObject      *object,
                               guint         prop_id,
                               const GValue *value,
                               GParamSpec   *pspec)
{
  SmtpClientTask *self = SMTP_CLIENT_TASK (object);
  gboolean changed = FALSE;

  if (prop_id >= PROP_FIRST_SETTING && prop_id < N_PROPS)
    {
      if (smtp_client_settings_set_property (self->settings,
                                             prop_id - PROP_FIRST_SETTING,
                                             value))
        g_object_notify_by_pspec (object, pspec);
      return;
    }

  switch (prop_id)
    {
    case PROP_FROM:
      changed = set_string (&self->from, value);
      break;
    case PROP_TO:
      changed = set_strv (&self->to, value);
      break;
    case PROP_BODY:
      {
        GBytes *body = g_value_get_boxed (value);

        if (body != self->body)
          {
            g_clear_pointer (&self->body, g_bytes_unref);
            self->body = body != NULL ? g_bytes_ref (body) : NULL;
            changed = TRUE;
          }
      }
      break;
    case PROP_DEBUG:
      if (self->debug != g_value_get_uint (value))
        {
          self->debug = g_value_get_uint (value);
          changed = TRUE;
        }
      break;
    case PROP_ALIAS:
      changed = set_string (&self->alias, value);
      break;
    case PROP_CONTEXT:
      {
        GVariant *context = g_value_get_variant (value);

        if (context != self->context)
          {
            g_clear_pointer (&self->context, g_variant_unref);
            self->context = context != NULL ? g_variant_ref_sink (context) : NULL;
            changed = TRUE;
          }
      }
      break;
    case PROP_MESSAGE_FILE:
      changed = g_set_object (&self->message_file, g_value_get_object (value));
      break;
    case PROP_INPUT_STREAM:
      changed = g_set_object (&self->input_stream, g_value_get_object (value));
      break;
    case PROP_TRANSACTION_LOG:
      if (self->transaction_log != g_value_get_boolean (value))
        {
          self->transaction_log = g_value_get_boolean (value);
          changed = TRUE;
        }
      break;
    case PROP_ALLOW_REFUSED_RECIPIENTS:
      if (self->allow_refused_recipients != g_value_get_boolean (value))
        {
          self->allow_refused_recipients = g_value_get_boolean (value);
          changed = TRUE;
        }
      break;
    case PROP_DSN_NOTIFY:
      if (self->dsn_notify != g_value_get_flags (value))
        {
          self->dsn_notify = g_value_get_flags (value);
          changed = TRUE;
        }
      break;
    case PROP_DSN_RETURN:
      if (self->dsn_return != (SmtpClientDsnReturn) g_value_get_enum (value))
        {
          self->dsn_return = g_value_get_enum (value);
          changed = TRUE;
        }
      break;
    case PROP_DSN_ENVELOPE_ID:
      changed = set_string (&self->dsn_envelope_id, value);
      break;
    case PROP_SESSION:
      changed = g_set_object (&self->session, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      return;
    }

  if (changed)
    g_object_notify_by_pspec (object, pspec);
}

static void
smtp_client_task_dispose (GObject *object)
{
  SmtpClientTask *self = SMTP_CLIENT_TASK (object);

  /* A delivery in flight holds a reference on the task, so there is
   * nothing in flight here to cancel. */
  g_clear_object (&self->message_file);
  g_clear_object (&self->input_stream);
  g_clear_object (&self->session);

  G_OBJECT_CLASS (smtp_client_task_parent_class)->dispose (object);
}

static void
smtp_client_task_finalize (GObject *object)
{
  SmtpClientTask *self = SMTP_CLIENT_TASK (object);

  g_clear_pointer (&self->settings, smtp_client_settings_unref);
  g_clear_pointer (&self->from, g_free);
  g_clear_pointer (&self->to, g_strfreev);
  g_clear_pointer (&self->body, g_bytes_unref);
  g_clear_pointer (&self->context, g_variant_unref);
  g_clear_pointer (&self->dsn_envelope_id, g_free);
  g_string_free (self->log, TRUE);
  g_clear_pointer (&self->reply, g_free);
  g_clear_pointer (&self->refused, g_strfreev);
  g_clear_pointer (&self->alias, g_free);
  g_clear_pointer (&self->recipients, g_strfreev);
  g_clear_pointer (&self->recipient_codes, g_free);
  g_clear_pointer (&self->recipient_replies, g_strfreev);

  G_OBJECT_CLASS (smtp_client_task_parent_class)->finalize (object);
}

static void
smtp_client_task_class_init (SmtpClientTaskClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags flags = G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY |
                            G_PARAM_STATIC_STRINGS;

  object_class->get_property = smtp_client_task_get_property;
  object_class->set_property = smtp_client_task_set_property;
  object_class->dispose = smtp_client_task_dispose;
  object_class->finalize = smtp_client_task_finalize;

  /**
   * SmtpClientTask:from:
   *
   * The sender's bare address (the envelope's reverse path, the seed's
   * `From`), without `<>`.  An empty string sends the null reverse path
   * `<>`, as bounces do.
   *
   * Since: 1.0
   */
  properties[PROP_FROM] =
    g_param_spec_string ("from", NULL, NULL, "root@localhost", flags);

  /**
   * SmtpClientTask:to:
   *
   * The recipients' bare addresses (the seed's `To`).
   *
   * Since: 1.0
   */
  properties[PROP_TO] =
    g_param_spec_boxed ("to", NULL, NULL, G_TYPE_STRV, flags);

  /**
   * SmtpClientTask:body:
   *
   * The message (headers and body, as in RFC 5322), used when neither
   * [property@SmtpClient.Task:input-stream] nor
   * [property@SmtpClient.Task:message-file] is set.  Line ends may be LF or
   * CRLF: they are sent as CRLF, and lines starting with `.` are
   * dot-stuffed.
   *
   * Since: 1.0
   */
  properties[PROP_BODY] =
    g_param_spec_boxed ("body", NULL, NULL, G_TYPE_BYTES, flags);

  /**
   * SmtpClientTask:debug:
   *
   * When greater than 0, the task logs its progress and the protocol
   * trace (credentials redacted) with g_debug() under the `SmtpClient` log
   * domain, tagged with [property@SmtpClient.Task:alias]; run with
   * `G_MESSAGES_DEBUG=SmtpClient` to see it.
   *
   * Since: 1.0
   */
  properties[PROP_DEBUG] =
    g_param_spec_uint ("debug", NULL, NULL, 0, G_MAXUINT, 0, flags);

  /**
   * SmtpClientTask:alias:
   *
   * A name for the task in debug output.
   *
   * Since: 1.0
   */
  properties[PROP_ALIAS] =
    g_param_spec_string ("alias", NULL, NULL, NULL, flags);

  /**
   * SmtpClientTask:context:
   *
   * Any value the application wants back in the signals (the seed's
   * `Context`).
   *
   * Since: 1.0
   */
  properties[PROP_CONTEXT] =
    g_param_spec_variant ("context", NULL, NULL, G_VARIANT_TYPE_ANY, NULL,
                          flags);

  /**
   * SmtpClientTask:message-file:
   *
   * A file holding the message, streamed (never read whole into memory).
   * Takes precedence over [property@SmtpClient.Task:body].  If it cannot be
   * opened or read, the task fails with %SMTP_CLIENT_ERROR_MESSAGE_FILE.
   *
   * Since: 1.0
   */
  properties[PROP_MESSAGE_FILE] =
    g_param_spec_object ("message-file", NULL, NULL, G_TYPE_FILE, flags);

  /**
   * SmtpClientTask:input-stream:
   *
   * A stream the message is read from, streamed (the seed's
   * `FileHandle`).  Takes precedence over
   * [property@SmtpClient.Task:message-file] and
   * [property@SmtpClient.Task:body].
   *
   * Since: 1.0
   */
  properties[PROP_INPUT_STREAM] =
    g_param_spec_object ("input-stream", NULL, NULL, G_TYPE_INPUT_STREAM,
                         flags);

  /**
   * SmtpClientTask:transaction-log:
   *
   * Whether to keep the transaction log and pass it to the signals; see
   * [method@SmtpClient.Task.get_transaction_log].
   *
   * Since: 1.0
   */
  properties[PROP_TRANSACTION_LOG] =
    g_param_spec_boolean ("transaction-log", NULL, NULL, FALSE, flags);

  /**
   * SmtpClientTask:allow-refused-recipients:
   *
   * When %FALSE (the default), one refused recipient fails the task and
   * nothing is delivered to anyone.  When %TRUE, the message goes to the
   * accepted recipients if there is at least one, and the task succeeds;
   * [method@SmtpClient.Task.get_refused_recipients] lists the others.
   *
   * Since: 1.0
   */
  properties[PROP_ALLOW_REFUSED_RECIPIENTS] =
    g_param_spec_boolean ("allow-refused-recipients", NULL, NULL, FALSE, flags);

  /**
   * SmtpClientTask:dsn-notify:
   *
   * When delivery status notifications are requested for every recipient
   * (RFC 3461 `NOTIFY`); 0 requests nothing.  Sent only when the server
   * offers DSN; otherwise left out, with a line in the transaction log.
   *
   * Since: 1.0
   */
  properties[PROP_DSN_NOTIFY] =
    g_param_spec_flags ("dsn-notify", NULL, NULL, SMTP_CLIENT_TYPE_DSN_NOTIFY,
                        0, flags);

  /**
   * SmtpClientTask:dsn-return:
   *
   * What notifications return of the message (RFC 3461 `RET`).
   *
   * Since: 1.0
   */
  properties[PROP_DSN_RETURN] =
    g_param_spec_enum ("dsn-return", NULL, NULL, SMTP_CLIENT_TYPE_DSN_RETURN,
                       SMTP_CLIENT_DSN_RETURN_DEFAULT, flags);

  /**
   * SmtpClientTask:dsn-envelope-id:
   *
   * An envelope identifier returned in notifications (RFC 3461 `ENVID`,
   * xtext-encoded on the wire); printable ASCII.
   *
   * Since: 1.0
   */
  properties[PROP_DSN_ENVELOPE_ID] =
    g_param_spec_string ("dsn-envelope-id", NULL, NULL, NULL, flags);

  /**
   * SmtpClientTask:session:
   *
   * A session to deliver through.  When set, the session's connection
   * settings are used and the task's own are ignored.
   *
   * Since: 1.0
   */
  properties[PROP_SESSION] =
    g_param_spec_object ("session", NULL, NULL, SMTP_CLIENT_TYPE_SESSION,
                         flags);

  /**
   * SmtpClientTask:delivery-state:
   *
   * Whether the server has the message: %SMTP_CLIENT_DELIVERY_STATE_PENDING
   * until the delivery ends, then %SMTP_CLIENT_DELIVERY_STATE_ACCEPTED, or,
   * for a failure, whether sending it again could duplicate it:
   * %SMTP_CLIENT_DELIVERY_STATE_NOT_SENT (it cannot),
   * %SMTP_CLIENT_DELIVERY_STATE_REFUSED (the server refused it; the reply
   * code says whether for now or for good) or
   * %SMTP_CLIENT_DELIVERY_STATE_UNCERTAIN (the end of the message was sent
   * and no reply came).  It is set, and notified, before the signal is
   * emitted.
   *
   * Since: 1.0
   */
  properties[PROP_DELIVERY_STATE] =
    g_param_spec_enum ("delivery-state", NULL, NULL,
                       SMTP_CLIENT_TYPE_DELIVERY_STATE,
                       SMTP_CLIENT_DELIVERY_STATE_PENDING,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY |
                       G_PARAM_STATIC_STRINGS);

  for (guint i = PROP_FROM; i < PROP_FIRST_SETTING; i++)
    g_object_class_install_property (object_class, i, properties[i]);
  smtp_client_settings_install_properties (object_class, PROP_FIRST_SETTING,
                                           &properties[PROP_FIRST_SETTING]);

  /**
   * SmtpClientTask::succeeded:
   * @task: the task
   * @context: (nullable): the [property@SmtpClient.Task:context]
   * @log: (nullable): the transaction log, or %NULL unless
   *   [property@SmtpClient.Task:transaction-log] is %TRUE
   *
   * Emitted once when the server has accepted the message (the seed's
   * `SMTP_Success`).  [method@SmtpClient.Task.get_reply] then returns the
   * server's reply, which usually carries the queue id.
   *
   * Since: 1.0
   */
  signals[SIGNAL_SUCCEEDED] =
    g_signal_new ("succeeded", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2,
                  G_TYPE_VARIANT, G_TYPE_STRING);

  /**
   * SmtpClientTask::failed:
   * @task: the task
   * @context: (nullable): the [property@SmtpClient.Task:context]
   * @error: what failed: a %SMTP_CLIENT_ERROR, or GIO's own error for
   *   network and TLS failures; `error->message` is a one-line description
   * @log: (nullable): the transaction log, or %NULL unless
   *   [property@SmtpClient.Task:transaction-log] is %TRUE
   *
   * Emitted once when the delivery failed (the seed's `SMTP_Failure`).
   *
   * Since: 1.0
   */
  signals[SIGNAL_FAILED] =
    g_signal_new ("failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 3,
                  G_TYPE_VARIANT, G_TYPE_ERROR, G_TYPE_STRING);

  /**
   * SmtpClientTask::progress:
   * @task: the task
   * @bytes_sent: bytes of the message uploaded so far
   * @bytes_total: the size of the message, or 0 when it is not known
   *
   * Emitted while the message content is uploaded, at most about ten
   * times a second, and once at the end.
   *
   * Since: 1.0
   */
  signals[SIGNAL_PROGRESS] =
    g_signal_new ("progress", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2,
                  G_TYPE_UINT64, G_TYPE_UINT64);

  /**
   * SmtpClientTask::accept-certificate:
   * @task: the task
   * @certificate: the server's certificate
   * @errors: the problems found with it
   *
   * Emitted during the TLS handshake when the server's certificate did not
   * verify, as [signal@Gio.TlsConnection::accept-certificate] is.  Return
   * %TRUE to accept it anyway (after asking the user, or because it matches
   * a pinned certificate); otherwise the task fails with the %G_TLS_ERROR.
   *
   * Returns: %TRUE to accept the certificate
   *
   * Since: 1.0
   */
  signals[SIGNAL_ACCEPT_CERTIFICATE] =
    g_signal_new ("accept-certificate", G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST, 0, g_signal_accumulator_true_handled,
                  NULL, NULL, G_TYPE_BOOLEAN, 2,
                  G_TYPE_TLS_CERTIFICATE, G_TYPE_TLS_CERTIFICATE_FLAGS);
}

static void
smtp_client_task_init (SmtpClientTask *self)
{
  static const char * const default_to[] = { "root@localhost", NULL };

  self->settings = smtp_client_settings_new ();
  self->from = g_strdup ("root@localhost");
  self->to = g_strdupv ((char **) default_to);
  self->log = g_string_new (NULL);
}

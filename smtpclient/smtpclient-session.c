/* smtpclient-session.c: many messages over reused connections
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "smtpclient-connection-private.h"
#include "smtpclient-enum-types.h"
#include "smtpclient-error.h"
#include "smtpclient-private.h"
#include "smtpclient-session-private.h"
#include "smtpclient-session.h"
#include "smtpclient-task-private.h"

/**
 * SmtpClientSession:
 *
 * Delivers any number of [class@SmtpClient.Task]s whose
 * [property@SmtpClient.Task:session] points at it, over reused
 * connections.
 *
 * A session holds the connection settings (the same properties as the
 * task, with the same names); a task that has a session uses the
 * session's settings and ignores its own.  The session opens up to
 * [property@SmtpClient.Session:max-connections] connections in parallel
 * and queues the other tasks; it resets a connection with `RSET` after a
 * failed transaction, reconnects after a dropped connection (the task in
 * flight fails with its error, the queued ones go out over a new
 * connection), and closes idle connections with `QUIT` after
 * [property@SmtpClient.Session:idle-timeout] seconds or on
 * [method@SmtpClient.Session.close_async].
 *
 * Since: 1.0
 */

typedef struct
{
  SmtpClientSession    *session;      /* unowned */
  SmtpClientConnection *connection;
  GTask                *current;      /* the delivery in flight, or NULL */
  guint                 messages;     /* transactions started on it */
  gboolean              is_open;
  GSource              *idle_timer;
} Slot;

struct _SmtpClientSession
{
  GObject             parent_instance;

  SmtpClientSettings *settings;
  guint               max_connections;
  guint               idle_timeout;
  guint               max_messages_per_connection;

  GQueue              queue;          /* of GTask, owned */
  GPtrArray          *slots;          /* of Slot*, owned */
  GSource            *cancel_source;  /* scans the queue for cancelled tasks */
  GList              *close_tasks;    /* close_async callers waiting */
};

enum {
  PROP_0,
  PROP_MAX_CONNECTIONS,
  PROP_IDLE_TIMEOUT,
  PROP_MAX_MESSAGES_PER_CONNECTION,
  PROP_FIRST_SETTING,
  N_PROPS = PROP_FIRST_SETTING + N_SETTINGS_PROPS
};

enum {
  SIGNAL_ACCEPT_CERTIFICATE,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (SmtpClientSession, smtp_client_session, G_TYPE_OBJECT)

static void dispatch (SmtpClientSession *self);
static void maybe_finish_close (SmtpClientSession *self);

/**
 * smtp_client_session_new:
 *
 * Creates a session with every property at its default.
 *
 * Returns: (transfer full): a new #SmtpClientSession
 *
 * Since: 1.0
 */
SmtpClientSession *
smtp_client_session_new (void)
{
  return g_object_new (SMTP_CLIENT_TYPE_SESSION, NULL);
}

SmtpClientSettings *
smtp_client_session_dup_settings (SmtpClientSession *self)
{
  return smtp_client_settings_copy (self->settings);
}

gboolean
smtp_client_session_accept_certificate (SmtpClientSession    *self,
                                        GTlsCertificate      *certificate,
                                        GTlsCertificateFlags  errors)
{
  gboolean accepted = FALSE;

  g_signal_emit (self, signals[SIGNAL_ACCEPT_CERTIFICATE], 0, certificate,
                 errors, &accepted);
  return accepted;
}

/* ---------------------------------------------------------------------- */
/* Connections */

static void
slot_stop_idle_timer (Slot *slot)
{
  if (slot->idle_timer != NULL)
    {
      g_source_destroy (slot->idle_timer);
      g_clear_pointer (&slot->idle_timer, g_source_unref);
    }
}

static void
slot_free (Slot *slot)
{
  slot_stop_idle_timer (slot);
  if (slot->connection != NULL)
    smtp_client_connection_abort (slot->connection);
  g_clear_object (&slot->connection);
  g_free (slot);
}

static void
on_slot_quit (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  smtp_client_connection_quit_finish (SMTP_CLIENT_CONNECTION (source), result,
                                      NULL);
}

/* Take @slot out of the pool; say QUIT when the connection allows it. */
static void
slot_retire (SmtpClientSession *self,
             Slot              *slot)
{
  SmtpClientConnection *connection = g_steal_pointer (&slot->connection);

  if (connection != NULL)
    {
      smtp_client_connection_set_log_func (connection, NULL, NULL);
      smtp_client_connection_set_accept_certificate_func (connection, NULL,
                                                          NULL);
      /* The QUIT holds its own reference on the connection */
      smtp_client_connection_quit_async (connection, NULL, on_slot_quit, NULL);
      g_object_unref (connection);
    }

  g_ptr_array_remove (self->slots, slot);
}

static gboolean
on_idle_timeout (gpointer user_data)
{
  Slot *slot = user_data;
  SmtpClientSession *self = slot->session;

  g_clear_pointer (&slot->idle_timer, g_source_unref);
  slot_retire (self, slot);
  maybe_finish_close (self);

  return G_SOURCE_REMOVE;
}

static void
slot_start_idle_timer (SmtpClientSession *self,
                       Slot              *slot)
{
  slot_stop_idle_timer (slot);
  if (self->idle_timeout == 0)
    return;

  slot->idle_timer = g_timeout_source_new_seconds (self->idle_timeout);
  g_source_set_callback (slot->idle_timer, on_idle_timeout, slot, NULL);
  g_source_set_static_name (slot->idle_timer, "[smtpclient] session idle");
  g_source_attach (slot->idle_timer, g_main_context_get_thread_default ());
}

static SmtpClientTransaction *
get_transaction (GTask *gtask)
{
  return g_object_get_data (G_OBJECT (gtask), "smtpclient-transaction");
}

static void
copy_connection_reply (GTask                *gtask,
                       SmtpClientConnection *connection)
{
  SmtpClientTransaction *transaction = get_transaction (gtask);

  if (transaction->reply == NULL &&
      smtp_client_connection_get_reply_code (connection) != 0)
    {
      transaction->reply_code = smtp_client_connection_get_reply_code (connection);
      transaction->reply = g_strdup (smtp_client_connection_get_reply (connection));
    }
}

static void
complete_current (SmtpClientSession *self,
                  Slot              *slot,
                  GError            *error)
{
  g_autoptr(GTask) gtask = g_steal_pointer (&slot->current);

  if (slot->connection != NULL)
    copy_connection_reply (gtask, slot->connection);
  smtp_client_task_complete (gtask, error);
}

static void
on_transacted (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  Slot *slot = user_data;
  SmtpClientSession *self = slot->session;
  GError *error = NULL;

  smtp_client_connection_transact_finish (SMTP_CLIENT_CONNECTION (source),
                                          result, &error);

  /* The session may have been disposed meanwhile */
  if (self == NULL)
    {
      g_clear_error (&error);
      return;
    }

  g_object_ref (self);
  complete_current (self, slot, error);

  if (slot->connection == NULL ||
      !smtp_client_connection_is_reusable (slot->connection) ||
      (self->max_messages_per_connection > 0 &&
       slot->messages >= self->max_messages_per_connection))
    slot_retire (self, slot);
  else
    slot_start_idle_timer (self, slot);

  dispatch (self);
  maybe_finish_close (self);
  g_object_unref (self);
}

static void
slot_run (SmtpClientSession *self,
          Slot              *slot,
          GTask             *gtask)   /* transfer full */
{
  SmtpClientTask *task = g_task_get_source_object (gtask);

  slot_stop_idle_timer (slot);
  slot->current = gtask;
  slot->messages++;
  smtp_client_task_attach_connection (task, slot->connection);
  smtp_client_connection_transact_async (slot->connection,
                                         get_transaction (gtask),
                                         g_task_get_cancellable (gtask),
                                         on_transacted, slot);
}

static void
on_slot_opened (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  Slot *slot = user_data;
  SmtpClientSession *self = slot->session;
  GError *error = NULL;

  if (!smtp_client_connection_open_finish (SMTP_CLIENT_CONNECTION (source),
                                           result, &error))
    {
      if (self == NULL)
        {
          g_clear_error (&error);
          return;
        }

      /* The task that asked for the connection fails with the reason;
       * the queued ones each try a connection of their own. */
      g_object_ref (self);
      complete_current (self, slot, error);
      slot_retire (self, slot);
      dispatch (self);
      maybe_finish_close (self);
      g_object_unref (self);
      return;
    }

  if (self == NULL)
    return;

  slot->is_open = TRUE;
  slot_run (self, slot, g_steal_pointer (&slot->current));
}

static Slot *
find_idle_slot (SmtpClientSession *self)
{
  for (guint i = 0; i < self->slots->len; i++)
    {
      Slot *slot = g_ptr_array_index (self->slots, i);

      if (slot->is_open && slot->current == NULL && slot->connection != NULL &&
          smtp_client_connection_is_reusable (slot->connection))
        return slot;
    }

  return NULL;
}

static void
dispatch (SmtpClientSession *self)
{
  while (!g_queue_is_empty (&self->queue))
    {
      Slot *slot = find_idle_slot (self);
      GTask *gtask;

      if (slot != NULL)
        {
          gtask = g_queue_pop_head (&self->queue);
          slot_run (self, slot, gtask);
          continue;
        }

      if (self->slots->len >= MAX (self->max_connections, 1))
        return;

      gtask = g_queue_pop_head (&self->queue);
      slot = g_new0 (Slot, 1);
      slot->session = self;
      slot->current = gtask;
      slot->connection = smtp_client_connection_new (self->settings);
      g_ptr_array_add (self->slots, slot);
      /* The task that opens the connection gets the set-up in its log */
      smtp_client_task_attach_connection (g_task_get_source_object (gtask),
                                          slot->connection);
      smtp_client_connection_open_async (slot->connection,
                                         g_task_get_cancellable (gtask),
                                         on_slot_opened, slot);
    }
}

/* ---------------------------------------------------------------------- */
/* Queue */

static gboolean
on_cancel_scan (gpointer user_data)
{
  SmtpClientSession *self = user_data;
  GList *l = self->queue.head;

  g_clear_pointer (&self->cancel_source, g_source_unref);

  while (l != NULL)
    {
      GList *next = l->next;
      GTask *gtask = l->data;
      GCancellable *cancellable = g_task_get_cancellable (gtask);

      if (cancellable != NULL && g_cancellable_is_cancelled (cancellable))
        {
          g_queue_delete_link (&self->queue, l);
          smtp_client_task_complete (gtask,
                                     g_error_new_literal (G_IO_ERROR,
                                                          G_IO_ERROR_CANCELLED,
                                                          _("Operation was "
                                                            "cancelled")));
          g_object_unref (gtask);
        }
      l = next;
    }

  maybe_finish_close (self);
  return G_SOURCE_REMOVE;
}

static void
on_queued_cancelled (GCancellable *cancellable,
                     gpointer      user_data)
{
  SmtpClientSession *self = user_data;

  /* Not from inside the cancellable's emission: from the main loop */
  if (self->cancel_source != NULL)
    return;

  self->cancel_source = g_idle_source_new ();
  g_source_set_callback (self->cancel_source, on_cancel_scan, self, NULL);
  g_source_set_static_name (self->cancel_source, "[smtpclient] cancel scan");
  g_source_attach (self->cancel_source, g_main_context_get_thread_default ());
}

void
smtp_client_session_submit (SmtpClientSession     *self,
                            GTask                 *gtask,
                            SmtpClientTransaction *transaction)
{
  GCancellable *cancellable = g_task_get_cancellable (gtask);

  g_object_set_data (G_OBJECT (gtask), "smtpclient-transaction", transaction);
  if (cancellable != NULL)
    {
      if (g_cancellable_is_cancelled (cancellable))
        {
          smtp_client_task_complete (gtask,
                                     g_error_new_literal (G_IO_ERROR,
                                                          G_IO_ERROR_CANCELLED,
                                                          _("Operation was "
                                                            "cancelled")));
          return;
        }
      g_signal_connect_object (cancellable, "cancelled",
                               G_CALLBACK (on_queued_cancelled), self, 0);
    }

  g_queue_push_tail (&self->queue, g_object_ref (gtask));
  dispatch (self);
}

/* ---------------------------------------------------------------------- */
/* Close */

static gboolean
has_work (SmtpClientSession *self)
{
  if (!g_queue_is_empty (&self->queue))
    return TRUE;

  for (guint i = 0; i < self->slots->len; i++)
    if (((Slot *) g_ptr_array_index (self->slots, i))->current != NULL)
      return TRUE;

  return FALSE;
}

static void
maybe_finish_close (SmtpClientSession *self)
{
  GList *tasks;

  if (self->close_tasks == NULL || has_work (self))
    return;

  while (self->slots->len > 0)
    slot_retire (self, g_ptr_array_index (self->slots, 0));

  tasks = g_steal_pointer (&self->close_tasks);
  for (GList *l = tasks; l != NULL; l = l->next)
    g_task_return_boolean (l->data, TRUE);
  g_list_free_full (tasks, g_object_unref);
}

/**
 * smtp_client_session_close_async:
 * @session: a #SmtpClientSession
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when the session is closed
 * @user_data: data for @callback
 *
 * Lets the tasks queued and in flight finish, then closes every
 * connection with `QUIT`.  The session can still be used afterwards: a new
 * task opens a new connection.
 *
 * Since: 1.0
 */
void
smtp_client_session_close_async (SmtpClientSession   *self,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (SMTP_CLIENT_IS_SESSION (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, smtp_client_session_close_async);
  self->close_tasks = g_list_append (self->close_tasks, g_steal_pointer (&task));
  maybe_finish_close (self);
}

/**
 * smtp_client_session_close_finish:
 * @session: a #SmtpClientSession
 * @result: the #GAsyncResult passed to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@SmtpClient.Session.close_async].
 *
 * Returns: %TRUE when the session was closed
 *
 * Since: 1.0
 */
gboolean
smtp_client_session_close_finish (SmtpClientSession  *self,
                                  GAsyncResult       *result,
                                  GError            **error)
{
  g_return_val_if_fail (SMTP_CLIENT_IS_SESSION (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        smtp_client_session_close_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---------------------------------------------------------------------- */
/* GObject */

static void
smtp_client_session_get_property (GObject    *object,
                                  guint       prop_id,
                                  GValue     *value,
                                  GParamSpec *pspec)
{
  SmtpClientSession *self = SMTP_CLIENT_SESSION (object);

  if (prop_id >= PROP_FIRST_SETTING && prop_id < N_PROPS)
    {
      smtp_client_settings_get_property (self->settings,
                                         prop_id - PROP_FIRST_SETTING, value);
      return;
    }

  switch (prop_id)
    {
    case PROP_MAX_CONNECTIONS:
      g_value_set_uint (value, self->max_connections);
      break;
    case PROP_IDLE_TIMEOUT:
      g_value_set_uint (value, self->idle_timeout);
      break;
    case PROP_MAX_MESSAGES_PER_CONNECTION:
      g_value_set_uint (value, self->max_messages_per_connection);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
set_uint (GObject      *object,
          guint        *field,
          const GValue *value,
          GParamSpec   *pspec)
{
  if (*field == g_value_get_uint (value))
    return;

  *field = g_value_get_uint (value);
  g_object_notify_by_pspec (object, pspec);
}

static void
smtp_client_session_set_property (GObject      *object,
                                  guint         prop_id,
                                  const GValue *value,
                                  GParamSpec   *pspec)
{
  SmtpClientSession *self = SMTP_CLIENT_SESSION (object);

  if (prop_id >= PROP_FIRST_SETTING && prop_id < N_PROPS)
    {
      /* Connections already open keep the settings they were opened with */
      SmtpClientSettings *copy = smtp_client_settings_copy (self->settings);

      if (smtp_client_settings_set_property (copy, prop_id - PROP_FIRST_SETTING,
                                             value))
        {
          smtp_client_settings_unref (self->settings);
          self->settings = copy;
          g_object_notify_by_pspec (object, pspec);
        }
      else
        smtp_client_settings_unref (copy);
      return;
    }

  switch (prop_id)
    {
    case PROP_MAX_CONNECTIONS:
      set_uint (object, &self->max_connections, value, pspec);
      dispatch (self);
      break;
    case PROP_IDLE_TIMEOUT:
      set_uint (object, &self->idle_timeout, value, pspec);
      break;
    case PROP_MAX_MESSAGES_PER_CONNECTION:
      set_uint (object, &self->max_messages_per_connection, value, pspec);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
smtp_client_session_dispose (GObject *object)
{
  SmtpClientSession *self = SMTP_CLIENT_SESSION (object);
  GTask *gtask;

  if (self->cancel_source != NULL)
    {
      g_source_destroy (self->cancel_source);
      g_clear_pointer (&self->cancel_source, g_source_unref);
    }

  /* Queued tasks fail; those in flight fail as their connection closes */
  while ((gtask = g_queue_pop_head (&self->queue)) != NULL)
    {
      smtp_client_task_complete (gtask,
                                 g_error_new_literal (G_IO_ERROR,
                                                      G_IO_ERROR_CANCELLED,
                                                      _("The session was "
                                                        "closed")));
      g_object_unref (gtask);
    }

  while (self->slots->len > 0)
    {
      Slot *slot = g_ptr_array_steal_index (self->slots, self->slots->len - 1);

      slot->session = NULL;
      if (slot->current != NULL)
        {
          /* The pending callback sees session == NULL and returns; fail
           * the task here, once. */
          g_autoptr(GTask) current = g_steal_pointer (&slot->current);

          smtp_client_task_complete (current,
                                     g_error_new_literal (G_IO_ERROR,
                                                          G_IO_ERROR_CANCELLED,
                                                          _("The session was "
                                                            "closed")));
        }
      slot_stop_idle_timer (slot);
      if (slot->connection != NULL)
        smtp_client_connection_abort (slot->connection);
      /* Freed by nobody else: the pending callback only reads
       * slot->session, so keep the slot alive until the connection is
       * gone. */
      g_object_set_data_full (G_OBJECT (slot->connection), "smtpclient-slot",
                              slot, g_free);
      g_clear_object (&slot->connection);
    }

  if (self->close_tasks != NULL)
    {
      GList *tasks = g_steal_pointer (&self->close_tasks);

      for (GList *l = tasks; l != NULL; l = l->next)
        g_task_return_boolean (l->data, TRUE);
      g_list_free_full (tasks, g_object_unref);
    }

  G_OBJECT_CLASS (smtp_client_session_parent_class)->dispose (object);
}

static void
smtp_client_session_finalize (GObject *object)
{
  SmtpClientSession *self = SMTP_CLIENT_SESSION (object);

  g_ptr_array_unref (self->slots);
  g_clear_pointer (&self->settings, smtp_client_settings_unref);

  G_OBJECT_CLASS (smtp_client_session_parent_class)->finalize (object);
}

static void
smtp_client_session_class_init (SmtpClientSessionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags flags = G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY |
                            G_PARAM_STATIC_STRINGS;

  object_class->get_property = smtp_client_session_get_property;
  object_class->set_property = smtp_client_session_set_property;
  object_class->dispose = smtp_client_session_dispose;
  object_class->finalize = smtp_client_session_finalize;

  /**
   * SmtpClientSession:max-connections:
   *
   * How many connections the session opens in parallel at most; further
   * tasks wait in a queue.
   *
   * Since: 1.0
   */
  properties[PROP_MAX_CONNECTIONS] =
    g_param_spec_uint ("max-connections", NULL, NULL, 1, 1024, 1, flags);

  /**
   * SmtpClientSession:idle-timeout:
   *
   * Seconds an unused connection stays open before it is closed with
   * `QUIT`; 0 keeps it open until the session is closed.
   *
   * Since: 1.0
   */
  properties[PROP_IDLE_TIMEOUT] =
    g_param_spec_uint ("idle-timeout", NULL, NULL, 0, G_MAXUINT / 1000, 30,
                       flags);

  /**
   * SmtpClientSession:max-messages-per-connection:
   *
   * After this many messages a connection is closed and the next message
   * opens a fresh one; 0 means no limit.
   *
   * Since: 1.0
   */
  properties[PROP_MAX_MESSAGES_PER_CONNECTION] =
    g_param_spec_uint ("max-messages-per-connection", NULL, NULL, 0, G_MAXUINT,
                       0, flags);

  for (guint i = PROP_MAX_CONNECTIONS; i < PROP_FIRST_SETTING; i++)
    g_object_class_install_property (object_class, i, properties[i]);
  smtp_client_settings_install_properties (object_class, PROP_FIRST_SETTING,
                                           &properties[PROP_FIRST_SETTING]);

  /**
   * SmtpClientSession::accept-certificate:
   * @session: the session
   * @certificate: the server's certificate
   * @errors: the problems found with it
   *
   * Emitted during the TLS handshake of one of the session's connections
   * when the server's certificate did not verify (after the task's own
   * [signal@SmtpClient.Task::accept-certificate], if that did not accept
   * it).  Return %TRUE to accept the certificate anyway.
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
smtp_client_session_init (SmtpClientSession *self)
{
  self->settings = smtp_client_settings_new ();
  self->max_connections = 1;
  self->idle_timeout = 30;
  g_queue_init (&self->queue);
  self->slots = g_ptr_array_new_with_free_func ((GDestroyNotify) slot_free);
}

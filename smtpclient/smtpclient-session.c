/* smtpclient-session.c: many messages over reused connections — and the
 * one driver of every delivery
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "smtpclient-enum-types.h"
#include "smtpclient-error.h"
#include "smtpclient-private.h"
#include "smtpclient-session-pool-private.h"
#include "smtpclient-session.h"

/**
 * SmtpClientSession:
 *
 * Delivers any number of [class@SmtpClient.Task]s whose
 * [property@SmtpClient.Task:session] points at it, over reused
 * connections.
 *
 * A session holds the connection settings (the same properties as the
 * task, with the same names); a task that has a session uses the
 * session's settings and ignores its own (but its
 * [property@SmtpClient.Task:debug], [property@SmtpClient.Task:alias] and
 * [property@SmtpClient.Task:transaction-log] still apply to its own
 * transaction).  The session opens up to
 * [property@SmtpClient.Session:max-connections] connections in parallel
 * and queues the other tasks; it resets a connection with `RSET` after a
 * failed transaction, opens a new one after a dropped connection or a
 * `421`, starts a fresh connection after
 * [property@SmtpClient.Session:max-messages-per-connection] messages, and
 * closes idle connections with `QUIT` after
 * [property@SmtpClient.Session:idle-timeout] seconds or on
 * [method@SmtpClient.Session.close_async].
 *
 * When the server offers `PIPELINING` (RFC 2920), a connection carries
 * several tasks at once: the `MAIL`, `RCPT` and `DATA` commands of the
 * next message go out in the same write as the end of the previous
 * message's content, so a steady stream of messages costs about one round
 * trip each.  Every reply is matched to its command, and each task's
 * transaction log holds its own transaction (and the connection set-up,
 * for the task that opened the connection).
 *
 * Every task handed to a session ends with exactly one of its signals.  A
 * task that failed in a way that left it
 * %SMTP_CLIENT_DELIVERY_STATE_NOT_SENT, for a reason that may pass (the
 * connection was refused, lost or timed out, a `421`, a 4yz refusal of
 * the transaction as a whole), is tried again on a fresh connection, up to
 * [property@SmtpClient.Session:max-retries] times; a task whose connection
 * went away before any of its commands was sent goes to another one
 * without that counting as an attempt.  Cancelling a queued task takes
 * just that task out of the queue; disposing the session fails the tasks
 * still queued and in flight with %G_IO_ERROR_CANCELLED.
 *
 * Since: 1.0
 */

enum {
  PROP_0,
  PROP_MAX_CONNECTIONS,
  PROP_IDLE_TIMEOUT,
  PROP_MAX_MESSAGES_PER_CONNECTION,
  PROP_MAX_MESSAGES_PER_MINUTE,
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

SmtpClientSession *
smtp_client_session_new_one_shot (SmtpClientSettings *settings)
{
  SmtpClientSession *self = g_object_new (SMTP_CLIENT_TYPE_SESSION, NULL);

  smtp_client_settings_unref (self->settings);
  self->settings = smtp_client_settings_ref (settings);
  self->is_one_shot = TRUE;
  self->idle_timeout = 0;

  return self;
}

void
smtp_client_session_set_tls_name (SmtpClientSession *self,
                                  const char        *name)
{
  SmtpClientSettings *copy = smtp_client_settings_copy (self->settings);

  g_free (copy->tls_name);
  copy->tls_name = g_strdup (name);
  smtp_client_settings_unref (self->settings);
  self->settings = copy;
}

SmtpClientSettings *
smtp_client_session_dup_settings (SmtpClientSession *self)
{
  return smtp_client_settings_ref (self->settings);
}

gboolean
session_accept_certificate (SmtpClientSession    *self,
                            GTlsCertificate      *certificate,
                            GTlsCertificateFlags  errors)
{
  gboolean accepted = FALSE;

  g_signal_emit (self, signals[SIGNAL_ACCEPT_CERTIFICATE], 0, certificate,
                 errors, &accepted);
  return accepted;
}

/**
 * smtp_client_session_get_statistics:
 * @session: a #SmtpClientSession
 *
 * Gets what the session has done so far, as an `a{sv}` dictionary of
 * `t` (guint64) values: `messages-accepted` and `messages-failed` (tasks
 * that ended with [signal@SmtpClient.Task::succeeded] or
 * [signal@SmtpClient.Task::failed]), `bytes-sent` (everything written to
 * servers: commands and content), `connections-opened`,
 * `connections-reused` (transactions put on a connection that was already
 * open), `retries` (further attempts of failed tasks, see
 * [property@SmtpClient.Session:max-retries]) and `throttled` (replies
 * that made the session slow down, see
 * [property@SmtpClient.Session:max-messages-per-minute]).
 *
 * Returns: (transfer full): the statistics, an `a{sv}` #GVariant
 *
 * Since: 1.0
 */
GVariant *
smtp_client_session_get_statistics (SmtpClientSession *self)
{
  g_return_val_if_fail (SMTP_CLIENT_IS_SESSION (self), NULL);

  return session_pool_get_statistics (self);
}

/* ---------------------------------------------------------------------- */
/* Close */

/**
 * smtp_client_session_close_async:
 * @session: a #SmtpClientSession
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when the session is closed
 * @user_data: data for @callback
 *
 * Lets the tasks queued and in flight finish, then closes every
 * connection with `QUIT` and calls @callback once the server has answered
 * (or the connection is gone).  The session can still be used afterwards:
 * a new task opens a new connection.
 *
 * Cancelling @cancellable makes [method@SmtpClient.Session.close_finish]
 * report %G_IO_ERROR_CANCELLED; it does not stop the tasks (cancel those
 * with their own cancellables).
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
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, smtp_client_session_close_async);

  if (self->is_disposed)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }

  self->close_tasks = g_list_append (self->close_tasks,
                                     g_steal_pointer (&task));
  session_pool_maybe_close (self);
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
    case PROP_MAX_MESSAGES_PER_MINUTE:
      g_value_set_uint (value, self->max_messages_per_minute);
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
      session_pool_dispatch (self);
      break;
    case PROP_IDLE_TIMEOUT:
      set_uint (object, &self->idle_timeout, value, pspec);
      break;
    case PROP_MAX_MESSAGES_PER_CONNECTION:
      set_uint (object, &self->max_messages_per_connection, value, pspec);
      break;
    case PROP_MAX_MESSAGES_PER_MINUTE:
      set_uint (object, &self->max_messages_per_minute, value, pspec);
      session_pool_dispatch (self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
smtp_client_session_dispose (GObject *object)
{
  SmtpClientSession *self = SMTP_CLIENT_SESSION (object);

  session_pool_shut_down (self);

  G_OBJECT_CLASS (smtp_client_session_parent_class)->dispose (object);
}

static void
smtp_client_session_finalize (GObject *object)
{
  SmtpClientSession *self = SMTP_CLIENT_SESSION (object);

  g_ptr_array_unref (self->slots);
  g_clear_pointer (&self->settings, smtp_client_settings_unref);
  g_clear_pointer (&self->context, g_main_context_unref);

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

  /**
   * SmtpClientSession:max-messages-per-minute:
   *
   * Spreads the transactions evenly so that no more than this many start
   * in any minute (for a provider that limits the rate); 0 means no
   * limit.  Independently of it, a throttling reply from the server (a
   * `421`, `451 4.7.x`, `454 4.7.x`, or a reply that says a rate or
   * connection limit was exceeded) makes the session use half as many
   * connections (down to one) and wait
   * [property@SmtpClient.Session:retry-delay] before it starts another
   * transaction; after a minute without such a reply it uses twice as many
   * again, up to [property@SmtpClient.Session:max-connections].
   *
   * Since: 1.0
   */
  properties[PROP_MAX_MESSAGES_PER_MINUTE] =
    g_param_spec_uint ("max-messages-per-minute", NULL, NULL, 0, 1000000, 0,
                       flags);

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
  self->context = g_main_context_ref_thread_default ();
  g_queue_init (&self->queue);
  g_queue_init (&self->waiting);
  self->slots = g_ptr_array_new_with_free_func ((GDestroyNotify) session_pool_free_slot);
}

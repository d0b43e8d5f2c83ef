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
 * failed transaction, reconnects after a dropped connection or a `421`
 * reply (the task in flight fails with its error, the queued ones go out
 * over a new connection), starts a fresh connection after
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
 * Every task handed to a session ends with exactly one of its signals.
 * A task whose commands the server never answered, on a connection that
 * was lost, cannot have been delivered: it goes out again over the next
 * connection (once) rather than fail.  Cancelling a queued task takes just
 * that task out of the queue; disposing the session fails the tasks still
 * queued and in flight with %G_IO_ERROR_CANCELLED.
 *
 * Since: 1.0
 */

/* How the session works
 *
 * A task handed to the session becomes a Job: its send GTask and its
 * transaction.  Jobs wait in the session's queue until a connection takes
 * them.  Each connection lives in a Slot; a slot is OPENING (its first job,
 * the "opener", waits for it), OPEN, or CLOSING (saying QUIT).  A slot
 * that is closing still counts against max-connections, so the server
 * never sees more.  An open connection takes a job when it has none, or,
 * with PIPELINING, a second one, whose envelope goes out with the end of
 * the first one's content (see smtpclient-connection.c); a new connection
 * is opened rather than a second job given to a busy one while there is
 * room for one.
 *
 * Every job ends exactly once, in job_complete(): success, failure, or
 * cancellation, whether it was queued, opening a connection or on one.
 * The one exception is a job whose connection was lost before the server
 * answered any of its commands and before the end of its content went out
 * (SmtpClientTransaction.may_retry): nothing can have been delivered, so
 * it goes back to the head of the queue, once, for the next connection.
 *
 * Slots are reference-counted: the session's slots array holds one
 * reference, and so does every pending operation on the slot's connection
 * (open, each transaction, QUIT), whose callback finds the session through
 * slot->session — NULL once the session is disposed.
 */

/* How many times a job is tried again after its connection was lost under
 * it (see may_retry) */
#define MAX_RETRIES 1

typedef struct _Slot Slot;

typedef enum
{
  SLOT_OPENING,
  SLOT_OPEN,
  SLOT_CLOSING,
} SlotState;

typedef struct
{
  GTask                 *gtask;        /* the task's send GTask, owned */
  SmtpClientTransaction *transaction;  /* the task's, valid until it ends */
  GCancellable          *cancellable;  /* the GTask's */
  gulong                 cancelled_id; /* while queued */
  Slot                  *slot;         /* a reference, while on a connection */
  guint                  retries;
  gboolean               is_requeued;  /* back at the head of the queue */
} Job;

struct _Slot
{
  gint                  ref_count;
  SmtpClientSession    *session;       /* unowned; NULL once disposed */
  SmtpClientConnection *connection;
  SlotState             state;
  Job                  *opener;        /* while OPENING */
  guint                 jobs;          /* transactions on the connection */
  guint                 messages;      /* transactions it has been given */
  GSource              *idle_timer;
};

struct _SmtpClientSession
{
  GObject             parent_instance;

  SmtpClientSettings *settings;
  guint               max_connections;
  guint               idle_timeout;
  guint               max_messages_per_connection;

  GQueue              queue;          /* of Job*, waiting for a connection */
  GPtrArray          *slots;          /* of Slot*, a reference each */
  GList              *close_tasks;    /* close_async callers waiting */
  GMainContext       *context;        /* the thread-default one at creation */
  gboolean            is_disposed;
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

static GError *
session_closed_error (void)
{
  return g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                              _("The session was closed"));
}

/* ---------------------------------------------------------------------- */
/* Jobs */

static gboolean
job_is_cancelled (Job *job)
{
  return job->cancellable != NULL &&
         g_cancellable_is_cancelled (job->cancellable);
}

/* End @job: emit its task's signal and return its GTask.  @error:
 * transfer full, NULL for success.  @connection: the connection it used,
 * if any, for the last reply when the transaction has none (a failure in
 * the greeting or EHLO). */
static void
job_complete (Job                  *job,
              SmtpClientConnection *connection,
              GError               *error)
{
  SmtpClientTransaction *transaction = job->transaction;

  g_assert (job->cancelled_id == 0);

  if (transaction->reply == NULL && connection != NULL &&
      smtp_client_connection_get_reply_code (connection) != 0)
    {
      const char *reply = smtp_client_connection_get_reply (connection);

      transaction->reply_code =
        smtp_client_connection_get_reply_code (connection);
      transaction->reply = g_strdup (reply);
    }

  smtp_client_task_complete (job->gtask, error);
  g_object_unref (job->gtask);
  g_free (job);
}

static gboolean
on_cancel_scan (gpointer user_data)
{
  SmtpClientSession *self = user_data;
  GQueue cancelled = G_QUEUE_INIT;
  Job *job;

  if (self->is_disposed)
    return G_SOURCE_REMOVE;

  /* Take them all out first: completing one runs the task's handlers,
   * which may submit, cancel or close */
  for (GList *l = self->queue.head; l != NULL; )
    {
      GList *next = l->next;

      job = l->data;
      if (job_is_cancelled (job))
        {
          g_queue_delete_link (&self->queue, l);
          g_queue_push_tail (&cancelled, job);
        }
      l = next;
    }

  while ((job = g_queue_pop_head (&cancelled)) != NULL)
    {
      g_cancellable_disconnect (job->cancellable, job->cancelled_id);
      job->cancelled_id = 0;
      job_complete (job, NULL,
                    g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                         _("Operation was cancelled")));
    }

  maybe_finish_close (self);
  return G_SOURCE_REMOVE;
}

static void
on_queued_cancelled (GCancellable *cancellable,
                     gpointer      user_data)
{
  SmtpClientSession *self = user_data;
  GSource *source;

  /* Not from inside the emission, which may be in another thread: from
   * the main context, where the queue is looked at */
  source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, on_cancel_scan, g_object_ref (self),
                         g_object_unref);
  g_source_set_static_name (source, "[smtpclient] session cancel");
  g_source_attach (source, self->context);
  g_source_unref (source);
}

/* Queue @job at the tail, or, when it comes back from a lost connection,
 * at the head, behind those that came back before it: the jobs of one
 * connection return in their order, and keep it. */
static void
job_enqueue (SmtpClientSession *self,
             Job               *job,
             gboolean           requeued)
{
  if (job->cancellable != NULL)
    job->cancelled_id = g_cancellable_connect (job->cancellable,
                                               G_CALLBACK (on_queued_cancelled),
                                               self, NULL);
  job->is_requeued = requeued;
  if (!requeued)
    {
      g_queue_push_tail (&self->queue, job);
      return;
    }

  for (GList *l = self->queue.head; l != NULL; l = l->next)
    {
      if (!((Job *) l->data)->is_requeued)
        {
          g_queue_insert_before (&self->queue, l, job);
          return;
        }
    }
  g_queue_push_tail (&self->queue, job);
}

static Job *
job_dequeue (SmtpClientSession *self)
{
  Job *job = g_queue_pop_head (&self->queue);

  job->is_requeued = FALSE;
  if (job->cancelled_id != 0)
    {
      g_cancellable_disconnect (job->cancellable, job->cancelled_id);
      job->cancelled_id = 0;
    }

  return job;
}

/* ---------------------------------------------------------------------- */
/* Slots */

static Slot *
slot_ref (Slot *slot)
{
  slot->ref_count++;
  return slot;
}

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
slot_unref (Slot *slot)
{
  if (--slot->ref_count > 0)
    return;

  g_assert (slot->opener == NULL && slot->jobs == 0);
  slot_stop_idle_timer (slot);
  if (slot->connection != NULL)
    {
      smtp_client_connection_set_log_func (slot->connection, NULL, NULL);
      smtp_client_connection_set_accept_certificate_func (slot->connection,
                                                          NULL, NULL);
      smtp_client_connection_abort (slot->connection);
      g_clear_object (&slot->connection);
    }
  g_free (slot);
}

/* Take @slot out of the pool and close its connection at once */
static void
slot_remove (SmtpClientSession *self,
             Slot              *slot)
{
  slot_stop_idle_timer (slot);
  smtp_client_connection_abort (slot->connection);
  g_ptr_array_remove (self->slots, slot);
}

static void
on_slot_quit (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Slot *slot = user_data;
  SmtpClientSession *self = slot->session;

  smtp_client_connection_quit_finish (SMTP_CLIENT_CONNECTION (source), result,
                                      NULL);
  if (self == NULL)
    {
      slot_unref (slot);
      return;
    }

  g_object_ref (self);
  slot_remove (self, slot);
  slot_unref (slot);
  /* A job may have been waiting for room */
  dispatch (self);
  maybe_finish_close (self);
  g_object_unref (self);
}

/* Say QUIT on an idle slot; it leaves the pool when that is done */
static void
slot_quit (SmtpClientSession *self,
           Slot              *slot)
{
  g_assert (slot->state == SLOT_OPEN && slot->jobs == 0);

  slot_stop_idle_timer (slot);
  slot->state = SLOT_CLOSING;
  smtp_client_connection_quit_async (slot->connection, NULL, on_slot_quit,
                                     slot_ref (slot));
}

static gboolean
on_idle_timeout (gpointer user_data)
{
  Slot *slot = user_data;

  g_clear_pointer (&slot->idle_timer, g_source_unref);
  slot_quit (slot->session, slot);

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
  g_source_attach (slot->idle_timer, self->context);
}

static gboolean
slot_has_messages_left (SmtpClientSession *self,
                        Slot              *slot)
{
  return self->max_messages_per_connection == 0 ||
         slot->messages < self->max_messages_per_connection;
}

/* A job on @slot has ended: keep the slot, let it idle, or close it */
static void
slot_settle (SmtpClientSession *self,
             Slot              *slot)
{
  if (slot->state != SLOT_OPEN || slot->jobs > 0)
    return;

  if (!smtp_client_connection_is_reusable (slot->connection))
    slot_remove (self, slot);
  else if (!slot_has_messages_left (self, slot) ||
           (self->close_tasks != NULL && g_queue_is_empty (&self->queue)))
    slot_quit (self, slot);
  else
    slot_start_idle_timer (self, slot);
}

/* ---------------------------------------------------------------------- */
/* Running jobs */

static void
on_transacted (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  Job *job = user_data;
  Slot *slot = g_steal_pointer (&job->slot);
  SmtpClientSession *self = slot->session;
  GError *error = NULL;
  gboolean retry;

  smtp_client_connection_transact_finish (SMTP_CLIENT_CONNECTION (source),
                                          result, &error);
  slot->jobs--;

  if (self == NULL)
    {
      /* Disposed: what did not make it is cancelled */
      if (error != NULL)
        {
          g_clear_error (&error);
          error = session_closed_error ();
        }
      job_complete (job, NULL, error);
      slot_unref (slot);
      return;
    }

  g_object_ref (self);

  /* Nothing of it can have been delivered: it goes out over the next
   * connection instead; free of charge when it had not even started */
  retry = error != NULL && job->transaction->may_retry &&
          !job_is_cancelled (job) &&
          (!job->transaction->started || job->retries < MAX_RETRIES);

  /* The pool first, so that the task's handlers see it settled */
  slot_settle (self, slot);
  slot_unref (slot);

  if (retry)
    {
      g_clear_error (&error);
      if (job->transaction->started)
        job->retries++;
      job_enqueue (self, job, TRUE);
    }
  else
    {
      job_complete (job, NULL, error);
    }

  dispatch (self);
  maybe_finish_close (self);
  g_object_unref (self);
}

/* Hand @job (out of the queue) to @slot's connection */
static void
slot_run (SmtpClientSession *self,
          Slot              *slot,
          Job               *job)
{
  SmtpClientTask *task = g_task_get_source_object (job->gtask);

  slot_stop_idle_timer (slot);
  slot->jobs++;
  slot->messages++;
  job->slot = slot_ref (slot);

  /* The transaction's lines go to its own task's log: the connection
   * keeps the log function it has when the transaction is handed over */
  smtp_client_task_attach_connection (task, slot->connection);
  smtp_client_connection_transact_async (slot->connection, job->transaction,
                                         job->cancellable, on_transacted,
                                         job);
  smtp_client_connection_set_log_func (slot->connection, NULL, NULL);
  smtp_client_connection_set_accept_certificate_func (slot->connection, NULL,
                                                      NULL);
}

static void
on_slot_opened (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  Slot *slot = user_data;
  SmtpClientSession *self = slot->session;
  Job *job = g_steal_pointer (&slot->opener);
  GError *error = NULL;

  smtp_client_connection_open_finish (SMTP_CLIENT_CONNECTION (source), result,
                                      &error);

  if (self == NULL)
    {
      /* Disposed while the connection opened */
      g_clear_error (&error);
      job_complete (job, slot->connection, session_closed_error ());
      slot_unref (slot);
      return;
    }

  g_object_ref (self);

  if (error != NULL)
    {
      /* The job that opened it fails with the reason; the queued ones
       * each try a connection of their own */
      smtp_client_connection_set_log_func (slot->connection, NULL, NULL);
      smtp_client_connection_set_accept_certificate_func (slot->connection,
                                                          NULL, NULL);
      slot_remove (self, slot);
      job_complete (job, slot->connection, error);
    }
  else
    {
      slot->state = SLOT_OPEN;
      slot_run (self, slot, job);
    }

  slot_unref (slot);
  dispatch (self);
  maybe_finish_close (self);
  g_object_unref (self);
}

/* Open a new connection for @job (out of the queue) */
static void
slot_open (SmtpClientSession *self,
           Job               *job)
{
  SmtpClientTask *task = g_task_get_source_object (job->gtask);
  Slot *slot = g_new0 (Slot, 1);

  slot->ref_count = 1;
  slot->session = self;
  slot->state = SLOT_OPENING;
  slot->opener = job;
  slot->connection = smtp_client_connection_new (self->settings);
  g_ptr_array_add (self->slots, slot);

  /* The job that opens the connection gets the set-up in its log, and is
   * asked about the server's certificate */
  smtp_client_task_attach_connection (task, slot->connection);
  smtp_client_connection_open_async (slot->connection, job->cancellable,
                                     on_slot_opened, slot_ref (slot));
}

/* The open slot that should take the next job: an idle one, else (when no
 * new connection may be opened) the one with the fewest jobs that can
 * pipeline one more; NULL if none. */
static Slot *
find_slot (SmtpClientSession *self)
{
  Slot *best = NULL;

  for (guint i = 0; i < self->slots->len; i++)
    {
      Slot *slot = g_ptr_array_index (self->slots, i);

      if (slot->state != SLOT_OPEN || !slot_has_messages_left (self, slot) ||
          !smtp_client_connection_can_transact (slot->connection))
        continue;

      if (slot->jobs == 0)
        return slot;
      if (best == NULL || slot->jobs < best->jobs)
        best = slot;
    }

  /* Parallel connections before deeper pipelines */
  if (best != NULL && self->slots->len < self->max_connections)
    return NULL;

  return best;
}

static void
dispatch (SmtpClientSession *self)
{
  while (!g_queue_is_empty (&self->queue) && !self->is_disposed)
    {
      Slot *slot = find_slot (self);

      if (slot != NULL)
        slot_run (self, slot, job_dequeue (self));
      else if (self->slots->len < self->max_connections)
        slot_open (self, job_dequeue (self));
      else
        return;
    }
}

void
smtp_client_session_submit (SmtpClientSession     *self,
                            GTask                 *gtask,
                            SmtpClientTransaction *transaction)
{
  Job *job = g_new0 (Job, 1);

  job->gtask = g_object_ref (gtask);
  job->transaction = transaction;
  job->cancellable = g_task_get_cancellable (gtask);

  if (self->is_disposed)
    {
      job_complete (job, NULL, session_closed_error ());
      return;
    }

  if (job_is_cancelled (job))
    {
      job_complete (job, NULL,
                    g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                         _("Operation was cancelled")));
      return;
    }

  job_enqueue (self, job, FALSE);
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
    {
      Slot *slot = g_ptr_array_index (self->slots, i);

      if (slot->state == SLOT_OPENING || slot->jobs > 0)
        return TRUE;
    }

  return FALSE;
}

static void
maybe_finish_close (SmtpClientSession *self)
{
  GList *tasks;

  if (self->close_tasks == NULL || has_work (self))
    return;

  /* Every connection is idle: QUIT, and wait for the last to be done */
  for (guint i = 0; i < self->slots->len; i++)
    {
      Slot *slot = g_ptr_array_index (self->slots, i);

      if (slot->state == SLOT_OPEN)
        slot_quit (self, slot);
    }

  if (self->slots->len > 0)
    return;

  tasks = g_steal_pointer (&self->close_tasks);
  for (GList *l = tasks; l != NULL; l = l->next)
    {
      if (!g_task_return_error_if_cancelled (l->data))
        g_task_return_boolean (l->data, TRUE);
    }
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

  self->is_disposed = TRUE;

  /* Queued tasks fail now; those on a connection fail as it closes (their
   * callbacks find slot->session NULL) */
  while (!g_queue_is_empty (&self->queue))
    job_complete (job_dequeue (self), NULL, session_closed_error ());

  while (self->slots->len > 0)
    {
      Slot *slot = g_ptr_array_steal_index (self->slots, self->slots->len - 1);

      slot->session = NULL;
      slot_stop_idle_timer (slot);
      if (slot->state == SLOT_OPEN && slot->jobs == 0 &&
          smtp_client_connection_is_reusable (slot->connection))
        {
          /* Idle: a polite goodbye, which holds the slot until done */
          slot->state = SLOT_CLOSING;
          smtp_client_connection_quit_async (slot->connection, NULL,
                                             on_slot_quit, slot_ref (slot));
        }
      else if (slot->state != SLOT_CLOSING)
        {
          smtp_client_connection_abort (slot->connection);
        }
      slot_unref (slot);
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
  self->slots = g_ptr_array_new_with_free_func ((GDestroyNotify) slot_unref);
}

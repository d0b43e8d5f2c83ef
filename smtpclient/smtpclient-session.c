/* smtpclient-session.c: many messages over reused connections — and the
 * one driver of every delivery
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

/* How the session works
 *
 * A delivery handed to the session becomes a Job.  Jobs wait in the queue
 * until a connection takes them, and in "waiting" until their next
 * attempt is due.  Each connection lives in a Slot, which is its hooks'
 * data: OPENING (set up for its first job, "the opener"), OPEN, or
 * CLOSING (saying QUIT).  A closing slot still counts against
 * max-connections, so the server never sees more.
 *
 * Every job ends exactly once, in job_complete(), whether it was queued,
 * waiting or on a connection.  The engine reports every transaction it was
 * given exactly once (the finished hook), and then the connection's end
 * (the closed hook), after which the slot goes.
 */

typedef struct _Slot Slot;

typedef enum
{
  SLOT_OPENING,
  SLOT_OPEN,
  SLOT_CLOSING,
} SlotState;

typedef struct
{
  SmtpClientTransaction   *transaction;
  GCancellable            *cancellable;
  gulong                   cancelled_id;  /* while queued or waiting */
  SmtpClientDeliveredFunc  func;
  gpointer                 user_data;
  Slot                    *slot;          /* while on a connection */
  gboolean                 is_opener;     /* it opened that connection */
  gboolean                 is_requeued;   /* at the head of the queue */
  GSource                  *retry_timer;   /* while waiting */
} Job;

struct _Slot
{
  SmtpClientSession    *session;
  SmtpClientConnection *connection;
  SlotState             state;
  guint                 jobs;           /* transactions on the connection */
  guint                 messages;       /* transactions it was given */
  gboolean              is_retiring;    /* takes no more; QUIT when idle */
  GSource              *idle_timer;
};

struct _SmtpClientSession
{
  GObject             parent_instance;

  SmtpClientSettings *settings;
  guint               max_connections;
  guint               idle_timeout;
  guint               max_messages_per_connection;
  gboolean            is_one_shot;

  GQueue              queue;          /* of Job*, waiting for a connection */
  GQueue              waiting;        /* of Job*, waiting for a retry */
  GPtrArray          *slots;          /* of Slot* */
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

SmtpClientSettings *
smtp_client_session_dup_settings (SmtpClientSession *self)
{
  return smtp_client_settings_ref (self->settings);
}

static GError *
session_closed_error (void)
{
  return g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                              _("The session was closed"));
}

static GError *
cancelled_error (void)
{
  return g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                              _("Operation was cancelled"));
}

/* ---------------------------------------------------------------------- */
/* Jobs */

static gboolean
job_is_cancelled (Job *job)
{
  return job->cancellable != NULL &&
         g_cancellable_is_cancelled (job->cancellable);
}

static void
job_stop_waiting (Job *job)
{
  if (job->cancelled_id != 0)
    {
      g_cancellable_disconnect (job->cancellable, job->cancelled_id);
      job->cancelled_id = 0;
    }
  if (job->retry_timer != NULL)
    {
      g_source_destroy (job->retry_timer);
      g_clear_pointer (&job->retry_timer, g_source_unref);
    }
}

/* End @job: @error is transfer full, NULL for success.  The caller's
 * callback may do anything, including disposing the session. */
static void
job_complete (Job    *job,
              GError *error)
{
  SmtpClientTransaction *transaction = job->transaction;

  job_stop_waiting (job);
  g_clear_object (&job->cancellable);

  /* A job that never reached a server */
  if (transaction->state == SMTP_CLIENT_DELIVERY_STATE_PENDING)
    transaction->state = SMTP_CLIENT_DELIVERY_STATE_NOT_SENT;

  transaction->driver_data = NULL;
  job->func (transaction, error, job->user_data);
  g_free (job);
}

static gboolean
on_cancel_scan (gpointer user_data)
{
  SmtpClientSession *self = user_data;
  GQueue cancelled = G_QUEUE_INIT;
  GQueue *queues[] = { &self->queue, &self->waiting };
  Job *job;

  if (self->is_disposed)
    return G_SOURCE_REMOVE;

  /* Take them all out first: completing one runs the task's handlers,
   * which may submit, cancel or close */
  for (gsize i = 0; i < G_N_ELEMENTS (queues); i++)
    {
      for (GList *l = queues[i]->head; l != NULL; )
        {
          GList *next = l->next;

          job = l->data;
          if (job_is_cancelled (job))
            {
              g_queue_delete_link (queues[i], l);
              g_queue_push_tail (&cancelled, job);
            }
          l = next;
        }
    }

  while ((job = g_queue_pop_head (&cancelled)) != NULL)
    job_complete (job, cancelled_error ());

  if (!self->is_disposed)
    maybe_finish_close (self);
  return G_SOURCE_REMOVE;
}

static void
on_waiting_cancelled (GCancellable *cancellable,
                      gpointer      user_data)
{
  SmtpClientSession *self = user_data;
  GSource *source;

  /* Not from inside the emission, which may be in another thread: from
   * the main context, where the queues are looked at */
  source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, on_cancel_scan, g_object_ref (self),
                         g_object_unref);
  g_source_set_static_name (source, "[smtpclient] session cancel");
  g_source_attach (source, self->context);
  g_source_unref (source);
}

static void
job_watch_cancellable (SmtpClientSession *self,
                       Job               *job)
{
  if (job->cancellable != NULL && job->cancelled_id == 0)
    job->cancelled_id = g_cancellable_connect (job->cancellable,
                                               G_CALLBACK (on_waiting_cancelled),
                                               self, NULL);
}

/* Queue @job at the tail, or, when it comes back from a connection, at the
 * head, behind those that came back before it: the jobs of one connection
 * return in their order, and keep it */
static void
job_enqueue (SmtpClientSession *self,
             Job               *job,
             gboolean           requeued)
{
  job_watch_cancellable (self, job);
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
  job_stop_waiting (job);

  return job;
}

/* ---------------------------------------------------------------------- */
/* Retries */

typedef struct
{
  SmtpClientSession *session;
  Job               *job;
} RetryDue;

static gboolean
on_retry_timer (gpointer user_data)
{
  RetryDue *due = user_data;
  SmtpClientSession *self = due->session;
  Job *job = due->job;

  g_clear_pointer (&job->retry_timer, g_source_unref);
  g_queue_remove (&self->waiting, job);
  job_enqueue (self, job, TRUE);
  dispatch (self);

  return G_SOURCE_REMOVE;
}

/* Milliseconds before the attempt after @attempts ones: retry-delay,
 * doubled for each further attempt, with ±20% of jitter */
static guint
retry_delay_ms (SmtpClientSession *self,
                guint              attempts)
{
  gdouble delay = self->settings->retry_delay;

  for (guint i = 1; i < attempts && delay < 3600.0 * 1000; i++)
    delay *= 2;
  delay *= g_random_double_range (0.8, 1.2);

  return (guint) MIN (delay, 3600.0 * 1000);
}

/* @job failed with @error: TRUE if it goes out again (then it owns
 * nothing of @error) */
static gboolean
job_try_again (SmtpClientSession *self,
               Job               *job,
               const GError      *error)
{
  SmtpClientTransaction *transaction = job->transaction;
  g_autofree char *line = NULL;
  RetryDue *due;
  char number[16];

  if (error == NULL || job_is_cancelled (job) ||
      transaction->state != SMTP_CLIENT_DELIVERY_STATE_NOT_SENT)
    return FALSE;

  /* Its connection went away before the server answered any of it, and
   * it was not the one in progress (a stale pooled connection; a
   * transaction pipelined behind one that failed): another connection
   * takes it, free of charge.  Only a connection's opener pays for a
   * connection that fails before any transaction. */
  if (!transaction->was_attempted && !job->is_opener &&
      smtp_client_transaction_begin_attempt (transaction))
    {
      transaction->attempts--;
      job_enqueue (self, job, TRUE);
      return TRUE;
    }

  if (!transaction->is_transient ||
      transaction->attempts > self->settings->max_retries ||
      !smtp_client_transaction_begin_attempt (transaction))
    return FALSE;

  g_snprintf (number, sizeof number, "%u", transaction->attempts);
  line = g_strconcat ("retry ", number, ": ", error->message, NULL);
  smtp_client_transaction_log (transaction, transaction->debug, "-- ", line,
                               -1);

  due = g_new (RetryDue, 1);
  due->session = self;
  due->job = job;
  job->retry_timer = g_timeout_source_new (retry_delay_ms (self,
                                                           transaction->attempts));
  g_source_set_callback (job->retry_timer, on_retry_timer, due, g_free);
  g_source_set_static_name (job->retry_timer, "[smtpclient] retry");
  g_source_attach (job->retry_timer, self->context);
  job_watch_cancellable (self, job);
  g_queue_push_tail (&self->waiting, job);

  return TRUE;
}

/* ---------------------------------------------------------------------- */
/* Slots */

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
  g_clear_object (&slot->connection);
  g_free (slot);
}

/* Say QUIT on an idle slot; it leaves the pool when it is closed */
static void
slot_quit (Slot *slot)
{
  slot_stop_idle_timer (slot);
  slot->state = SLOT_CLOSING;
  smtp_client_connection_quit (slot->connection);
}

static gboolean
on_idle_timeout (gpointer user_data)
{
  Slot *slot = user_data;

  g_clear_pointer (&slot->idle_timer, g_source_unref);
  slot_quit (slot);

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

static gboolean
has_work (SmtpClientSession *self)
{
  if (!g_queue_is_empty (&self->queue) || !g_queue_is_empty (&self->waiting))
    return TRUE;

  for (guint i = 0; i < self->slots->len; i++)
    {
      Slot *slot = g_ptr_array_index (self->slots, i);

      if (slot->jobs > 0)
        return TRUE;
    }

  return FALSE;
}

/* A job on @slot has ended, or the slot is ready: keep it, let it idle,
 * or close it */
static void
slot_settle (SmtpClientSession *self,
             Slot              *slot)
{
  if (slot->state != SLOT_OPEN || slot->jobs > 0 ||
      !smtp_client_connection_is_ready (slot->connection))
    return;

  if (slot->is_retiring || !slot_has_messages_left (self, slot) ||
      (self->close_tasks != NULL && !has_work (self)))
    slot_quit (slot);
  else
    slot_start_idle_timer (self, slot);
}

/* Hand @job (out of the queue) to @slot's connection */
static void
slot_run (SmtpClientSession *self,
          Slot              *slot,
          Job               *job)
{
  slot_stop_idle_timer (slot);
  slot->jobs++;
  slot->messages++;
  job->slot = slot;
  job->transaction->attempts++;
  job->transaction->is_last = self->is_one_shot;
  smtp_client_connection_transact (slot->connection, job->transaction,
                                   job->cancellable);
}

static const SmtpClientConnectionHooks connection_hooks;

/* Open a new connection for @job (out of the queue) */
static void
slot_open (SmtpClientSession *self,
           Job               *job)
{
  Slot *slot = g_new0 (Slot, 1);

  slot->session = self;
  slot->state = SLOT_OPENING;
  slot->connection = smtp_client_connection_new (self->settings,
                                                 &connection_hooks, slot);
  g_ptr_array_add (self->slots, slot);

  /* Its set-up goes to the opener's log; the opener is asked about the
   * server's certificate */
  slot_run (self, slot, job);
  job->is_opener = TRUE;
  smtp_client_connection_open (slot->connection);
}

/* The open slot that should take the next job: an idle one, else (when no
 * new connection may be opened) the one with the fewest jobs that can
 * pipeline one more; NULL if none */
static Slot *
find_slot (SmtpClientSession *self)
{
  Slot *best = NULL;

  for (guint i = 0; i < self->slots->len; i++)
    {
      Slot *slot = g_ptr_array_index (self->slots, i);

      if (slot->state != SLOT_OPEN || slot->is_retiring ||
          !slot_has_messages_left (self, slot) ||
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
        {
          Job *job = job_dequeue (self);

          job->is_opener = FALSE;
          slot_run (self, slot, job);
        }
      else if (self->slots->len < self->max_connections)
        slot_open (self, job_dequeue (self));
      else
        return;
    }
}

/* ---------------------------------------------------------------------- */
/* The connections' hooks */

static void
on_connection_ready (SmtpClientConnection *connection,
                     gpointer              data)
{
  Slot *slot = data;
  SmtpClientSession *self = slot->session;

  if (slot->state == SLOT_OPENING)
    slot->state = SLOT_OPEN;
  dispatch (self);
  slot_settle (self, slot);
  maybe_finish_close (self);
}

static void
on_connection_finished (SmtpClientConnection  *connection,
                        SmtpClientTransaction *transaction,
                        GError                *error,
                        gpointer               data)
{
  Slot *slot = data;
  SmtpClientSession *self = g_object_ref (slot->session);
  Job *job = transaction->driver_data;

  slot->jobs--;
  job->slot = NULL;

  if (self->is_disposed)
    {
      job_complete (job, error);
      g_object_unref (self);
      return;
    }

  /* A transient failure: this connection is done (a 421, a server at its
   * limit); the next attempt goes to a fresh one */
  if (error != NULL && transaction->is_transient)
    slot->is_retiring = TRUE;

  /* The pool first, so that the task's handlers see it settled */
  slot_settle (self, slot);

  if (job_try_again (self, job, error))
    g_clear_error (&error);
  else
    job_complete (job, g_steal_pointer (&error));

  if (!self->is_disposed)
    {
      dispatch (self);
      maybe_finish_close (self);
    }
  g_object_unref (self);
}

static void
on_connection_closed (SmtpClientConnection *connection,
                      gpointer              data)
{
  Slot *slot = data;
  SmtpClientSession *self = g_object_ref (slot->session);

  g_ptr_array_remove (self->slots, slot);
  if (!self->is_disposed)
    {
      /* A job may have been waiting for room */
      dispatch (self);
      maybe_finish_close (self);
    }
  g_object_unref (self);
}

static gboolean
on_connection_accept_certificate (SmtpClientConnection  *connection,
                                  SmtpClientTransaction *opener,
                                  GTlsCertificate       *certificate,
                                  GTlsCertificateFlags   errors,
                                  gpointer               data)
{
  Slot *slot = data;
  gboolean accepted = FALSE;

  /* The task that opened the connection first, then the session */
  if (opener != NULL && opener->accept_func != NULL &&
      opener->accept_func (certificate, errors, opener->owner))
    return TRUE;

  g_signal_emit (slot->session, signals[SIGNAL_ACCEPT_CERTIFICATE], 0,
                 certificate, errors, &accepted);
  return accepted;
}

static const SmtpClientConnectionHooks connection_hooks = {
  on_connection_ready,
  on_connection_finished,
  on_connection_closed,
  on_connection_accept_certificate,
};

/* ---------------------------------------------------------------------- */
/* Delivering */

static gboolean
on_disposed_delivery (gpointer user_data)
{
  job_complete (user_data, session_closed_error ());
  return G_SOURCE_REMOVE;
}

void
smtp_client_session_deliver (SmtpClientSession       *self,
                             SmtpClientTransaction   *transaction,
                             GCancellable            *cancellable,
                             SmtpClientDeliveredFunc  func,
                             gpointer                 user_data)
{
  Job *job = g_new0 (Job, 1);

  job->transaction = transaction;
  job->cancellable = cancellable != NULL ? g_object_ref (cancellable) : NULL;
  job->func = func;
  job->user_data = user_data;
  transaction->driver_data = job;
  transaction->attempts = 0;
  smtp_client_transaction_begin_attempt (transaction);

  /* Told from the main loop, like every outcome */
  if (self->is_disposed)
    {
      GSource *source = g_idle_source_new ();

      g_source_set_priority (source, G_PRIORITY_DEFAULT);
      g_source_set_callback (source, on_disposed_delivery, job, NULL);
      g_source_set_static_name (source, "[smtpclient] session closed");
      g_source_attach (source, self->context);
      g_source_unref (source);
      return;
    }

  if (job_is_cancelled (job))
    {
      job_enqueue (self, job, FALSE);
      on_waiting_cancelled (NULL, self);
      return;
    }

  job_enqueue (self, job, FALSE);
  dispatch (self);
}

/* ---------------------------------------------------------------------- */
/* Close */

static void
maybe_finish_close (SmtpClientSession *self)
{
  GList *tasks;

  if (self->close_tasks == NULL || has_work (self))
    return;

  /* Every connection is idle: QUIT, and wait for the last to close */
  for (guint i = 0; i < self->slots->len; i++)
    {
      Slot *slot = g_ptr_array_index (self->slots, i);

      if (slot->state != SLOT_CLOSING)
        slot_quit (slot);
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
  Job *job;

  if (!self->is_disposed)
    {
      self->is_disposed = TRUE;

      /* Queued and waiting tasks fail now; those on a connection as it is
       * detached (their outcome is kept when the server decided it) */
      while ((job = g_queue_pop_head (&self->queue)) != NULL)
        job_complete (job, session_closed_error ());
      while ((job = g_queue_pop_head (&self->waiting)) != NULL)
        job_complete (job, session_closed_error ());

      while (self->slots->len > 0)
        {
          Slot *slot = g_ptr_array_steal_index (self->slots,
                                                self->slots->len - 1);

          smtp_client_connection_detach (slot->connection,
                                         session_closed_error ());
          slot_free (slot);
        }
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
  g_queue_init (&self->waiting);
  self->slots = g_ptr_array_new_with_free_func ((GDestroyNotify) slot_free);
}

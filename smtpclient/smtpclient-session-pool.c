/* smtpclient-session-pool.c: the session's queue, connections and
 * retries
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "smtpclient-error.h"
#include "smtpclient-private.h"
#include "smtpclient-reply-private.h"
#include "smtpclient-session-pool-private.h"

typedef enum
{
  SLOT_OPENING,
  SLOT_OPEN,
  SLOT_CLOSING,
} SlotState;

typedef struct
{
  SmtpClientSession       *session;
  SmtpClientTransaction   *transaction;
  GCancellable            *cancellable;
  gulong                   cancelled_id;  /* while queued or waiting */
  SmtpClientDeliveredFunc  func;
  gpointer                 user_data;
  Slot                    *slot;          /* while on a connection */
  gboolean                 is_opener;     /* it opened that connection */
  guint                    nth_on_slot;   /* 1 for the first message
                                           * the connection carried */
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


GError *
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

  if (error == NULL)
    job->session->messages_accepted++;
  else
    job->session->messages_failed++;

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
    session_pool_maybe_close (self);
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
  session_pool_dispatch (self);

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
  guint reply_code = transaction->reply_code;   /* before it is reset */
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

  self->retries++;
  g_snprintf (number, sizeof number, "%u", transaction->attempts);
  line = g_strconcat ("retry ", number, ": ", error->message, NULL);
  smtp_client_transaction_log (transaction, transaction->debug, "-- ", line,
                               -1);

  /* Turned away (a 4yz, a 421) by a connection that had carried other
   * messages: most likely its limit of messages per connection (Exim's
   * 421, OpenSMTPD's 452), not this message's fault.  It goes first, at
   * once, on the next connection; waiting would let the others fill that
   * one up before it, again and again. */
  if (job->nth_on_slot > 1 && reply_code / 100 == 4)
    {
      job_enqueue (self, job, TRUE);
      return TRUE;
    }

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
/* Flow control */

/* How many connections may be open now: after a throttling reply, fewer;
 * after each quiet minute since, twice as many, up to max-connections */
static guint
connection_limit (SmtpClientSession *self)
{
  gint64 now;

  if (self->connection_limit == 0)
    return self->max_connections;

  now = g_get_monotonic_time ();
  if (now - self->last_throttled >= 60 * G_USEC_PER_SEC)
    {
      self->connection_limit *= 2;
      self->last_throttled = now;
      if (self->connection_limit >= self->max_connections)
        self->connection_limit = 0;
    }

  return self->connection_limit != 0
         ? MIN (self->connection_limit, self->max_connections)
         : self->max_connections;
}

static guint
count_open_slots (SmtpClientSession *self)
{
  guint n = 0;

  for (guint i = 0; i < self->slots->len; i++)
    if (((Slot *) g_ptr_array_index (self->slots, i))->state != SLOT_CLOSING)
      n++;

  return n;
}

/* The server said it is overwhelmed (a rate or connection limit): half
 * the connections (down to one), and no MAIL for retry-delay */
static void
flow_throttled (SmtpClientSession *self)
{
  gint64 now = g_get_monotonic_time ();
  guint in_use = MAX (1, count_open_slots (self));

  self->throttled++;
  self->connection_limit = MAX (1, MIN (in_use, connection_limit (self)) / 2);
  self->last_throttled = now;
  self->hold_until = now + (gint64) self->settings->retry_delay * 1000;
}

/* The connections' start_time hook: a MAIL goes out no sooner than the
 * back-off allows, and with max-messages-per-minute an even share of the
 * minute after the one before (on whichever connection) */
static gint64
on_connection_start_time (SmtpClientConnection  *connection,
                          SmtpClientTransaction *transaction,
                          gpointer               data)
{
  Slot *slot = data;
  SmtpClientSession *self = slot->session;
  gint64 now = g_get_monotonic_time ();
  gint64 when = self->hold_until;

  if (self->max_messages_per_minute > 0)
    when = MAX (when, self->next_start);
  if (when > now)
    return when;

  if (self->max_messages_per_minute > 0)
    self->next_start = MAX (now, self->next_start) +
                       60 * G_USEC_PER_SEC / self->max_messages_per_minute;
  return now;
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

void
session_pool_free_slot (Slot *slot)
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
      (self->close_tasks != NULL && !has_work (self)) ||
      count_open_slots (self) > connection_limit (self))
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
  job->nth_on_slot = slot->messages;
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
  if (best != NULL && self->slots->len < connection_limit (self))
    return NULL;

  return best;
}

void
session_pool_dispatch (SmtpClientSession *self)
{
  while (!g_queue_is_empty (&self->queue) && !self->is_disposed)
    {
      Slot *slot = find_slot (self);

      if (slot != NULL)
        {
          Job *job = job_dequeue (self);

          job->is_opener = FALSE;
          self->connections_reused++;
          slot_run (self, slot, job);
        }
      else if (self->slots->len < connection_limit (self))
        {
          self->connections_opened++;
          slot_open (self, job_dequeue (self));
        }
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
  session_pool_dispatch (self);
  slot_settle (self, slot);
  session_pool_maybe_close (self);
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
  if (error != NULL &&
      smtp_client_reply_says_throttled (transaction->reply_code,
                                        transaction->reply))
    flow_throttled (self);

  /* The pool first, so that the task's handlers see it settled */
  slot_settle (self, slot);

  if (job_try_again (self, job, error))
    g_clear_error (&error);
  else
    job_complete (job, g_steal_pointer (&error));

  if (!self->is_disposed)
    {
      session_pool_dispatch (self);
      session_pool_maybe_close (self);
    }
  g_object_unref (self);
}

static void
on_connection_closed (SmtpClientConnection *connection,
                      gpointer              data)
{
  Slot *slot = data;
  SmtpClientSession *self = g_object_ref (slot->session);

  self->bytes_closed += smtp_client_connection_get_bytes_written (connection);
  g_ptr_array_remove (self->slots, slot);
  if (!self->is_disposed)
    {
      /* A job may have been waiting for room */
      session_pool_dispatch (self);
      session_pool_maybe_close (self);
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
  /* The task's handler may spin a main loop (a dialog) in which the
   * connection ends and its slot goes: only the session is used after */
  g_autoptr(SmtpClientSession) session = g_object_ref (slot->session);

  /* The task that opened the connection first, then the session */
  if (opener != NULL && opener->accept_func != NULL &&
      opener->accept_func (certificate, errors, opener->owner))
    return TRUE;

  return session_accept_certificate (session, certificate, errors);
}

static const SmtpClientConnectionHooks connection_hooks = {
  on_connection_ready,
  on_connection_finished,
  on_connection_closed,
  on_connection_accept_certificate,
  on_connection_start_time,
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

  job->session = self;
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
  session_pool_dispatch (self);
}

/* ---------------------------------------------------------------------- */
/* Close */

void
session_pool_maybe_close (SmtpClientSession *self)
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

/* Dispose: queued and waiting tasks fail now; those on a connection as it
 * is detached (their outcome is kept when the server decided it) */
void
session_pool_shut_down (SmtpClientSession *self)
{
  Job *job;

  if (!self->is_disposed)
    {
      self->is_disposed = TRUE;

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
          session_pool_free_slot (slot);
        }
    }

  if (self->close_tasks != NULL)
    {
      GList *tasks = g_steal_pointer (&self->close_tasks);

      for (GList *l = tasks; l != NULL; l = l->next)
        g_task_return_boolean (l->data, TRUE);
      g_list_free_full (tasks, g_object_unref);
    }
}


/* ---------------------------------------------------------------------- */
/* Statistics */

GVariant *
session_pool_get_statistics (SmtpClientSession *self)
{
  guint64 bytes = self->bytes_closed;
  GVariantDict dict;

  for (guint i = 0; i < self->slots->len; i++)
    {
      Slot *slot = g_ptr_array_index (self->slots, i);

      bytes += smtp_client_connection_get_bytes_written (slot->connection);
    }

  g_variant_dict_init (&dict, NULL);
  g_variant_dict_insert (&dict, "messages-accepted", "t",
                         self->messages_accepted);
  g_variant_dict_insert (&dict, "messages-failed", "t", self->messages_failed);
  g_variant_dict_insert (&dict, "bytes-sent", "t", bytes);
  g_variant_dict_insert (&dict, "connections-opened", "t",
                         self->connections_opened);
  g_variant_dict_insert (&dict, "connections-reused", "t",
                         self->connections_reused);
  g_variant_dict_insert (&dict, "retries", "t", self->retries);
  g_variant_dict_insert (&dict, "throttled", "t", self->throttled);

  return g_variant_ref_sink (g_variant_dict_end (&dict));
}

/* smtpclient-connection.c: the SMTP protocol engine: its I/O and its loop
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One reader, one writer and one timer serve the whole life of a
 * connection, over plain TCP and TLS alike: the reader and the writer are
 * pollable sources on the current streams, reading and writing without
 * blocking.  Every command queues the reply it expects (engine_expect());
 * replies are matched to that queue in order, so a reply is never taken
 * for the answer to another command, with or without PIPELINING.
 *
 * engine_run() is the loop: it handles every complete reply, starts what
 * can start, flushes the output, reports the finished transactions and
 * re-arms the timer, then goes round again if a hook asked for more.  No
 * callback of the engine calls back into the engine: they change state
 * and run the loop.
 *
 * A failure (engine_fail()) decides every transaction still open and
 * closes the connection, politely (QUIT) when the conversation is still
 * in step; the timer bounds every wait on the server, including QUIT.
 */

#include "config.h"

#include <string.h>

#include "smtpclient-connection-engine-private.h"
#include "smtpclient-error.h"
#include "smtpclient-private.h"

G_DEFINE_FINAL_TYPE (SmtpClientConnection, smtp_client_connection, G_TYPE_OBJECT)


/* ---------------------------------------------------------------------- */
/* Logging */

/* Lines of a transaction go to its owner's log; those of the connection
 * (@transact NULL: the set-up, QUIT) to the transaction it was opened
 * for, as long as its owner listens */
void
engine_log (SmtpClientConnection *self,
            Transact             *transact,
            const char           *prefix,
            const char           *text,
            gssize                length)
{
  SmtpClientTransaction *transaction = transact != NULL ? transact->transaction
                                                        : self->opener;

  smtp_client_transaction_log (transaction, self->debug, prefix, text,
                               length);
}

/* A note for the debug output only: the transaction log holds what was on
 * the wire */
void
engine_note (SmtpClientConnection *self,
             const char           *text)
{
  SmtpClientTransaction *transaction = self->opener;
  guint debug = transaction != NULL ? transaction->debug : self->debug;

  if (debug > 0)
    {
      if (transaction != NULL && transaction->alias != NULL)
        g_debug ("[%s] %s", transaction->alias, text);
      else
        g_debug ("%s", text);
    }
}

/* ---------------------------------------------------------------------- */
/* Errors */

GError *
engine_reply_error (SmtpClientError        code,
                    const char            *context,
                    const SmtpClientReply *reply)
{
  g_autofree char *text = smtp_client_reply_to_one_line (reply);

  /* TRANSLATORS: the first %s says what was refused, the second is the
   * server's reply, e.g. "550 5.1.1 No such user" */
  return g_error_new (SMTP_CLIENT_ERROR, code, _("%s: %s"), context, text);
}

static gboolean
dispatch_wake (GSource     *source,
               GSourceFunc  callback,
               gpointer     user_data)
{
  return callback (user_data);
}

/* A source that fires at its ready time, to the microsecond */
static GSourceFuncs engine_wake_funcs = {
  NULL, NULL, dispatch_wake, NULL, NULL, NULL,
};

static gboolean
on_start_timer (gpointer user_data)
{
  SmtpClientConnection *self = user_data;

  g_clear_pointer (&self->start_timer, g_source_unref);
  engine_run (self);

  return G_SOURCE_REMOVE;
}

static void
stop_start_timer (SmtpClientConnection *self)
{
  if (self->start_timer != NULL)
    {
      g_source_destroy (self->start_timer);
      g_clear_pointer (&self->start_timer, g_source_unref);
    }
}

/* Run the loop at @when (monotonic), or earlier if already asked to */
void
engine_run_at (SmtpClientConnection *self,
               gint64                when)
{
  if (self->start_timer != NULL)
    {
      if (g_source_get_ready_time (self->start_timer) <= when)
        return;
      stop_start_timer (self);
    }

  self->start_timer = g_source_new (&engine_wake_funcs, sizeof (GSource));
  g_source_set_ready_time (self->start_timer, when);
  g_source_set_callback (self->start_timer, on_start_timer, self, NULL);
  g_source_set_static_name (self->start_timer, "[smtpclient] start");
  g_source_attach (self->start_timer, self->context);
}

/* Add the time since *@start to @transaction's @timing, and stop the
 * clock (*@start = 0); nothing if it was not running */
void
engine_add_time (SmtpClientTransaction *transaction,
                 SmtpClientTiming       timing,
                 gint64                *start)
{
  if (*start == 0)
    return;

  if (transaction != NULL)
    transaction->timings[timing] += (g_get_monotonic_time () - *start) /
                                    (gdouble) G_USEC_PER_SEC;
  *start = 0;
}

/* The set-up enters @stage (a SmtpClientTiming, or -1 when it leaves the
 * one it was in): its time is the opener's */
void
engine_stage (SmtpClientConnection *self,
              gint                  stage)
{
  if (self->stage >= 0)
    engine_add_time (self->opener, self->stage, &self->stage_start);

  self->stage = stage;
  if (stage >= 0)
    self->stage_start = g_get_monotonic_time ();
}

/* A 421, or any reply that says the server is going away */
GError *
engine_closing_error (const SmtpClientReply *reply)
{
  return engine_reply_error (SMTP_CLIENT_ERROR_SERVER,
                             _("The server is closing the connection"),
                             reply);
}

GError *
engine_unexpected_error (SmtpClientCommand      command,
                         const SmtpClientReply *reply)
{
  g_autofree char *text = smtp_client_reply_to_one_line (reply);

  return g_error_new (SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_PROTOCOL,
                      /* TRANSLATORS: %s: a command ("EHLO", "end of
                       * data"), then the server's reply */
                      _("Unexpected reply from the server to %s: %s"),
                      smtp_client_command_get_name (command), text);
}

/* ---------------------------------------------------------------------- */
/* Expected replies: a ring, oldest first */

void
engine_expect (SmtpClientConnection *self,
               SmtpClientCommand     command,
               Transact             *transact,
               guint                 index)
{
  Expect *slot;

  if (self->expects_length == self->expects_size)
    {
      guint size = MAX (16, self->expects_size * 2);
      Expect *expects = g_new (Expect, size);

      for (guint i = 0; i < self->expects_length; i++)
        expects[i] = self->expects[(self->expects_head + i) % self->expects_size];
      g_free (self->expects);
      self->expects = expects;
      self->expects_size = size;
      self->expects_head = 0;
    }

  slot = &self->expects[(self->expects_head + self->expects_length) %
                        self->expects_size];
  slot->command = command;
  slot->transact = transact;
  slot->index = index;
  self->expects_length++;
  if (transact != NULL)
    transact->pending++;
}

guint
engine_n_expected (SmtpClientConnection *self)
{
  return self->expects_length;
}

static Expect *
expect_peek (SmtpClientConnection *self)
{
  if (self->expects_length == 0)
    return NULL;

  return &self->expects[self->expects_head];
}

static Expect
expect_pop (SmtpClientConnection *self)
{
  Expect expect = *expect_peek (self);

  self->expects_head = (self->expects_head + 1) % self->expects_size;
  self->expects_length--;
  if (expect.transact != NULL)
    expect.transact->pending--;

  return expect;
}

static void
expect_clear (SmtpClientConnection *self)
{
  while (self->expects_length > 0)
    expect_pop (self);
}

/* Whom the lines being read are for */
static Transact *
reader_log_target (SmtpClientConnection *self)
{
  Expect *expect = expect_peek (self);

  if (expect != NULL)
    return expect->transact;

  return transacts_get_active (self);
}

/* A reply nobody asked for */
static void
handle_unexpected (SmtpClientConnection *self,
                   SmtpClientReply      *reply)
{
  /* During the content: the server answers early (RFC 5321 §4.1.1.4
   * lets it refuse the message before the end) */
  if (transact_handle_early_reply (self, reply))
    return;

  if (reply->code == 421)
    {
      /* Typically its own idle timeout: the connection is done */
      engine_note (self, "the server closed the idle connection (421)");
      engine_fail (self, engine_closing_error (reply), reply,
                   CLOSE_QUIT_NOW);
      return;
    }

  engine_fail (self,
               engine_reply_error (SMTP_CLIENT_ERROR_PROTOCOL,
                                   _("The server sent a reply nobody asked "
                                     "for"), reply),
               reply, reply->code == 221 ? CLOSE_QUIT_NOW : CLOSE_NOW);
}

static void
handle_reply (SmtpClientConnection *self,
              SmtpClientReply      *reply)
{
  Expect expect;

  if (expect_peek (self) == NULL || self->next_is_unsolicited)
    {
      self->next_is_unsolicited = FALSE;
      handle_unexpected (self, reply);
      return;
    }

  expect = expect_pop (self);

  /* Nothing else is expected, yet more has come: it came before any
   * command it could answer (an extra line after a reply).  Taken as the
   * answer to the command this reply leads to, it would put the whole
   * conversation out of step.  (During an upload it is an early reply:
   * the content code judges it.) */
  if (self->expects_length == 0 && expect.command != SMTP_CLIENT_COMMAND_QUIT)
    {
      if (self->in_end == self->in_start)
        engine_read_more (self);
      if (self->in_end > self->in_start)
        self->next_is_unsolicited = TRUE;
    }
  switch (expect.command)
    {
    case SMTP_CLIENT_COMMAND_GREETING:
    case SMTP_CLIENT_COMMAND_EHLO:
    case SMTP_CLIENT_COMMAND_HELO:
    case SMTP_CLIENT_COMMAND_STARTTLS:
    case SMTP_CLIENT_COMMAND_AUTH:
    case SMTP_CLIENT_COMMAND_AUTH_CANCEL:
      setup_handle_reply (self, &expect, reply);
      break;

    case SMTP_CLIENT_COMMAND_QUIT:
      /* Whatever it says: we are done */
      engine_close (self);
      break;

    case SMTP_CLIENT_COMMAND_MAIL:
    case SMTP_CLIENT_COMMAND_RCPT:
    case SMTP_CLIENT_COMMAND_DATA:
    case SMTP_CLIENT_COMMAND_END:
    case SMTP_CLIENT_COMMAND_RSET:
    case SMTP_CLIENT_COMMAND_NOOP:
    case SMTP_CLIENT_COMMAND_BDAT:
    case SMTP_CLIENT_N_COMMANDS:
    default:
      transact_handle_reply (self, &expect, reply);
      break;
    }
}

/* Handle every complete reply there is; read more as long as there is */
static void
handle_input (SmtpClientConnection *self)
{
  while (self->read_source != NULL || self->in_eof || self->in_error != NULL)
    {
      SmtpClientReply *reply;
      GError *error = NULL;

      if (self->phase == PHASE_CLOSED || self->phase == PHASE_HANDSHAKE)
        return;

      reply = engine_take_reply (self, reader_log_target (self), &error);
      if (error != NULL)
        {
          engine_fail (self, error, NULL, CLOSE_NOW);
          return;
        }

      if (reply != NULL)
        {
          handle_reply (self, reply);
          /* The parser lives as long as the connection, which the loop
           * holds a reference to */
          smtp_client_reply_parser_recycle (self->parser, reply);
          continue;
        }

      if (self->in_error != NULL)
        {
          engine_fail (self, g_steal_pointer (&self->in_error), NULL,
                       CLOSE_NOW);
          return;
        }

      if (self->in_eof)
        {
          if (self->phase == PHASE_QUITTING)
            engine_close (self);
          else
            engine_fail (self,
                         g_error_new_literal (G_IO_ERROR,
                                              G_IO_ERROR_CONNECTION_CLOSED,
                                              _("The server closed the "
                                                "connection")),
                         NULL, CLOSE_NOW);
          return;
        }

      if (!engine_read_more (self))
        return;
    }
}

/* ---------------------------------------------------------------------- */
/* Failure and closing */

void
engine_close (SmtpClientConnection *self)
{
  if (self->phase == PHASE_CLOSED)
    return;

  self->phase = PHASE_CLOSED;
  engine_stage (self, -1);
  stop_start_timer (self);
  engine_stop_reading (self);
  engine_stop_writing (self);
  upload_stop (self);
  expect_clear (self);
  g_cancellable_cancel (self->io_cancellable);

  if (self->socket_connection != NULL)
    /* Never blocks; no TLS close_notify for a connection we are done
     * with (the server has said 221, or is being dropped) */
    g_socket_close (g_socket_connection_get_socket (self->socket_connection),
                    NULL);
  else if (self->stream != NULL)
    g_io_stream_close (self->stream, NULL, NULL);

  g_clear_object (&self->input);
  g_clear_object (&self->output);
  g_clear_object (&self->stream);
  g_clear_object (&self->socket_connection);

  engine_wipe_output (self, 0, self->out_end);
  self->out_has_secret = FALSE;
  self->out_start = self->out_end = 0;
  self->timer_armed = FALSE;
}

/* The connection cannot go on: decide every transaction still open (the
 * active one with @error, NULL for "connection lost"; @reply the reply
 * that caused it, if any) and close it as @mode says.  Reports nothing
 * itself: the loop does. */
void
engine_fail (SmtpClientConnection  *self,
             GError                *error,
             const SmtpClientReply *reply,
             CloseMode              mode)
{
  if (self->phase == PHASE_CLOSED)
    {
      g_clear_error (&error);
      return;
    }

  if (error != NULL && self->timed_out &&
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_error_free (error);
      error = engine_timeout_error (self);
    }

  if (error != NULL)
    {
      g_autofree char *note = g_strconcat ("connection failed: ",
                                           error->message, NULL);
      engine_note (self, note);
    }

  if (self->phase == PHASE_QUITTING)
    {
      /* Saying goodbye: nothing is open any more */
      g_clear_error (&error);
      engine_close (self);
      return;
    }

  transacts_fail_all (self, error, reply, FALSE);
  upload_stop (self);
  expect_clear (self);
  self->quit_requested = FALSE;

  /* QUIT only when the conversation is in step at a command boundary */
  if (mode != CLOSE_NOW &&
      !(self->output != NULL && engine_pending_output (self) == 0 &&
        (self->phase == PHASE_SETUP || self->phase == PHASE_READY)))
    mode = CLOSE_NOW;

  if (mode == CLOSE_NOW)
    {
      engine_close (self);
      return;
    }

  self->phase = PHASE_QUITTING;
  self->close_mode = mode;
  engine_send (self, NULL, "QUIT", 4, NULL);
  if (mode == CLOSE_QUIT)
    engine_expect (self, SMTP_CLIENT_COMMAND_QUIT, NULL, 0);
}

/* ---------------------------------------------------------------------- */
/* The loop */

void
engine_set_ready (SmtpClientConnection *self)
{
  self->phase = PHASE_READY;
  self->ready_pending = TRUE;
  engine_stage (self, -1);
  engine_note (self, "ready");
}

static void
advance (SmtpClientConnection *self)
{
  transacts_advance (self);

  if (self->phase == PHASE_READY && self->quit_requested &&
      g_queue_is_empty (&self->transacts) && self->expects_length == 0)
    {
      self->quit_requested = FALSE;
      self->phase = PHASE_QUITTING;
      self->close_mode = CLOSE_QUIT;
      engine_send (self, NULL, "QUIT", 4, NULL);
      engine_expect (self, SMTP_CLIENT_COMMAND_QUIT, NULL, 0);
    }
}

static void
report (SmtpClientConnection *self)
{
  Transact *t;

  transact_report_progress (self);

  while (self->hooks != NULL && (t = g_queue_pop_head (&self->finished)) != NULL)
    {
      transact_report (self, t);
      transact_free (t);
    }

  if (self->hooks == NULL)
    return;

  if (self->ready_pending && self->phase == PHASE_READY)
    {
      self->ready_pending = FALSE;
      self->hooks->ready (self, self->hooks_data);
    }

  if (self->hooks != NULL && self->phase == PHASE_CLOSED &&
      !self->closed_reported && g_queue_is_empty (&self->finished) &&
      g_queue_is_empty (&self->transacts))
    {
      self->closed_reported = TRUE;
      self->hooks->closed (self, self->hooks_data);
    }
}

void
engine_run (SmtpClientConnection *self)
{
  if (self->running)
    {
      self->run_again = TRUE;
      return;
    }

  g_object_ref (self);
  self->running = TRUE;

  do
    {
      self->run_again = FALSE;

      handle_input (self);
      advance (self);
      engine_flush (self);

      if (self->phase == PHASE_QUITTING && self->close_mode == CLOSE_QUIT_NOW &&
          engine_pending_output (self) == 0)
        engine_close (self);

      /* A transaction handed over to a closed connection, or anything
       * left over: it finishes too */
      if (self->phase == PHASE_CLOSED && !g_queue_is_empty (&self->transacts))
        transacts_fail_all (self, NULL, NULL, FALSE);

      report (self);
    }
  while (self->run_again);

  engine_update_timer (self);
  self->running = FALSE;
  if (self->phase != PHASE_CLOSED)
    engine_resume_reading (self);
  if (self->phase == PHASE_CLOSED && self->self_ref != NULL)
    g_clear_object (&self->self_ref);
  g_object_unref (self);
}

static gboolean
on_scheduled_run (gpointer user_data)
{
  engine_run (user_data);
  return G_SOURCE_REMOVE;
}

/* Run the loop soon, from the connection's context; callable from any
 * thread (a cancellable may be cancelled in another one) */
void
engine_schedule_run (SmtpClientConnection *self)
{
  GSource *source = g_idle_source_new ();

  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, on_scheduled_run, g_object_ref (self),
                         g_object_unref);
  g_source_set_static_name (source, "[smtpclient] run");
  g_source_attach (source, self->context);
  g_source_unref (source);
}

/* ---------------------------------------------------------------------- */
/* API */

SmtpClientConnection *
smtp_client_connection_new (SmtpClientSettings              *settings,
                            const SmtpClientConnectionHooks *hooks,
                            gpointer                         hooks_data)
{
  SmtpClientConnection *self = g_object_new (SMTP_CLIENT_TYPE_CONNECTION,
                                             NULL);

  self->settings = smtp_client_settings_ref (settings);
  self->hooks = hooks;
  self->hooks_data = hooks_data;

  return self;
}

void
smtp_client_connection_open (SmtpClientConnection *self)
{
  g_return_if_fail (self->phase == PHASE_NEW);

  setup_connect (self);
  engine_run (self);
}

void
smtp_client_connection_open_stream (SmtpClientConnection *self,
                                    GIOStream            *stream)
{
  g_return_if_fail (self->phase == PHASE_NEW);

  engine_set_streams (self, stream);
  if (self->phase != PHASE_CLOSED)
    setup_start (self);
  engine_run (self);
}

gboolean
smtp_client_connection_is_ready (SmtpClientConnection *self)
{
  return self->phase == PHASE_READY && !self->quit_requested;
}

guint64
smtp_client_connection_get_bytes_written (SmtpClientConnection *self)
{
  return self->written_total;
}

gboolean
smtp_client_connection_can_transact (SmtpClientConnection *self)
{
  guint n = self->transacts.length;

  if (!smtp_client_connection_is_ready (self) || self->retiring)
    return FALSE;

  if (n == 0)
    return TRUE;

  return n < SMTP_CLIENT_CONNECTION_MAX_TRANSACTIONS &&
         (self->extensions & SMTP_CLIENT_EXTENSION_PIPELINING);
}

guint
smtp_client_connection_get_n_transactions (SmtpClientConnection *self)
{
  return self->transacts.length;
}

void
smtp_client_connection_transact (SmtpClientConnection  *self,
                                 SmtpClientTransaction *transaction,
                                 GCancellable          *cancellable)
{
  Transact *t = transact_new (self, transaction, cancellable);

  self->debug = MAX (self->debug, transaction->debug);
  if (self->opener == NULL)
    self->opener = smtp_client_transaction_ref (transaction);
  g_queue_push_tail (&self->transacts, t);
  engine_run (self);
}

void
smtp_client_connection_quit (SmtpClientConnection *self)
{
  if (self->phase == PHASE_CLOSED || self->phase == PHASE_QUITTING)
    return;

  if (self->phase != PHASE_READY)
    {
      /* Not even set up: nothing to say goodbye to */
      engine_fail (self,
                   g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                        _("The connection was closed")),
                   NULL, CLOSE_NOW);
    }
  else
    self->quit_requested = TRUE;

  engine_run (self);
}

void
smtp_client_connection_detach (SmtpClientConnection *self,
                               GError               *reason)
{
  gboolean is_idle = self->phase == PHASE_READY &&
                     g_queue_is_empty (&self->transacts) &&
                     g_queue_is_empty (&self->finished) &&
                     self->expects_length == 0;
  Transact *t;

  if (self->hooks == NULL)
    {
      g_clear_error (&reason);
      return;
    }

  transacts_fail_all (self, reason, NULL, TRUE);

  if (is_idle)
    {
      /* Nothing going on: a polite goodbye, on its own */
      self->self_ref = g_object_ref (self);
      self->phase = PHASE_QUITTING;
      self->close_mode = CLOSE_QUIT;
      engine_send (self, NULL, "QUIT", 4, NULL);
      engine_expect (self, SMTP_CLIENT_COMMAND_QUIT, NULL, 0);
    }
  else
    engine_close (self);

  /* Every transaction ends now, through the hook, while it is there */
  transact_report_progress (self);
  while ((t = g_queue_pop_head (&self->finished)) != NULL)
    {
      transact_report (self, t);
      transact_free (t);
    }

  self->hooks = NULL;
  self->hooks_data = NULL;
  if (self->self_ref != NULL)
    engine_run (self);
}

/* ---------------------------------------------------------------------- */
/* GObject */

static void
smtp_client_connection_dispose (GObject *object)
{
  SmtpClientConnection *self = SMTP_CLIENT_CONNECTION (object);

  /* The owner detaches or quits before it lets go; whatever is left is
   * dropped without a word */
  self->hooks = NULL;
  engine_close (self);
  stop_start_timer (self);
  if (self->timer != NULL)
    {
      g_source_destroy (self->timer);
      g_clear_pointer (&self->timer, g_source_unref);
    }

  G_OBJECT_CLASS (smtp_client_connection_parent_class)->dispose (object);
}

static void
smtp_client_connection_finalize (GObject *object)
{
  SmtpClientConnection *self = SMTP_CLIENT_CONNECTION (object);
  Transact *t;

  while ((t = g_queue_pop_head (&self->transacts)) != NULL)
    transact_free (t);
  while ((t = g_queue_pop_head (&self->finished)) != NULL)
    transact_free (t);

  engine_wipe_output (self, 0, self->out_end);
  g_free (self->out);
  g_free (self->in);
  g_free (self->chunk);
  g_free (self->bdat);
  g_free (self->expects);
  g_clear_error (&self->in_error);
  g_clear_error (&self->auth_error);
  g_clear_pointer (&self->sasl, smtp_client_sasl_free);
  g_clear_pointer (&self->parser, smtp_client_reply_parser_free);
  g_clear_pointer (&self->capabilities, smtp_client_capabilities_free);
  g_clear_pointer (&self->opener, smtp_client_transaction_unref);
  g_clear_object (&self->io_cancellable);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_clear_pointer (&self->settings, smtp_client_settings_unref);

  G_OBJECT_CLASS (smtp_client_connection_parent_class)->finalize (object);
}

static void
smtp_client_connection_class_init (SmtpClientConnectionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = smtp_client_connection_dispose;
  object_class->finalize = smtp_client_connection_finalize;
}

static void
smtp_client_connection_init (SmtpClientConnection *self)
{
  self->context = g_main_context_ref_thread_default ();
  self->parser = smtp_client_reply_parser_new ();
  self->io_cancellable = g_cancellable_new ();
  self->in = g_malloc (IN_BUFFER_SIZE);
  self->timer_ready = -1;
  self->stage = -1;
  g_queue_init (&self->transacts);
  g_queue_init (&self->finished);
}

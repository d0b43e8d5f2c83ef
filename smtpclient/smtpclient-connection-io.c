/* smtpclient-connection-io.c: the engine's reader, writer and timer
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One of each for the whole life of a connection, over plain TCP and TLS
 * alike: the reader waits on the socket's own source (a pollable source
 * on streams that have no socket), the writer on a pollable source when
 * the socket is full, and neither blocks; the timer is one source whose
 * deadline moves.
 * They change state and run the loop (engine_run()); they decide nothing.
 */

#include "config.h"

#include <string.h>

#include "smtpclient-connection-engine-private.h"
#include "smtpclient-private.h"

GError *
engine_timeout_error (SmtpClientConnection *self)
{
  return g_error_new (SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_TIMEOUT,
                      g_dngettext (GETTEXT_PACKAGE,
                                   "No response from the server for %u second",
                                   "No response from the server for %u seconds",
                                   self->settings->timeout),
                      self->settings->timeout);
}

/* ---------------------------------------------------------------------- */
/* Writer
 *
 * What is queued goes into one buffer and out with non-blocking writes;
 * when the socket takes no more, a pollable source waits for room.  The
 * buffer may hold a credential (AUTH): then every byte of it that is
 * given up (moved, written, freed) is wiped first. */

void
engine_wipe_output (SmtpClientConnection *self,
                    gsize                 from,
                    gsize                 to)
{
  if (self->out_has_secret && to > from)
    smtp_client_secret_wipe (self->out + from, to - from);
}

static void
writer_ensure (SmtpClientConnection *self,
               gsize                 length)
{
  gsize pending = self->out_end - self->out_start;
  gsize size;
  guint8 *out;

  if (self->out_end + length <= self->out_size)
    return;

  if (self->out_start > 0 && pending + length <= self->out_size)
    {
      memmove (self->out, self->out + self->out_start, pending);
      engine_wipe_output (self, pending, self->out_end);
      self->out_start = 0;
      self->out_end = pending;
      return;
    }

  size = MAX (MAX (self->out_size * 2, OUT_INITIAL_SIZE), pending + length);
  /* Zeroed: nothing of the heap's past stays in it either */
  out = g_malloc0 (size);
  if (pending > 0)
    memcpy (out, self->out + self->out_start, pending);
  engine_wipe_output (self, 0, self->out_end);
  g_free (self->out);
  self->out = out;
  self->out_size = size;
  self->out_start = 0;
  self->out_end = pending;
}

guint8 *
engine_reserve (SmtpClientConnection *self,
                gsize                 length)
{
  writer_ensure (self, length);
  return self->out + self->out_end;
}

void
engine_commit (SmtpClientConnection *self,
               gsize                 length)
{
  g_assert (self->out_end + length <= self->out_size);

  self->out_end += length;
  self->queued_total += length;
}

gsize
engine_pending_output (SmtpClientConnection *self)
{
  return self->out_end - self->out_start;
}

static void
queue_line (SmtpClientConnection *self,
            const char           *command,
            gsize                 length)
{
  guint8 *out = engine_reserve (self, length + 2);

  memcpy (out, command, length);
  out[length] = '\r';
  out[length + 1] = '\n';
  engine_commit (self, length + 2);
}

/* Queue @command (@length bytes, without CR LF) for @transact (NULL: the
 * set-up, QUIT), logged as @logged or as itself */
void
engine_send (SmtpClientConnection *self,
             Transact             *transact,
             const char           *command,
             gsize                 length,
             const char           *logged)
{
  if (logged != NULL)
    engine_log (self, transact, "-> ", logged, -1);
  else
    engine_log (self, transact, "-> ", command, (gssize) length);

  queue_line (self, command, length);
}

/* The same for a command that holds a credential: the caller wipes its
 * own copy, the writer wipes this one */
void
engine_send_secret (SmtpClientConnection *self,
                    const char           *command,
                    gsize                 length,
                    const char           *logged)
{
  engine_log (self, NULL, "-> ", logged, -1);
  self->out_has_secret = TRUE;
  queue_line (self, command, length);
}

static gboolean
on_writable (GObject  *stream,
             gpointer  user_data)
{
  SmtpClientConnection *self = user_data;

  g_clear_pointer (&self->write_source, g_source_unref);
  engine_run (self);

  return G_SOURCE_REMOVE;
}

/* Write what is queued, as far as the socket takes it now */
void
engine_flush (SmtpClientConnection *self)
{
  while (self->out_end > self->out_start)
    {
      GError *error = NULL;
      gssize n;

      if (self->output == NULL || self->write_source != NULL)
        return;

      n = g_pollable_output_stream_write_nonblocking (self->output,
                                                      self->out + self->out_start,
                                                      self->out_end - self->out_start,
                                                      NULL, &error);
      if (n > 0)
        {
          self->out_start += n;
          self->written_total += n;
          self->progress = TRUE;
          /* The server may answer at once: worth a read again */
          self->in_drained = FALSE;
          continue;
        }

      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          g_error_free (error);
          self->write_source = g_pollable_output_stream_create_source (self->output,
                                                                       NULL);
          g_source_set_callback (self->write_source,
                                 (GSourceFunc) (void (*) (void)) on_writable,
                                 self, NULL);
          g_source_set_static_name (self->write_source,
                                    "[smtpclient] writable");
          g_source_attach (self->write_source, self->context);
          return;
        }

      if (error == NULL)
        error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE,
                                     _("The connection was lost"));
      engine_fail (self, error, NULL, CLOSE_NOW);
      return;
    }

  /* All out: start from the beginning again */
  engine_wipe_output (self, 0, self->out_end);
  self->out_has_secret = FALSE;
  self->out_start = self->out_end = 0;
}

void
engine_stop_writing (SmtpClientConnection *self)
{
  if (self->write_source != NULL)
    {
      g_source_destroy (self->write_source);
      g_clear_pointer (&self->write_source, g_source_unref);
    }
}

/* ---------------------------------------------------------------------- */
/* Reader */

static gboolean
on_readable (GObject  *stream,
             gpointer  user_data)
{
  SmtpClientConnection *self = user_data;

  if (self->running)
    {
      /* A handler of the run in progress spins a main loop of its own:
       * this source may recurse, and would fire again and again until
       * that run reads.  It comes back when that run ends. */
      engine_stop_reading (self);
      self->read_paused = TRUE;
      return G_SOURCE_REMOVE;
    }

  self->in_drained = FALSE;
  engine_run (self);

  /* engine_run() destroys the source when it stops reading */
  return G_SOURCE_CONTINUE;
}

void
engine_stop_reading (SmtpClientConnection *self)
{
  self->read_paused = FALSE;
  if (self->read_source != NULL)
    {
      g_source_destroy (self->read_source);
      g_clear_pointer (&self->read_source, g_source_unref);
    }
}

static gboolean
on_socket_readable (GSocket      *socket,
                    GIOCondition  condition,
                    gpointer      user_data)
{
  SmtpClientConnection *self = user_data;

  return on_readable (G_OBJECT (self->input), self);
}

/* The socket the connection's bytes come through: the stream's own, or
 * the one under its TLS; NULL for other streams (a test's in-memory ones) */
static GSocket *
connection_socket (SmtpClientConnection *self)
{
  g_autoptr(GIOStream) base = NULL;

  if (G_IS_TLS_CONNECTION (self->stream))
    g_object_get (self->stream, "base-io-stream", &base, NULL);
  else
    base = g_object_ref (self->stream);

  if (!G_IS_SOCKET_CONNECTION (base))
    return NULL;

  return g_socket_connection_get_socket (G_SOCKET_CONNECTION (base));
}

static void
start_reading (SmtpClientConnection *self)
{
  GSocket *socket;

  if (self->read_source != NULL || self->input == NULL || self->in_eof ||
      self->in_error != NULL)
    return;

  /* A stream's source is a chain (the socket stream's source over the
   * socket's; over TLS, the TLS source over both), and GLib takes each
   * inner one out of the poll set around each dispatch: two eventfd
   * writes per reply and per link.  The socket's own source tells the
   * same: every wake-up reads until it would block or comes up short,
   * and a short read leaves nothing behind, inside GnuTLS either (see
   * engine_read_more()). */
  socket = connection_socket (self);
  if (socket != NULL)
    {
      self->read_source = g_socket_create_source (socket,
                                                  G_IO_IN | G_IO_HUP | G_IO_ERR,
                                                  NULL);
      g_source_set_callback (self->read_source,
                             (GSourceFunc) (void (*) (void)) on_socket_readable,
                             self, NULL);
    }
  else
    {
      self->read_source = g_pollable_input_stream_create_source (self->input,
                                                                 NULL);
      g_source_set_callback (self->read_source,
                             (GSourceFunc) (void (*) (void)) on_readable,
                             self, NULL);
    }
  g_source_set_static_name (self->read_source, "[smtpclient] readable");
  /* GLib takes a source's descriptors out of the poll set while it is
   * dispatched unless it may recurse, and each removal and return wakes
   * the context up: two eventfd writes, a read and a rebuilt poll set
   * per reply.  on_readable() guards against recursion itself. */
  g_source_set_can_recurse (self->read_source, TRUE);
  g_source_attach (self->read_source, self->context);
}

void
engine_resume_reading (SmtpClientConnection *self)
{
  if (!self->read_paused)
    return;

  self->read_paused = FALSE;
  start_reading (self);
}

/* Read what the server has sent, without blocking; FALSE when nothing new
 * came (it would block, or the end or an error was reached before) */
gboolean
engine_read_more (SmtpClientConnection *self)
{
  GError *error = NULL;
  gssize n;

  if (self->input == NULL || self->in_eof || self->in_error != NULL)
    return FALSE;

  if (self->in_start > 0)
    {
      memmove (self->in, self->in + self->in_start,
               self->in_end - self->in_start);
      self->in_end -= self->in_start;
      self->in_start = 0;
    }
  if (self->in_end == IN_BUFFER_SIZE || self->in_drained)
    return FALSE;

  n = g_pollable_input_stream_read_nonblocking (self->input,
                                                self->in + self->in_end,
                                                IN_BUFFER_SIZE - self->in_end,
                                                NULL, &error);
  if (n > 0)
    {
      /* Over TLS too: GnuTLS (as OpenSSL without read-ahead) reads the
       * socket one record at a time, exactly, and a read that returns
       * less than asked has delivered its record whole: nothing is held
       * back that the socket's readiness would not announce */
      self->in_drained = (gsize) n < IN_BUFFER_SIZE - self->in_end;
      self->in_end += n;
      self->progress = TRUE;
      return TRUE;
    }

  if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    {
      g_error_free (error);
      return FALSE;
    }

  /* The end, or an error: nothing more will come, stop watching */
  engine_stop_reading (self);
  if (n == 0)
    self->in_eof = TRUE;
  else
    self->in_error = error;
  return TRUE;
}

/* The next complete reply in the buffer (transfer full), NULL when more is
 * needed or on @error; its lines are logged to @log_to as they go */
SmtpClientReply *
engine_take_reply (SmtpClientConnection  *self,
                   Transact              *log_to,
                   GError               **error)
{
  for (;;)
    {
      const char *line = (const char *) self->in + self->in_start;
      gsize available = self->in_end - self->in_start;
      const char *newline = memchr (line, '\n', available);
      SmtpClientReply *reply = NULL;
      SmtpClientReplyParseResult result;
      gsize length;

      if (newline == NULL)
        {
          if (available > SMTP_CLIENT_REPLY_MAX_LINE + 1)
            {
              g_set_error (error, SMTP_CLIENT_ERROR,
                           SMTP_CLIENT_ERROR_PROTOCOL,
                           _("The server sent a reply line longer than %u "
                             "bytes"), (guint) SMTP_CLIENT_REPLY_MAX_LINE);
              return NULL;
            }
          return NULL;
        }

      length = newline - line;
      engine_log (self, log_to, "<- ", line,
                  length > 0 && line[length - 1] == '\r' ? length - 1 : length);
      result = smtp_client_reply_parser_feed_line (self->parser, line, length,
                                                   &reply, error);
      self->in_start += length + 1;

      if (result == SMTP_CLIENT_REPLY_PARSE_COMPLETE)
        return reply;
      if (result == SMTP_CLIENT_REPLY_PARSE_ERROR)
        return NULL;
    }
}

/* ---------------------------------------------------------------------- */
/* Streams */

void
engine_set_streams (SmtpClientConnection *self,
                    GIOStream            *stream)
{
  GInputStream *input = g_io_stream_get_input_stream (stream);
  GOutputStream *output = g_io_stream_get_output_stream (stream);

  engine_stop_reading (self);
  engine_stop_writing (self);
  g_set_object (&self->stream, stream);
  g_clear_object (&self->input);
  g_clear_object (&self->output);

  if (!G_IS_POLLABLE_INPUT_STREAM (input) ||
      !g_pollable_input_stream_can_poll (G_POLLABLE_INPUT_STREAM (input)) ||
      !G_IS_POLLABLE_OUTPUT_STREAM (output) ||
      !g_pollable_output_stream_can_poll (G_POLLABLE_OUTPUT_STREAM (output)))
    {
      engine_fail (self,
                   g_error_new_literal (G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                                        "The connection's streams cannot be "
                                        "polled"),
                   NULL, CLOSE_NOW);
      return;
    }

  self->input = g_object_ref (G_POLLABLE_INPUT_STREAM (input));
  self->output = g_object_ref (G_POLLABLE_OUTPUT_STREAM (output));
  smtp_client_reply_parser_reset (self->parser);
  self->in_start = self->in_end = 0;
  self->in_drained = FALSE;
  start_reading (self);
}

/* ---------------------------------------------------------------------- */
/* Timer
 *
 * It runs whenever the server owes us something: a connection, a
 * handshake, a reply, or room for what we write; not while content is
 * read from a source that would block.  It is re-armed at the end of each
 * loop that made progress; moving the deadline costs nothing: the source
 * wakes up at its ready time and either fires or sleeps again until the
 * deadline that moved meanwhile. */

static gboolean
on_timer (gpointer user_data)
{
  SmtpClientConnection *self = user_data;
  gint64 now = g_get_monotonic_time ();

  self->timer_ready = -1;
  if (!self->timer_armed)
    {
      g_source_set_ready_time (self->timer, -1);
      return G_SOURCE_CONTINUE;
    }

  if (now < self->deadline)
    {
      self->timer_ready = self->deadline;
      g_source_set_ready_time (self->timer, self->deadline);
      return G_SOURCE_CONTINUE;
    }

  g_source_set_ready_time (self->timer, -1);
  self->timer_armed = FALSE;
  self->timed_out = TRUE;
  engine_fail (self, engine_timeout_error (self), NULL, CLOSE_NOW);
  engine_run (self);

  return G_SOURCE_CONTINUE;
}

static gboolean
dispatch_timer (GSource     *source,
                GSourceFunc  callback,
                gpointer     user_data)
{
  return callback (user_data);
}

static GSourceFuncs timer_funcs = {
  NULL, NULL, dispatch_timer, NULL, NULL, NULL,
};

static gboolean
is_waiting_on_server (SmtpClientConnection *self)
{
  return self->phase == PHASE_CONNECTING || self->phase == PHASE_HANDSHAKE ||
         (self->phase != PHASE_CLOSED &&
          (self->expects_length > 0 || engine_pending_output (self) > 0));
}

void
engine_update_timer (SmtpClientConnection *self)
{
  if (self->settings->timeout == 0 || !is_waiting_on_server (self))
    {
      self->timer_armed = FALSE;
      self->progress = FALSE;
      return;
    }

  if (self->timer_armed && !self->progress)
    return;

  self->progress = FALSE;
  self->timer_armed = TRUE;
  self->deadline = g_get_monotonic_time () +
                   (gint64) self->settings->timeout * G_USEC_PER_SEC;

  if (self->timer == NULL)
    {
      self->timer = g_source_new (&timer_funcs, sizeof (GSource));
      g_source_set_callback (self->timer, on_timer, self, NULL);
      g_source_set_static_name (self->timer, "[smtpclient] timeout");
      g_source_set_ready_time (self->timer, -1);
      g_source_attach (self->timer, self->context);
    }

  if (self->timer_ready < 0 || self->timer_ready > self->deadline)
    {
      self->timer_ready = self->deadline;
      g_source_set_ready_time (self->timer, self->deadline);
    }
}


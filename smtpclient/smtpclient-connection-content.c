/* smtpclient-connection-content.c: the content of a transaction on the
 * wire
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * After the 354, the content is read in chunks, CR LF normalised and
 * dot-stuffed by the encoder straight into the writer's buffer, and sent
 * while the next chunk is read.  With BDAT (RFC 3030) it is encoded
 * (line ends only, or not at all for BINARYMIME) into a chunk of its own,
 * which goes out behind its "BDAT <size>" once it is full, the last one
 * as "BDAT <size> LAST".  No more is read while a chunk's worth
 * waits to be written; content from a source that would block (a pipe, a
 * socket) is waited for with a pollable source and no timer: only the
 * server's silence counts against the timeout.  A regular file is read
 * with read(2) at once (it never blocks meaningfully: no thread, no
 * source); another source that cannot be polled (a GVfs file) is read
 * with GIO's asynchronous reads.
 */

#include "config.h"

#include <string.h>

#include "smtpclient-connection-engine-private.h"
#include "smtpclient-private.h"

/* Content is read in chunks of this size, and no more is read while this
 * much waits to be written */
#define CHUNK_SIZE      (64 * 1024)
#define FLUSH_SIZE      (64 * 1024)
/* Chunks read and encoded in one go before the main loop gets a turn */
#define CHUNKS_PER_TURN 16
/* A BDAT chunk goes out once this much is encoded */
#define BDAT_SIZE       (64 * 1024)
#define BDAT_CAPACITY   (BDAT_SIZE + SMTP_CLIENT_DATA_ENCODER_MAX_OUTPUT (CHUNK_SIZE) + \
                         SMTP_CLIENT_DATA_ENCODER_MAX_FINISH)

void
upload_start (SmtpClientConnection *self,
              Transact             *t)
{
  SmtpClientDataMode mode = SMTP_CLIENT_DATA_MODE_DATA;

  if (t->bdat)
    mode = t->transaction->binary_mime ? SMTP_CLIENT_DATA_MODE_BINARY
                                       : SMTP_CLIENT_DATA_MODE_BDAT;

  t->phase = TRANSACT_UPLOAD;
  smtp_client_data_encoder_init_mode (&self->encoder, mode);
  self->last_progress = g_get_monotonic_time ();
  if (self->chunk == NULL)
    self->chunk = g_malloc (CHUNK_SIZE);
  if (t->bdat && self->bdat == NULL)
    self->bdat = g_malloc (BDAT_CAPACITY);
  self->bdat_length = 0;
  self->bdat_chunks = 0;
}

/* The BDAT chunk encoded so far goes out; the last with LAST, its reply
 * the message's */
static void
bdat_emit (SmtpClientConnection *self,
           Transact             *t,
           gboolean              last)
{
  char header[64];
  gsize header_length;
  guint8 *out;

  header_length = g_snprintf (header, sizeof header, "BDAT %" G_GSIZE_FORMAT "%s\r\n",
                              self->bdat_length, last ? " LAST" : "");
  out = engine_reserve (self, header_length + self->bdat_length);
  memcpy (out, header, header_length);
  memcpy (out + header_length, self->bdat, self->bdat_length);
  engine_commit (self, header_length + self->bdat_length);
  /* The command line is logged (its chunk is not), in wire order */
  engine_log (self, t, "-> ", header, (gssize) header_length - 2);
  self->bdat_length = 0;
  self->bdat_chunks++;

  if (!last)
    {
      engine_expect (self, SMTP_CLIENT_COMMAND_BDAT, t, 0);
      /* Without PIPELINING, one chunk at a time */
      t->bdat_waiting = !t->pipelined;
    }
}

/* At most about ten times a second, and once at the end; the owner hears
 * of it from the loop (transact_report_progress()), never from inside the
 * upload */
static void
report_progress (SmtpClientConnection *self,
                 Transact             *t,
                 gboolean              force)
{
  SmtpClientTransaction *transaction = t->transaction;
  gint64 now;

  if (transaction == NULL || transaction->progress_func == NULL)
    return;

  now = g_get_monotonic_time ();
  if (!force && now - self->last_progress < G_USEC_PER_SEC / 10)
    return;

  self->last_progress = now;
  t->progress_bytes = self->encoder.bytes_in;
  t->progress_due = TRUE;
}

static Transact *
find_progress_due (GQueue *queue)
{
  for (GList *l = queue->head; l != NULL; l = l->next)
    {
      Transact *t = l->data;

      if (t->progress_due && t->transaction != NULL)
        return t;
    }

  return NULL;
}

/* Tell the owners of progress due; a handler may do anything, so each
 * is looked for again after the one before */
void
transact_report_progress (SmtpClientConnection *self)
{
  Transact *t;

  while (self->hooks != NULL &&
         ((t = find_progress_due (&self->transacts)) != NULL ||
          (t = find_progress_due (&self->finished)) != NULL))
    {
      SmtpClientTransaction *transaction = t->transaction;

      t->progress_due = FALSE;
      transaction->progress_func (t->progress_bytes,
                                  transaction->content_size,
                                  transaction->owner);
    }
}

/* The whole content is encoded: queue the end of data (the last BDAT
 * chunk); its reply is due, or with LMTP one per accepted recipient */
static void
upload_end (SmtpClientConnection *self,
            Transact             *t)
{
  char summary[96];

  if (t->bdat)
    {
      self->bdat_length += smtp_client_data_encoder_finish (&self->encoder,
                                                            self->bdat + self->bdat_length);
      bdat_emit (self, t, TRUE);
      g_snprintf (summary, sizeof summary,
                  "[message: %" G_GUINT64_FORMAT " bytes, %u BDAT chunk%s]",
                  self->encoder.bytes_in, self->bdat_chunks,
                  self->bdat_chunks == 1 ? "" : "s");
    }
  else
    {
      guint8 *out = engine_reserve (self, SMTP_CLIENT_DATA_ENCODER_MAX_FINISH);

      engine_commit (self, smtp_client_data_encoder_finish (&self->encoder, out));
      g_snprintf (summary, sizeof summary,
                  "[message: %" G_GUINT64_FORMAT " bytes]",
                  self->encoder.bytes_in);
    }

  t->end_offset = self->queued_total;
  t->phase = TRANSACT_FINAL;
  if (self->settings->protocol == SMTP_CLIENT_PROTOCOL_LMTP)
    for (guint i = 0; i < t->accepted; i++)
      engine_expect (self, SMTP_CLIENT_COMMAND_END, t, i);
  else
    engine_expect (self, SMTP_CLIENT_COMMAND_END, t, 0);

  /* Logged in wire order: before the server can answer it */
  engine_log (self, t, "-> ", summary, -1);
  report_progress (self, t, TRUE);
}

/* Take @n bytes just read into the chunk (0: the end; < 0: @error).
 * TRUE to read on. */
static gboolean
upload_take (SmtpClientConnection *self,
             Transact             *t,
             gssize                n,
             GError               *error)
{
  SmtpClientTransaction *transaction = t->transaction;
  guint8 *out;

  if (n < 0)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          GError *read_error = g_error_new (SMTP_CLIENT_ERROR,
                                            SMTP_CLIENT_ERROR_MESSAGE_FILE,
                                            _("Could not read the message: %s"),
                                            error->message);

          g_error_free (error);
          error = read_error;
        }
      /* Half a message must never be delivered: drop the connection
       * without the end of data, the server discards what it got */
      transact_decide (self, t, DECIDED_OTHER, error, NULL);
      engine_fail (self, NULL, NULL, CLOSE_NOW);
      return FALSE;
    }

  if (n == 0)
    {
      upload_end (self, t);
      return FALSE;
    }

  transaction->content_touched = TRUE;
  if (t->bdat)
    {
      self->bdat_length += smtp_client_data_encoder_encode (&self->encoder,
                                                            self->chunk, n,
                                                            self->bdat + self->bdat_length);
      /* A full chunk goes out, unless the content is known to end here:
       * then it goes as the last one (no empty "BDAT 0 LAST" after it) */
      if (self->bdat_length >= BDAT_SIZE &&
          !(transaction->content_size > 0 &&
            self->encoder.bytes_in >= transaction->content_size))
        bdat_emit (self, t, FALSE);
    }
  else
    {
      out = engine_reserve (self, SMTP_CLIENT_DATA_ENCODER_MAX_OUTPUT (n));
      engine_commit (self, smtp_client_data_encoder_encode (&self->encoder,
                                                            self->chunk, n,
                                                            out));
    }

  /* Content of a known size ends there: no read (maybe in a thread, for a
   * file) only to be told so */
  if (transaction->content_size > 0 &&
      self->encoder.bytes_in >= transaction->content_size)
    {
      upload_end (self, t);
      return FALSE;
    }

  report_progress (self, t, FALSE);
  return TRUE;
}

Transact *
transacts_get_uploading (SmtpClientConnection *self)
{
  for (GList *l = self->transacts.head; l != NULL; l = l->next)
    {
      Transact *t = l->data;

      if (t->phase == TRANSACT_UPLOAD)
        return t;
    }

  return NULL;
}

static void
on_content_read (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(SmtpClientConnection) self = user_data;
  GError *error = NULL;
  Transact *t;
  gssize n;

  self->content_reading = FALSE;
  n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);

  t = transacts_get_uploading (self);
  if (t == NULL || self->phase != PHASE_READY)
    {
      /* The connection failed meanwhile */
      g_clear_error (&error);
      return;
    }

  upload_take (self, t, n, error);
  engine_run (self);
}

static gboolean
on_content_ready (GObject  *stream,
                  gpointer  user_data)
{
  SmtpClientConnection *self = user_data;

  g_clear_pointer (&self->content_source, g_source_unref);
  engine_run (self);

  return G_SOURCE_REMOVE;
}

static gboolean
on_content_turn (gpointer user_data)
{
  SmtpClientConnection *self = user_data;

  g_clear_pointer (&self->content_source, g_source_unref);
  engine_run (self);

  return G_SOURCE_REMOVE;
}

static void
wait_for_content (SmtpClientConnection *self,
                  GSource              *source)
{
  g_source_set_static_name (source, "[smtpclient] content");
  g_source_attach (source, self->context);
  self->content_source = source;
}

/* Read, encode and queue content until it ends, enough waits to be
 * written, or the content has to be waited for (untimed: only the
 * server's silence counts) */
void
upload_continue (SmtpClientConnection *self,
                 Transact             *t)
{
  for (guint turn = 0; ; turn++)
    {
      GInputStream *content = t->transaction->content;
      GError *error = NULL;
      gssize n;

      if (self->content_reading || self->content_source != NULL ||
          t->bdat_waiting)
        return;

      if (engine_pending_output (self) >= FLUSH_SIZE)
        {
          engine_flush (self);
          if (self->phase != PHASE_READY ||
              engine_pending_output (self) >= FLUSH_SIZE)
            return;   /* the writer comes back when there is room */
        }

      if (turn == CHUNKS_PER_TURN)
        {
          /* A fast source to a fast server: let the rest of the main
           * context run too */
          GSource *idle = g_idle_source_new ();

          g_source_set_callback (idle, on_content_turn, self, NULL);
          wait_for_content (self, idle);
          return;
        }

      if (t->transaction->content_fd >= 0)
        {
          /* A regular file: read at once, never waited for */
          n = smtp_client_transaction_read_file (t->transaction, self->chunk,
                                                 CHUNK_SIZE, &error);
          if (!upload_take (self, t, n, error))
            return;
          continue;
        }

      if (!G_IS_POLLABLE_INPUT_STREAM (content) ||
          !g_pollable_input_stream_can_poll (G_POLLABLE_INPUT_STREAM (content)))
        {
          self->content_reading = TRUE;
          g_input_stream_read_async (content, self->chunk, CHUNK_SIZE,
                                     G_PRIORITY_DEFAULT, self->io_cancellable,
                                     on_content_read, g_object_ref (self));
          return;
        }

      n = g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (content),
                                                    self->chunk, CHUNK_SIZE,
                                                    NULL, &error);
      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          GSource *source;

          g_error_free (error);
          source = g_pollable_input_stream_create_source (G_POLLABLE_INPUT_STREAM (content),
                                                          NULL);
          g_source_set_callback (source,
                                 (GSourceFunc) (void (*) (void)) on_content_ready,
                                 self, NULL);
          wait_for_content (self, source);
          return;
        }

      if (!upload_take (self, t, n, error))
        return;
    }
}

void
upload_stop (SmtpClientConnection *self)
{
  if (self->content_source != NULL)
    {
      g_source_destroy (self->content_source);
      g_clear_pointer (&self->content_source, g_source_unref);
    }
  /* A read in progress is cancelled with io_cancellable when the
   * connection closes; its callback finds nothing uploading */
}


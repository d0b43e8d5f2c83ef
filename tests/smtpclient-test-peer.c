/* smtpclient-test-peer.c: a server played from memory
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Two small pollable streams over one shared state: the input reads the
 * chunks released so far, the output keeps what is written.  The input's
 * source is ready while there is something to read (or the end); the
 * output is always writable.  Everything happens on one thread.
 */

#include "config.h"

#include <string.h>

#include "smtpclient-test-peer.h"
#include "smtpclient-connection-private.h"

typedef struct
{
  GQueue      chunks;      /* of GBytes, not released yet */
  GByteArray *released;    /* released, not read yet */
  gboolean    exhausted;   /* no chunk left: the end follows */
  GByteArray *written;
} PeerState;

static void
peer_state_clear (PeerState *state)
{
  g_queue_clear_full (&state->chunks, (GDestroyNotify) g_bytes_unref);
  g_byte_array_unref (state->released);
  g_byte_array_unref (state->written);
}

static gboolean
peer_state_is_readable (PeerState *state)
{
  return state->released->len > 0 || state->exhausted;
}

/* ---------------------------------------------------------------------- */
/* A source ready while a condition holds */

typedef struct
{
  GSource    source;
  PeerState *state;
} ReadySource;

static gboolean
ready_source_prepare (GSource *source,
                      gint    *timeout)
{
  *timeout = -1;
  return peer_state_is_readable (((ReadySource *) source)->state);
}

static gboolean
ready_source_dispatch (GSource     *source,
                       GSourceFunc  callback,
                       gpointer     user_data)
{
  return G_SOURCE_CONTINUE;
}

static void
ready_source_finalize (GSource *source)
{
  g_atomic_rc_box_release_full (((ReadySource *) source)->state,
                                (GDestroyNotify) peer_state_clear);
}

static GSourceFuncs ready_source_funcs = {
  ready_source_prepare, NULL, ready_source_dispatch, ready_source_finalize,
  NULL, NULL,
};

/* ---------------------------------------------------------------------- */
/* The input */

#define TYPE_PEER_INPUT (peer_input_get_type ())
G_DECLARE_FINAL_TYPE (PeerInput, peer_input, PEER, INPUT, GInputStream)

struct _PeerInput
{
  GInputStream  parent_instance;
  PeerState    *state;
};

static void peer_input_pollable_init (GPollableInputStreamInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (PeerInput, peer_input, G_TYPE_INPUT_STREAM,
                               G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_INPUT_STREAM,
                                                      peer_input_pollable_init))

static gssize
peer_input_read_nonblocking (GPollableInputStream  *stream,
                             void                  *buffer,
                             gsize                  count,
                             GError               **error)
{
  PeerState *state = PEER_INPUT (stream)->state;
  gsize n = MIN (count, state->released->len);

  if (n == 0 && !state->exhausted)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK,
                           "nothing released yet");
      return -1;
    }

  if (n > 0)
    {
      memcpy (buffer, state->released->data, n);
      g_byte_array_remove_range (state->released, 0, n);
    }
  return (gssize) n;
}

static gssize
peer_input_read (GInputStream  *stream,
                 void          *buffer,
                 gsize          count,
                 GCancellable  *cancellable,
                 GError       **error)
{
  return peer_input_read_nonblocking (G_POLLABLE_INPUT_STREAM (stream),
                                      buffer, count, error);
}

static gboolean
peer_input_is_readable (GPollableInputStream *stream)
{
  return peer_state_is_readable (PEER_INPUT (stream)->state);
}

static gboolean
peer_input_can_poll (GPollableInputStream *stream)
{
  return TRUE;
}

static GSource *
peer_input_create_source (GPollableInputStream *stream,
                          GCancellable         *cancellable)
{
  GSource *source = g_pollable_source_new (G_OBJECT (stream));
  GSource *ready = g_source_new (&ready_source_funcs, sizeof (ReadySource));

  ((ReadySource *) ready)->state = g_atomic_rc_box_acquire (PEER_INPUT (stream)->state);
  g_source_add_child_source (source, ready);
  g_source_unref (ready);
  return source;
}

static void
peer_input_pollable_init (GPollableInputStreamInterface *iface)
{
  iface->can_poll = peer_input_can_poll;
  iface->is_readable = peer_input_is_readable;
  iface->create_source = peer_input_create_source;
  iface->read_nonblocking = peer_input_read_nonblocking;
}

static void
peer_input_finalize (GObject *object)
{
  g_atomic_rc_box_release_full (PEER_INPUT (object)->state,
                                (GDestroyNotify) peer_state_clear);
  G_OBJECT_CLASS (peer_input_parent_class)->finalize (object);
}

static void
peer_input_class_init (PeerInputClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = peer_input_finalize;
  G_INPUT_STREAM_CLASS (klass)->read_fn = peer_input_read;
}

static void
peer_input_init (PeerInput *self)
{
}

/* ---------------------------------------------------------------------- */
/* The output */

#define TYPE_PEER_OUTPUT (peer_output_get_type ())
G_DECLARE_FINAL_TYPE (PeerOutput, peer_output, PEER, OUTPUT, GOutputStream)

struct _PeerOutput
{
  GOutputStream  parent_instance;
  PeerState     *state;
};

static void peer_output_pollable_init (GPollableOutputStreamInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (PeerOutput, peer_output, G_TYPE_OUTPUT_STREAM,
                               G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_OUTPUT_STREAM,
                                                      peer_output_pollable_init))

static gssize
peer_output_write_nonblocking (GPollableOutputStream  *stream,
                               const void             *buffer,
                               gsize                   count,
                               GError                **error)
{
  g_byte_array_append (PEER_OUTPUT (stream)->state->written, buffer, count);
  return (gssize) count;
}

static gssize
peer_output_write (GOutputStream  *stream,
                   const void     *buffer,
                   gsize           count,
                   GCancellable   *cancellable,
                   GError        **error)
{
  return peer_output_write_nonblocking (G_POLLABLE_OUTPUT_STREAM (stream),
                                        buffer, count, error);
}

static gboolean
peer_output_can_poll (GPollableOutputStream *stream)
{
  return TRUE;
}

static gboolean
peer_output_is_writable (GPollableOutputStream *stream)
{
  return TRUE;
}

static GSource *
peer_output_create_source (GPollableOutputStream *stream,
                           GCancellable          *cancellable)
{
  GSource *source = g_pollable_source_new (G_OBJECT (stream));
  GSource *now = g_timeout_source_new (0);

  g_source_add_child_source (source, now);
  g_source_unref (now);
  return source;
}

static void
peer_output_pollable_init (GPollableOutputStreamInterface *iface)
{
  iface->can_poll = peer_output_can_poll;
  iface->is_writable = peer_output_is_writable;
  iface->create_source = peer_output_create_source;
  iface->write_nonblocking = peer_output_write_nonblocking;
}

static void
peer_output_finalize (GObject *object)
{
  g_atomic_rc_box_release_full (PEER_OUTPUT (object)->state,
                                (GDestroyNotify) peer_state_clear);
  G_OBJECT_CLASS (peer_output_parent_class)->finalize (object);
}

static void
peer_output_class_init (PeerOutputClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = peer_output_finalize;
  G_OUTPUT_STREAM_CLASS (klass)->write_fn = peer_output_write;
}

static void
peer_output_init (PeerOutput *self)
{
}

/* ---------------------------------------------------------------------- */
/* The peer */

struct _SmtpTestPeer
{
  PeerState *state;
  GIOStream *stream;
};

SmtpTestPeer *
smtp_test_peer_new (void)
{
  SmtpTestPeer *peer = g_new0 (SmtpTestPeer, 1);
  PeerInput *input = g_object_new (TYPE_PEER_INPUT, NULL);
  PeerOutput *output = g_object_new (TYPE_PEER_OUTPUT, NULL);

  peer->state = g_atomic_rc_box_new0 (PeerState);
  g_queue_init (&peer->state->chunks);
  peer->state->released = g_byte_array_new ();
  peer->state->written = g_byte_array_new ();
  input->state = g_atomic_rc_box_acquire (peer->state);
  output->state = g_atomic_rc_box_acquire (peer->state);
  peer->stream = g_simple_io_stream_new (G_INPUT_STREAM (input),
                                         G_OUTPUT_STREAM (output));
  g_object_unref (input);
  g_object_unref (output);

  return peer;
}

void
smtp_test_peer_free (SmtpTestPeer *peer)
{
  if (peer == NULL)
    return;

  g_clear_object (&peer->stream);
  g_atomic_rc_box_release_full (peer->state, (GDestroyNotify) peer_state_clear);
  g_free (peer);
}

void
smtp_test_peer_add (SmtpTestPeer *peer,
                    const void   *data,
                    gsize         length)
{
  g_queue_push_tail (&peer->state->chunks, g_bytes_new (data, length));
}

void
smtp_test_peer_add_split (SmtpTestPeer *peer,
                          const guint8 *data,
                          gsize         length,
                          guint8        separator)
{
  gsize start = 0;

  for (gsize i = 0; i <= length; i++)
    if (i == length || data[i] == separator)
      {
        smtp_test_peer_add (peer, data + start, i - start);
        start = i + 1;
      }
}

GIOStream *
smtp_test_peer_get_stream (SmtpTestPeer *peer)
{
  return peer->stream;
}

gboolean
smtp_test_peer_release (SmtpTestPeer *peer)
{
  GBytes *chunk = g_queue_pop_head (&peer->state->chunks);
  gsize length = 0;
  const guint8 *data;

  if (chunk == NULL)
    {
      peer->state->exhausted = TRUE;
      return FALSE;
    }

  data = g_bytes_get_data (chunk, &length);
  if (length > 0)
    g_byte_array_append (peer->state->released, data, length);
  g_bytes_unref (chunk);
  return TRUE;
}

GBytes *
smtp_test_peer_get_written (SmtpTestPeer *peer)
{
  return g_bytes_new (peer->state->written->data, peer->state->written->len);
}

gboolean
smtp_test_peer_drive (SmtpTestPeer *peer,
                      gboolean    (*done) (gpointer data),
                      gpointer      data,
                      guint         max_iterations)
{
  GMainContext *context = g_main_context_get_thread_default ();

  for (guint i = 0; i < max_iterations; i++)
    {
      if (done (data))
        return TRUE;
      if (!g_main_context_iteration (context, FALSE))
        smtp_test_peer_release (peer);
    }

  return done (data);
}

/* ---------------------------------------------------------------------- */
/* The engine's report */

static void
free_error (gpointer error)
{
  if (error != NULL)
    g_error_free (error);
}

void
smtp_test_engine_report_init (SmtpTestEngineReport *report)
{
  memset (report, 0, sizeof *report);
  report->errors = g_ptr_array_new_with_free_func (free_error);
}

void
smtp_test_engine_report_clear (SmtpTestEngineReport *report)
{
  g_clear_pointer (&report->errors, g_ptr_array_unref);
}

static void
on_ready (SmtpClientConnection *connection,
          gpointer              data)
{
  ((SmtpTestEngineReport *) data)->ready++;
}

static void
on_finished (SmtpClientConnection  *connection,
             SmtpClientTransaction *transaction,
             GError                *error,
             gpointer               data)
{
  SmtpTestEngineReport *report = data;

  g_assert_cmpuint (report->closed, ==, 0);
  g_assert_cmpint (transaction->state, !=, SMTP_CLIENT_DELIVERY_STATE_PENDING);
  g_assert_true ((error == NULL) ==
                 (transaction->state == SMTP_CLIENT_DELIVERY_STATE_ACCEPTED));
  if (transaction->reply != NULL)
    {
      g_assert_true (g_utf8_validate (transaction->reply, -1, NULL));
      for (const char *p = transaction->reply; *p != '\0'; p++)
        g_assert_true (*p == '\n' || (guchar) *p >= 0x20);
    }
  report->finished++;
  g_ptr_array_add (report->errors, error);
}

static void
on_closed (SmtpClientConnection *connection,
           gpointer              data)
{
  ((SmtpTestEngineReport *) data)->closed++;
}

static gboolean
on_accept_certificate (SmtpClientConnection  *connection,
                       SmtpClientTransaction *opener,
                       GTlsCertificate       *certificate,
                       GTlsCertificateFlags   errors,
                       gpointer               data)
{
  return FALSE;
}

static const SmtpClientConnectionHooks engine_hooks = {
  on_ready, on_finished, on_closed, on_accept_certificate,
};

const void *
smtp_test_engine_hooks (void)
{
  return &engine_hooks;
}

gboolean
smtp_test_engine_is_closed (gpointer report)
{
  return ((SmtpTestEngineReport *) report)->closed > 0;
}

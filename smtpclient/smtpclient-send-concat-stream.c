/* smtpclient-send-concat-stream.c: a stream of two streams, one after the
 * other (smtpclient-send -t: the header read into memory, then the rest of
 * the input)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "smtpclient-send-private.h"

#define TYPE_CONCAT_STREAM (concat_stream_get_type ())
G_DECLARE_FINAL_TYPE (ConcatStream, concat_stream, SEND, CONCAT_STREAM,
                      GInputStream)

struct _ConcatStream
{
  GInputStream  parent_instance;
  GInputStream *parts[2];
  guint         current;
};

G_DEFINE_FINAL_TYPE (ConcatStream, concat_stream, G_TYPE_INPUT_STREAM)

static gssize
concat_stream_read (GInputStream  *stream,
                    void          *buffer,
                    gsize          count,
                    GCancellable  *cancellable,
                    GError       **error)
{
  ConcatStream *self = SEND_CONCAT_STREAM (stream);

  while (self->current < G_N_ELEMENTS (self->parts))
    {
      gssize n = g_input_stream_read (self->parts[self->current], buffer,
                                      count, cancellable, error);

      if (n != 0 || count == 0)
        return n;
      self->current++;
    }

  return 0;
}

typedef struct
{
  void  *buffer;
  gsize  count;
} ConcatRead;

static void concat_stream_read_next (GTask *task);

static void
concat_stream_part_read_cb (GObject      *source,
                            GAsyncResult *result,
                            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  ConcatStream *self = g_task_get_source_object (task);
  GError *error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result,
                                         &error);

  if (n < 0)
    g_task_return_error (task, error);
  else if (n > 0)
    g_task_return_int (task, n);
  else
    {
      self->current++;
      concat_stream_read_next (g_steal_pointer (&task));
    }
}

static void
concat_stream_read_next (GTask *task)
{
  ConcatStream *self = g_task_get_source_object (task);
  ConcatRead *read = g_task_get_task_data (task);

  if (self->current >= G_N_ELEMENTS (self->parts) || read->count == 0)
    {
      g_task_return_int (task, 0);
      g_object_unref (task);
      return;
    }

  g_input_stream_read_async (self->parts[self->current], read->buffer,
                             read->count, g_task_get_priority (task),
                             g_task_get_cancellable (task),
                             concat_stream_part_read_cb, task);
}

static void
concat_stream_read_async (GInputStream        *stream,
                          void                *buffer,
                          gsize                count,
                          int                  io_priority,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  GTask *task = g_task_new (stream, cancellable, callback, user_data);
  ConcatRead *read = g_new0 (ConcatRead, 1);

  g_task_set_source_tag (task, concat_stream_read_async);
  g_task_set_priority (task, io_priority);
  read->buffer = buffer;
  read->count = count;
  g_task_set_task_data (task, read, g_free);
  concat_stream_read_next (task);
}

static gssize
concat_stream_read_finish (GInputStream  *stream,
                           GAsyncResult  *result,
                           GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, stream), -1);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        concat_stream_read_async, -1);

  return g_task_propagate_int (G_TASK (result), error);
}

static gboolean
concat_stream_close (GInputStream  *stream,
                     GCancellable  *cancellable,
                     GError       **error)
{
  ConcatStream *self = SEND_CONCAT_STREAM (stream);
  gboolean ok = TRUE;

  for (gsize i = 0; i < G_N_ELEMENTS (self->parts); i++)
    if (self->parts[i] != NULL &&
        !g_input_stream_close (self->parts[i], cancellable,
                               ok ? error : NULL))
      ok = FALSE;

  return ok;
}

static void
concat_stream_dispose (GObject *object)
{
  ConcatStream *self = SEND_CONCAT_STREAM (object);

  for (gsize i = 0; i < G_N_ELEMENTS (self->parts); i++)
    g_clear_object (&self->parts[i]);

  G_OBJECT_CLASS (concat_stream_parent_class)->dispose (object);
}

static void
concat_stream_class_init (ConcatStreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GInputStreamClass *stream_class = G_INPUT_STREAM_CLASS (klass);

  object_class->dispose = concat_stream_dispose;
  stream_class->read_fn = concat_stream_read;
  stream_class->read_async = concat_stream_read_async;
  stream_class->read_finish = concat_stream_read_finish;
  stream_class->close_fn = concat_stream_close;
}

static void
concat_stream_init (ConcatStream *self)
{
}

GInputStream *
smtp_client_send_concat_stream_new (GInputStream *first,
                                    GInputStream *second)
{
  ConcatStream *self = g_object_new (TYPE_CONCAT_STREAM, NULL);

  self->parts[0] = g_object_ref (first);
  self->parts[1] = g_object_ref (second);
  return G_INPUT_STREAM (self);
}


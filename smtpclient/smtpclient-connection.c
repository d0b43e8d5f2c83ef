/* smtpclient-connection.c: the SMTP protocol engine on one socket
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Open and quit run one at a time, each a GTask whose steps pass the
 * operation's cancellable on and end by starting the next step or returning
 * exactly once.  Transactions run in a pipeline in between (see
 * "Transaction"), each its own GTask, several at once when the server
 * offers PIPELINING.  Replies are read by our own line
 * reader on a GBufferedInputStream, so a line is never longer than
 * SMTP_CLIENT_REPLY_MAX_LINE in memory, and so we can tell whether the
 * server sent anything after the reply to STARTTLS.
 *
 * Every wait (connect, handshake, a reply, a write) is bounded by an idle
 * timer; when it fires, the operation's cancellable is cancelled and the
 * connection is marked broken: it is never reused, so a late reply cannot be
 * matched to a later command.
 */

#include "config.h"

#include <inttypes.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "smtpclient-connection-private.h"
#include "smtpclient-data-stream-private.h"
#include "smtpclient-enum-types.h"
#include "smtpclient-error.h"
#include "smtpclient-private.h"
#include "smtpclient-sasl-private.h"

#define INPUT_BUFFER_SIZE  (2 * SMTP_CLIENT_REPLY_MAX_LINE + 16)
#define CONTENT_CHUNK_SIZE (64 * 1024)

typedef void (*ReplyFunc) (SmtpClientConnection *self,
                           SmtpClientReply      *reply,  /* transfer full */
                           GError               *error); /* transfer full */

typedef void (*WrittenFunc) (SmtpClientConnection *self,
                             GError               *error); /* transfer full */

/* One transaction in the pipeline (see "Transaction") */
typedef struct _Transact Transact;

struct _SmtpClientConnection
{
  GObject                 parent_instance;

  SmtpClientSettings     *settings;

  GSocketConnection      *socket_connection;
  GIOStream              *stream;       /* socket_connection, or TLS on it */
  GBufferedInputStream   *input;
  GOutputStream          *output;

  SmtpClientReplyParser  *parser;
  SmtpClientCapabilities *capabilities; /* NULL: not ESMTP (HELO) */
  gboolean                is_encrypted;
  gboolean                is_open;
  gboolean                is_broken;

  guint                   reply_code;
  char                   *reply;

  /* The operation in progress */
  GTask                  *op;
  GCancellable           *op_cancellable;
  GCancellable           *op_parent_cancellable;
  gulong                  op_parent_handler;
  GSource                *timer;
  gboolean                timer_armed;
  gint64                  timer_deadline; /* monotonic */
  gboolean                timed_out;

  /* Reader and writer in progress */
  ReplyFunc               reply_func;
  ReplyFunc               after_flush;
  WrittenFunc             written_func;
  GString                *outbuf;      /* queued commands */
  gsize                   outbuf_sent; /* bytes of outbuf being written */

  /* open */
  SmtpClientSasl         *sasl;
  GError                 *pending_error; /* reported after RSET / AUTH */

  /* transact: the pipeline (see "Transaction") */
  GMainContext           *context;     /* where timers and sources run */
  GQueue                  transacts;   /* of Transact*, oldest first */
  GArray                 *expects;     /* of Expect, from expects_head on */
  guint                   expects_head;
  GByteArray             *out;         /* being filled */
  GByteArray             *busy;        /* being written */
  gboolean                writing;
  guint8                 *content_buffer;
  gboolean                content_reading;
  GSource                *content_source;
  SmtpClientDataEncoder   encoder;
  gint64                  last_progress;
  Transact               *log_transact; /* whose log gets the lines now */
  GQueue                  finished;    /* of Transact*, to return */
  GSource                *reader;      /* plain TCP: watches the socket */
  GPollableInputStream   *reader_input;
  guint8                 *replies;     /* INPUT_BUFFER_SIZE, read ahead */
  gsize                   replies_start;
  gsize                   replies_end;
  guint                   extensions;  /* Extension flags, for transactions */
  guint                   reply_depth; /* on_pipeline_reply() frames */

  SmtpClientLogFunc       log_func;
  gpointer                log_data;
  SmtpClientAcceptCertificateFunc accept_func;
  gpointer                accept_data;
};

G_DEFINE_FINAL_TYPE (SmtpClientConnection, smtp_client_connection, G_TYPE_OBJECT)

static void read_reply (SmtpClientConnection *self, gboolean timed,
                        ReplyFunc func);
static void flush_commands (SmtpClientConnection *self, WrittenFunc func);
static void op_fail (SmtpClientConnection *self, GError *error);
static void send_ehlo (SmtpClientConnection *self);
static void after_hello (SmtpClientConnection *self);
static void start_auth (SmtpClientConnection *self);
static void start_tls (SmtpClientConnection *self);
static SmtpClientLogFunc transact_get_log_func (Transact *t, gpointer *data);

/* ---------------------------------------------------------------------- */
/* Logging */

static void
log_line (SmtpClientConnection *self,
          const char           *prefix,
          const char           *text,
          gssize                length)
{
  g_autofree char *valid = NULL;
  g_autofree char *line = NULL;
  SmtpClientLogFunc log_func = self->log_func;
  gpointer log_data = self->log_data;

  /* A transaction's lines go to the log of the task it belongs to */
  if (self->log_transact != NULL)
    log_func = transact_get_log_func (self->log_transact, &log_data);

  if (log_func == NULL && self->settings->debug == 0)
    return;

  valid = g_utf8_make_valid (text, length);
  line = g_strconcat (prefix, valid, NULL);

  if (self->settings->debug > 0)
    {
      if (self->settings->alias != NULL)
        g_debug ("[%s] %s", self->settings->alias, line);
      else
        g_debug ("%s", line);
    }

  if (log_func != NULL)
    log_func (line, log_data);
}

/* A note for the debug output only: the transaction log holds what was
 * on the wire. */
static void
log_note (SmtpClientConnection *self,
          const char           *text)
{
  if (self->settings->debug > 0)
    g_debug ("%s%s%s%s", self->settings->alias ? "[" : "",
             self->settings->alias ? self->settings->alias : "",
             self->settings->alias ? "] " : "", text);
}

/* Queue a command for the next flush; @logged replaces it in the log
 * (credentials), or NULL to log the command itself. */
static void
queue_command (SmtpClientConnection *self,
               const char           *command,
               const char           *logged)
{
  log_line (self, "-> ", logged != NULL ? logged : command, -1);
  g_string_append (self->outbuf, command);
  g_string_append (self->outbuf, "\r\n");
}

/* ---------------------------------------------------------------------- */
/* Settings-independent helpers */

void
smtp_client_transaction_clear (SmtpClientTransaction *transaction)
{
  g_clear_pointer (&transaction->reply, g_free);
  g_clear_pointer (&transaction->refused, g_ptr_array_unref);
}

static void
set_last_reply (SmtpClientConnection *self,
                SmtpClientReply      *reply)
{
  self->reply_code = reply->code;
  g_free (self->reply);
  self->reply = smtp_client_reply_to_string (reply);
}

static GError *
server_error (SmtpClientReply *reply,
              const char      *context)
{
  g_autofree char *text = smtp_client_reply_to_one_line (reply);

  /* TRANSLATORS: the first %s says what was refused, the second is the
   * server's reply, e.g. "550 5.1.1 No such user" */
  return g_error_new (SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER,
                      _("%s: %s"), context, text);
}

static GError *
protocol_error (SmtpClientReply *reply,
                const char      *expected)
{
  g_autofree char *text = smtp_client_reply_to_one_line (reply);

  return g_error_new (SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_PROTOCOL,
                      _("Unexpected reply from the server (%s): %s"),
                      expected, text);
}

/* ---------------------------------------------------------------------- */
/* Timer and operation life cycle
 *
 * The timer is armed and re-armed at every step of a conversation (several
 * times per message when pipelining), so arming only moves a deadline; one
 * source, created when needed, wakes up at its ready time and either fires
 * or sets its ready time to the deadline that moved meanwhile. */

static void
destroy_timer (SmtpClientConnection *self)
{
  if (self->timer != NULL)
    {
      g_source_destroy (self->timer);
      g_clear_pointer (&self->timer, g_source_unref);
    }
}

static gboolean
on_timer_fired (gpointer user_data)
{
  SmtpClientConnection *self = user_data;

  if (!self->timer_armed)
    {
      g_clear_pointer (&self->timer, g_source_unref);
      return G_SOURCE_REMOVE;
    }

  if (g_get_monotonic_time () < self->timer_deadline)
    {
      g_source_set_ready_time (self->timer, self->timer_deadline);
      return G_SOURCE_CONTINUE;
    }

  self->timer_armed = FALSE;
  self->timed_out = TRUE;
  self->is_broken = TRUE;
  g_clear_pointer (&self->timer, g_source_unref);
  if (self->op_cancellable != NULL)
    g_cancellable_cancel (self->op_cancellable);

  return G_SOURCE_REMOVE;
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

static void
disarm_timer (SmtpClientConnection *self)
{
  /* The source, if any, goes when it wakes up */
  self->timer_armed = FALSE;
}

static void
arm_timer (SmtpClientConnection *self)
{
  if (self->settings->timeout == 0)
    {
      self->timer_armed = FALSE;
      return;
    }

  self->timer_deadline = g_get_monotonic_time () +
                         (gint64) self->settings->timeout * G_USEC_PER_SEC;
  self->timer_armed = TRUE;

  if (self->timer == NULL)
    {
      self->timer = g_source_new (&timer_funcs, sizeof (GSource));
      g_source_set_callback (self->timer, on_timer_fired, self, NULL);
      g_source_set_static_name (self->timer, "[smtpclient] idle timeout");
      g_source_set_ready_time (self->timer, self->timer_deadline);
      g_source_attach (self->timer, self->context);
    }
}

static void
on_parent_cancelled (GCancellable *parent,
                     gpointer      user_data)
{
  GCancellable *child = user_data;

  g_cancellable_cancel (child);
}

static void
op_begin (SmtpClientConnection *self,
          GTask                *task,
          GCancellable         *cancellable)
{
  g_assert (self->op == NULL);

  self->op = task;
  self->timed_out = FALSE;
  self->op_cancellable = g_cancellable_new ();
  if (cancellable != NULL)
    {
      self->op_parent_cancellable = g_object_ref (cancellable);
      self->op_parent_handler =
        g_cancellable_connect (cancellable, G_CALLBACK (on_parent_cancelled),
                               g_object_ref (self->op_cancellable),
                               g_object_unref);
    }
}

static GTask *
op_end (SmtpClientConnection *self)
{
  GTask *task = g_steal_pointer (&self->op);

  disarm_timer (self);
  if (self->op_parent_cancellable != NULL)
    {
      g_cancellable_disconnect (self->op_parent_cancellable,
                                self->op_parent_handler);
      self->op_parent_handler = 0;
      g_clear_object (&self->op_parent_cancellable);
    }
  g_clear_object (&self->op_cancellable);

  return task;
}

/* Turn a cancellation caused by our timer into a TIMEOUT error. */
static GError *
convert_error (SmtpClientConnection *self,
               GError               *error)
{
  if (self->timed_out && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_error_free (error);
      return g_error_new (SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_TIMEOUT,
                          g_dngettext (GETTEXT_PACKAGE,
                                       "No response from the server for %u second",
                                       "No response from the server for %u seconds",
                                       self->settings->timeout),
                          self->settings->timeout);
    }

  return error;
}

static void
close_stream (SmtpClientConnection *self)
{
  if (self->socket_connection != NULL)
    {
      GSocket *socket = g_socket_connection_get_socket (self->socket_connection);

      /* Closing the descriptor never blocks; a TLS close_notify is not
       * needed when we are giving up on the connection. */
      g_socket_close (socket, NULL);
    }

  g_clear_object (&self->input);
  g_clear_object (&self->output);
  g_clear_object (&self->stream);
  g_clear_object (&self->socket_connection);
  self->is_open = FALSE;
}

void
smtp_client_connection_abort (SmtpClientConnection *self)
{
  self->is_broken = TRUE;
  if (self->op_cancellable != NULL)
    g_cancellable_cancel (self->op_cancellable);
  close_stream (self);
}

static gboolean
error_breaks_connection (const GError *error)
{
  return !(g_error_matches (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER) ||
           g_error_matches (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_AUTH_FAILED) ||
           g_error_matches (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_TLS_UNAVAILABLE) ||
           g_error_matches (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_NOT_SUPPORTED) ||
           g_error_matches (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_MESSAGE_TOO_LARGE) ||
           g_error_matches (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE));
}

/* End the operation with @error (transfer full).  An error that leaves
 * the conversation in an unknown state closes the connection. */
static void
op_fail (SmtpClientConnection *self,
         GError               *error)
{
  g_autoptr(GTask) task = NULL;

  if (self->op == NULL)
    {
      /* A late completion after the operation already ended (aborted) */
      g_error_free (error);
      return;
    }

  error = convert_error (self, error);
  if (error_breaks_connection (error))
    smtp_client_connection_abort (self);

  if (self->settings->debug > 0)
    g_debug ("%s%s%sfailed: %s",
             self->settings->alias ? "[" : "",
             self->settings->alias ? self->settings->alias : "",
             self->settings->alias ? "] " : "", error->message);

  task = op_end (self);
  g_task_return_error (task, error);
}

static void
op_succeed (SmtpClientConnection *self)
{
  g_autoptr(GTask) task = NULL;

  if (self->op == NULL)
    return;

  task = op_end (self);
  g_task_return_boolean (task, TRUE);
}

/* ---------------------------------------------------------------------- */
/* Reading replies */

static void read_more (SmtpClientConnection *self);

static void
reply_done (SmtpClientConnection *self,
            SmtpClientReply      *reply,
            GError               *error)
{
  ReplyFunc func = self->reply_func;

  self->reply_func = NULL;

  if (reply != NULL)
    {
      set_last_reply (self, reply);
      if (smtp_client_reply_get_class (reply) == 1)
        {
          /* RFC 5321 has no positive preliminary replies but 354; a 1yz is
           * not a 2yz (the seed took it for one). */
          error = protocol_error (reply, _("no 1yz reply is defined"));
          g_clear_pointer (&reply, smtp_client_reply_free);
        }
    }

  if (error != NULL)
    self->is_broken = TRUE;

  func (self, reply, error);
}

/* Log one reply line (without its LF) and feed it to the parser.  TRUE
 * when a reply is complete (*reply set) or broken (*error set): the
 * caller consumes the line, then hands both to reply_done(). */
static gboolean
feed_reply_line (SmtpClientConnection  *self,
                 const char            *line,
                 gsize                  length,
                 SmtpClientReply      **reply,
                 GError               **error)
{
  log_line (self, "<- ", line,
            length > 0 && line[length - 1] == '\r' ? length - 1 : length);

  return smtp_client_reply_parser_feed_line (self->parser, line, length,
                                             reply, error) !=
         SMTP_CLIENT_REPLY_PARSE_MORE;
}

static gboolean
parse_buffered_lines (SmtpClientConnection *self)
{
  for (;;)
    {
      gsize available = 0;
      const char *buffer;
      const char *newline;
      gsize length;
      SmtpClientReply *reply = NULL;
      GError *error = NULL;
      gboolean done;

      buffer = g_buffered_input_stream_peek_buffer (self->input, &available);
      newline = available > 0 ? memchr (buffer, '\n', available) : NULL;

      if (newline == NULL)
        {
          if (available > SMTP_CLIENT_REPLY_MAX_LINE + 1)
            {
              reply_done (self, NULL,
                          g_error_new (SMTP_CLIENT_ERROR,
                                       SMTP_CLIENT_ERROR_PROTOCOL,
                                       _("The server sent a reply line longer "
                                         "than %u bytes"),
                                       (guint) SMTP_CLIENT_REPLY_MAX_LINE));
              return TRUE;
            }
          return FALSE;
        }

      length = newline - buffer;
      done = feed_reply_line (self, buffer, length, &reply, &error);
      /* Data already in the buffer: this does not block. */
      g_input_stream_skip (G_INPUT_STREAM (self->input), length + 1, NULL, NULL);
      if (done)
        {
          reply_done (self, reply, error);
          return TRUE;
        }
    }
}

static void
on_input_filled (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(SmtpClientConnection) self = user_data;
  GError *error = NULL;
  gssize n;

  n = g_buffered_input_stream_fill_finish (G_BUFFERED_INPUT_STREAM (source),
                                           result, &error);
  if (self->reply_func == NULL)
    {
      /* Nobody waits any more (aborted) */
      g_clear_error (&error);
      return;
    }

  if (n < 0)
    {
      reply_done (self, NULL, error);
      return;
    }

  if (n == 0)
    {
      reply_done (self, NULL,
                  g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                                       _("The server closed the connection")));
      return;
    }

  if (!parse_buffered_lines (self))
    read_more (self);
}

static void
read_more (SmtpClientConnection *self)
{
  g_buffered_input_stream_fill_async (self->input, -1, G_PRIORITY_DEFAULT,
                                      self->op_cancellable, on_input_filled,
                                      g_object_ref (self));
}

/* Read one complete reply and hand it to @func.  @timed: whether the idle
 * timer runs while waiting (not while content is uploading). */
static void
read_reply (SmtpClientConnection *self,
            gboolean              timed,
            ReplyFunc             func)
{
  g_assert (self->reply_func == NULL);

  if (self->input == NULL)
    {
      func (self, NULL,
            g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CLOSED,
                                 _("The connection is closed")));
      return;
    }

  self->reply_func = func;
  if (timed)
    arm_timer (self);

  if (!parse_buffered_lines (self))
    read_more (self);
}

/* ---------------------------------------------------------------------- */
/* Writing commands */

static void
on_commands_written (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(SmtpClientConnection) self = user_data;
  WrittenFunc func = self->written_func;
  GError *error = NULL;

  self->written_func = NULL;
  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result,
                                         NULL, &error))
    self->is_broken = TRUE;
  else
    g_string_erase (self->outbuf, 0, self->outbuf_sent);
  self->outbuf_sent = 0;

  if (func != NULL)
    func (self, error);
  else
    g_clear_error (&error);
}

static void
flush_commands (SmtpClientConnection *self,
                WrittenFunc           func)
{
  g_assert (self->written_func == NULL);

  if (self->output == NULL)
    {
      func (self, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CLOSED,
                                       _("The connection is closed")));
      return;
    }

  self->written_func = func;
  self->outbuf_sent = self->outbuf->len;
  arm_timer (self);
  g_output_stream_write_all_async (self->output, self->outbuf->str,
                                   self->outbuf_sent, G_PRIORITY_DEFAULT,
                                   self->op_cancellable, on_commands_written,
                                   g_object_ref (self));
}

/* Flush queued commands, then read one reply for @func. */
static void
on_flushed_then_read (SmtpClientConnection *self,
                      GError               *error)
{
  ReplyFunc func = self->after_flush;

  self->after_flush = NULL;
  if (error != NULL)
    {
      op_fail (self, error);
      return;
    }

  read_reply (self, TRUE, func);
}

static void
send_and_read (SmtpClientConnection *self,
               ReplyFunc             func)
{
  g_assert (self->after_flush == NULL);

  self->after_flush = func;
  flush_commands (self, on_flushed_then_read);
}

/* ---------------------------------------------------------------------- */
/* Streams */

static void
set_streams (SmtpClientConnection *self,
             GIOStream            *stream)
{
  GInputStream *input;

  g_clear_object (&self->input);
  g_clear_object (&self->output);
  g_set_object (&self->stream, stream);

  input = g_buffered_input_stream_new_sized (g_io_stream_get_input_stream (stream),
                                             INPUT_BUFFER_SIZE);
  g_filter_input_stream_set_close_base_stream (G_FILTER_INPUT_STREAM (input),
                                               FALSE);
  self->input = G_BUFFERED_INPUT_STREAM (input);
  self->output = g_object_ref (g_io_stream_get_output_stream (stream));
  smtp_client_reply_parser_reset (self->parser);
}

/* ---------------------------------------------------------------------- */
/* Open: connect, greeting, EHLO, STARTTLS, AUTH */

static void
on_greeting (SmtpClientConnection *self,
             SmtpClientReply      *reply,
             GError               *error)
{
  g_autoptr(SmtpClientReply) owned = reply;

  if (error != NULL)
    {
      op_fail (self, error);
      return;
    }

  if (reply->code != 220)
    {
      if (smtp_client_reply_get_class (reply) == 4 ||
          smtp_client_reply_get_class (reply) == 5)
        op_fail (self, server_error (reply, _("The server refused the connection")));
      else
        op_fail (self, protocol_error (reply, _("greeting")));
      return;
    }

  self->is_open = TRUE;
  send_ehlo (self);
}

static void
on_helo_reply (SmtpClientConnection *self,
               SmtpClientReply      *reply,
               GError               *error)
{
  g_autoptr(SmtpClientReply) owned = reply;

  if (error != NULL)
    {
      op_fail (self, error);
      return;
    }

  if (smtp_client_reply_get_class (reply) != 2)
    {
      op_fail (self, server_error (reply, _("The server refused HELO")));
      return;
    }

  g_clear_pointer (&self->capabilities, smtp_client_capabilities_free);
  after_hello (self);
}

static void
on_ehlo_reply (SmtpClientConnection *self,
               SmtpClientReply      *reply,
               GError               *error)
{
  g_autoptr(SmtpClientReply) owned = reply;

  if (error != NULL)
    {
      op_fail (self, error);
      return;
    }

  if (reply->code == 500 || reply->code == 502)
    {
      g_autofree char *command = g_strdup_printf ("HELO %s",
                                                  self->settings->my_hostname);

      /* Not an ESMTP server: plain SMTP (RFC 5321 §3.2) */
      queue_command (self, command, NULL);
      send_and_read (self, on_helo_reply);
      return;
    }

  if (smtp_client_reply_get_class (reply) != 2)
    {
      op_fail (self, server_error (reply, _("The server refused EHLO")));
      return;
    }

  g_clear_pointer (&self->capabilities, smtp_client_capabilities_free);
  self->capabilities = smtp_client_capabilities_new_from_ehlo (reply);
  after_hello (self);
}

static void
send_ehlo (SmtpClientConnection *self)
{
  g_autofree char *command = g_strdup_printf ("EHLO %s",
                                              self->settings->my_hostname);

  queue_command (self, command, NULL);
  send_and_read (self, on_ehlo_reply);
}

static gboolean
has_extension (SmtpClientConnection *self,
               const char           *keyword)
{
  return self->capabilities != NULL &&
         smtp_client_capabilities_has_extension (self->capabilities, keyword);
}

static void
on_starttls_reply (SmtpClientConnection *self,
                   SmtpClientReply      *reply,
                   GError               *error)
{
  g_autoptr(SmtpClientReply) owned = reply;

  if (error != NULL)
    {
      op_fail (self, error);
      return;
    }

  if (reply->code != 220)
    {
      g_autofree char *text = smtp_client_reply_to_one_line (reply);

      /* Anything but "220 ready" refuses TLS (454, 501, 502, 421, and odd
       * ones such as 354 or 250 alike): whatever it meant, the connection
       * is not encrypted.  STARTTLS offered but refused: with
       * STARTTLS_IF_AVAILABLE too, we do not go on in plain text after the
       * server said it could do TLS.  After a reply that is not a plain
       * refusal (not 4yz/5yz) the server's state is unknown, and after 421
       * it is closing: neither connection is fit for QUIT or reuse. */
      if (reply->code == 421 ||
          (smtp_client_reply_get_class (reply) != 4 &&
           smtp_client_reply_get_class (reply) != 5))
        self->is_broken = TRUE;
      op_fail (self, g_error_new (SMTP_CLIENT_ERROR,
                                  SMTP_CLIENT_ERROR_TLS_UNAVAILABLE,
                                  _("The server refused STARTTLS: %s"), text));
      return;
    }

  /* Anything the server sent after its 220 and before the handshake came
   * in plain text and could have been injected by an attacker (CVE-2011-0411
   * and its many cousins): drop the connection, send nothing more. */
  if (g_buffered_input_stream_get_available (self->input) > 0)
    {
      op_fail (self, g_error_new_literal (SMTP_CLIENT_ERROR,
                                          SMTP_CLIENT_ERROR_PROTOCOL,
                                          _("The server sent data after "
                                            "agreeing to STARTTLS, before the "
                                            "TLS handshake (possible command "
                                            "injection)")));
      return;
    }

  start_tls (self);
}

static void
after_hello (SmtpClientConnection *self)
{
  SmtpClientSecurity security = self->settings->security;

  if (!self->is_encrypted &&
      (security == SMTP_CLIENT_SECURITY_STARTTLS ||
       security == SMTP_CLIENT_SECURITY_STARTTLS_IF_AVAILABLE))
    {
      if (has_extension (self, "STARTTLS"))
        {
          queue_command (self, "STARTTLS", NULL);
          send_and_read (self, on_starttls_reply);
          return;
        }

      if (security == SMTP_CLIENT_SECURITY_STARTTLS)
        {
          op_fail (self, g_error_new_literal (SMTP_CLIENT_ERROR,
                                              SMTP_CLIENT_ERROR_TLS_UNAVAILABLE,
                                              _("The server does not offer "
                                                "STARTTLS")));
          return;
        }

      log_note (self, "STARTTLS not offered; going on without encryption");
    }

  if (self->settings->auth_user != NULL)
    {
      start_auth (self);
      return;
    }

  op_succeed (self);
}

/* TLS */

static gboolean
on_accept_certificate (GTlsConnection       *connection,
                       GTlsCertificate      *certificate,
                       GTlsCertificateFlags  errors,
                       gpointer              user_data)
{
  SmtpClientConnection *self = user_data;

  if (self->accept_func == NULL)
    return FALSE;

  return self->accept_func (certificate, errors, self->accept_data);
}

static void
on_handshake_done (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(SmtpClientConnection) self = user_data;
  GTlsConnection *tls = G_TLS_CONNECTION (source);
  GError *error = NULL;

  if (!g_tls_connection_handshake_finish (tls, result, &error))
    {
      op_fail (self, error);
      return;
    }

  if (self->op == NULL)
    return;

  self->is_encrypted = TRUE;
  log_note (self, "TLS handshake done");
  set_streams (self, G_IO_STREAM (tls));

  if (self->is_open)
    {
      /* After STARTTLS: forget what the server said in plain text */
      g_clear_pointer (&self->capabilities, smtp_client_capabilities_free);
      send_ehlo (self);
    }
  else
    {
      read_reply (self, TRUE, on_greeting);
    }
}

static void
start_tls (SmtpClientConnection *self)
{
  g_autoptr(GSocketConnectable) identity = NULL;
  g_autoptr(GIOStream) tls = NULL;
  GError *error = NULL;

  identity = g_network_address_new (self->settings->server,
                                    smtp_client_settings_get_port (self->settings));
  tls = g_tls_client_connection_new (G_IO_STREAM (self->socket_connection),
                                     identity, &error);
  if (tls == NULL)
    {
      op_fail (self, error);
      return;
    }

  if (self->settings->tls_database != NULL)
    g_tls_connection_set_database (G_TLS_CONNECTION (tls),
                                   self->settings->tls_database);
  if (self->settings->tls_certificate != NULL)
    g_tls_connection_set_certificate (G_TLS_CONNECTION (tls),
                                      self->settings->tls_certificate);
  g_signal_connect_object (tls, "accept-certificate",
                           G_CALLBACK (on_accept_certificate), self, 0);

  arm_timer (self);
  g_tls_connection_handshake_async (G_TLS_CONNECTION (tls), G_PRIORITY_DEFAULT,
                                    self->op_cancellable, on_handshake_done,
                                    g_object_ref (self));
}

/* AUTH */

static void on_auth_reply (SmtpClientConnection *self,
                           SmtpClientReply      *reply,
                           GError               *error);

static void
on_auth_reply (SmtpClientConnection *self,
               SmtpClientReply      *reply,
               GError               *error)
{
  g_autoptr(SmtpClientReply) owned = reply;
  g_autofree char *response = NULL;
  g_autoptr(GError) sasl_error = NULL;

  if (error != NULL)
    {
      op_fail (self, error);
      return;
    }

  if (reply->code == 235)
    {
      GError *saved = g_steal_pointer (&self->pending_error);

      /* A server that says 235 after we cancelled (or after a step that
       * proved it wrong) has not authenticated itself: what the mechanism
       * found is the reason. */
      if (saved != NULL)
        {
          g_clear_pointer (&self->sasl, smtp_client_sasl_free);
          op_fail (self, saved);
          return;
        }
      if (!smtp_client_sasl_check_success (self->sasl, &sasl_error))
        {
          g_clear_pointer (&self->sasl, smtp_client_sasl_free);
          op_fail (self, g_steal_pointer (&sasl_error));
          return;
        }
      g_clear_pointer (&self->sasl, smtp_client_sasl_free);
      op_succeed (self);
      return;
    }

  if (reply->code == 334)
    {
      const char *challenge = g_ptr_array_index (reply->lines, 0);

      if (!smtp_client_sasl_step (self->sasl, challenge, &response,
                                  &sasl_error))
        {
          /* Answer as the mechanism requires (or cancel with "*",
           * RFC 4954 §4), read the server's final word, then fail with
           * what the mechanism found. */
          g_clear_error (&self->pending_error);
          self->pending_error = g_steal_pointer (&sasl_error);
          queue_command (self, response != NULL ? response : "*",
                         response != NULL ? "<redacted>" : "*");
          send_and_read (self, on_auth_reply);
          return;
        }

      queue_command (self, response, "<redacted>");
      memset (response, 0, strlen (response));
      send_and_read (self, on_auth_reply);
      return;
    }

  if (smtp_client_reply_get_class (reply) == 4 ||
      smtp_client_reply_get_class (reply) == 5)
    {
      GError *saved = g_steal_pointer (&self->pending_error);
      g_autofree char *text = smtp_client_reply_to_one_line (reply);

      g_clear_pointer (&self->sasl, smtp_client_sasl_free);
      if (saved != NULL)
        {
          op_fail (self, saved);
          return;
        }

      op_fail (self, g_error_new (SMTP_CLIENT_ERROR,
                                  SMTP_CLIENT_ERROR_AUTH_FAILED,
                                  _("Authentication failed: %s"), text));
      return;
    }

  op_fail (self, protocol_error (reply, "AUTH"));
}

static void
start_auth (SmtpClientConnection *self)
{
  const SmtpClientSettings *settings = self->settings;
  g_auto(GStrv) offered = NULL;
  const char *mechanism = settings->auth_mechanism;
  g_autofree char *initial = NULL;
  g_autofree char *command = NULL;
  g_autofree char *logged = NULL;
  GError *error = NULL;

  if (!self->is_encrypted && !settings->allow_insecure_auth)
    {
      op_fail (self, g_error_new_literal (SMTP_CLIENT_ERROR,
                                          SMTP_CLIENT_ERROR_CONFIGURE,
                                          _("Refusing to send credentials over "
                                            "an unencrypted connection (the "
                                            "server does not offer STARTTLS)")));
      return;
    }

  if (!has_extension (self, "AUTH"))
    {
      op_fail (self, g_error_new_literal (SMTP_CLIENT_ERROR,
                                          SMTP_CLIENT_ERROR_NOT_SUPPORTED,
                                          _("The server does not offer "
                                            "authentication (AUTH)")));
      return;
    }

  offered = smtp_client_capabilities_get_auth_mechanisms (self->capabilities);
  if (mechanism == NULL)
    {
      mechanism = smtp_client_sasl_choose ((const char * const *) offered);
      if (mechanism == NULL)
        {
          g_autofree char *list = g_strjoinv (" ", offered);

          op_fail (self, g_error_new (SMTP_CLIENT_ERROR,
                                      SMTP_CLIENT_ERROR_NOT_SUPPORTED,
                                      _("None of the server’s authentication "
                                        "mechanisms (%s) can be used with a "
                                        "password"), list));
          return;
        }
    }
  else
    {
      gboolean found = FALSE;

      for (guint i = 0; offered[i] != NULL; i++)
        if (g_ascii_strcasecmp (offered[i], mechanism) == 0)
          found = TRUE;

      if (!found)
        {
          op_fail (self, g_error_new (SMTP_CLIENT_ERROR,
                                      SMTP_CLIENT_ERROR_NOT_SUPPORTED,
                                      _("The server does not offer the "
                                        "authentication mechanism %s"),
                                      mechanism));
          return;
        }
    }

  self->sasl = smtp_client_sasl_new (mechanism, settings->auth_user,
                                     settings->auth_password, settings->server,
                                     smtp_client_settings_get_port (settings),
                                     &error);
  if (self->sasl == NULL)
    {
      op_fail (self, error);
      return;
    }

  initial = smtp_client_sasl_get_initial_response (self->sasl);
  mechanism = smtp_client_sasl_get_mechanism (self->sasl);
  if (initial != NULL)
    {
      command = g_strdup_printf ("AUTH %s %s", mechanism, initial);
      logged = g_strdup_printf ("AUTH %s <redacted>", mechanism);
    }
  else
    {
      command = g_strdup_printf ("AUTH %s", mechanism);
    }

  queue_command (self, command, logged);
  if (initial != NULL)
    memset (initial, 0, strlen (initial));
  send_and_read (self, on_auth_reply);
}

/* Connect */

static void
on_connected (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(SmtpClientConnection) self = user_data;
  GError *error = NULL;
  GSocketConnection *connection;
  GSocket *socket;

  connection = g_socket_client_connect_finish (G_SOCKET_CLIENT (source),
                                               result, &error);
  if (connection == NULL)
    {
      op_fail (self, error);
      return;
    }

  self->socket_connection = connection;
  socket = g_socket_connection_get_socket (connection);
  if (g_socket_get_family (socket) != G_SOCKET_FAMILY_UNIX)
    {
      /* Commands and the end of the content go out at once: no Nagle
       * delay waiting for the server's delayed ACK. */
      g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
    }

  log_note (self, "connected");
  set_streams (self, G_IO_STREAM (connection));

  if (self->settings->security == SMTP_CLIENT_SECURITY_TLS)
    start_tls (self);
  else
    read_reply (self, TRUE, on_greeting);
}

/* "localhost", or a loopback address literal */
static gboolean
is_loopback (const char *host)
{
  g_autoptr(GInetAddress) address = NULL;

  if (g_ascii_strcasecmp (host, "localhost") == 0 ||
      g_str_has_suffix (host, ".localhost"))
    return TRUE;

  address = g_inet_address_new_from_string (host);
  return address != NULL && g_inet_address_get_is_loopback (address);
}

void
smtp_client_connection_open_async (SmtpClientConnection *self,
                                   GCancellable         *cancellable,
                                   GAsyncReadyCallback   callback,
                                   gpointer              user_data)
{
  const SmtpClientSettings *settings = self->settings;
  g_autoptr(GTask) task = NULL;
  g_autoptr(GSocketClient) client = NULL;
  g_autoptr(GSocketConnectable) address = NULL;

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, smtp_client_connection_open_async);
  op_begin (self, g_object_ref (task), cancellable);

  client = g_socket_client_new ();
  if (settings->bind_address != NULL || settings->bind_port != 0)
    {
      g_autoptr(GSocketAddress) local = NULL;

      local = g_inet_socket_address_new_from_string (settings->bind_address != NULL
                                                     ? settings->bind_address
                                                     : "0.0.0.0",
                                                     settings->bind_port);
      g_socket_client_set_local_address (client, local);
    }
  if (settings->proxy_resolver != NULL)
    g_socket_client_set_proxy_resolver (client, settings->proxy_resolver);
  else if (is_loopback (settings->server))
    /* Every system proxy configuration bypasses the local host, and asking
     * would load the proxy modules (libproxy, GSettings) into every
     * process that sends to a local MTA: milliseconds and megabytes */
    g_socket_client_set_enable_proxy (client, FALSE);

  address = g_network_address_new (settings->server,
                                   smtp_client_settings_get_port (settings));
  arm_timer (self);
  g_socket_client_connect_async (client, address, self->op_cancellable,
                                 on_connected, g_object_ref (self));
}

gboolean
smtp_client_connection_open_finish (SmtpClientConnection  *self,
                                    GAsyncResult          *result,
                                    GError               **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        smtp_client_connection_open_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---------------------------------------------------------------------- */
/* Transaction
 *
 * Transactions run in a pipeline.  The connection keeps them in a queue
 * (self->transacts, oldest first) and keeps the replies it waits for in
 * another (self->expects), each tagged with its transaction and the command
 * it answers, so every reply of a pipelined group is matched to its
 * command.  Only the oldest transaction ("the head") is ever past its
 * envelope: replies come in order, so the one uploading content is always
 * the head.  With PIPELINING, the commands of the next transaction go out
 * in the same write as the end of the head's content (RFC 2920 §3.1): a
 * steady stream of messages costs one round trip each.
 *
 * The pipeline writes through two buffers: @out is filled (commands,
 * encoded content) while @busy is being written, so the next chunk of
 * content is read and encoded while the previous one goes out.  A write is
 * first tried without blocking; commands and small messages nearly always
 * go out that way, without a round through the main loop.
 *
 * A reader is waiting whenever the pipeline is not empty (every state has
 * a reply due), so a broken connection, a timeout or an abort always comes
 * back through on_pipeline_reply() or a write callback, and ends in
 * pipeline_fail(), which fails every transaction, each exactly once.
 */

/* Write when this much is encoded, and keep at most this much waiting
 * behind the write in progress */
#define PIPELINE_FLUSH_SIZE    CONTENT_CHUNK_SIZE
/* Chunks of content encoded in one go before the main loop gets a turn */
#define UPLOAD_CHUNKS_PER_TURN 16

typedef enum
{
  TRANSACT_QUEUED,    /* nothing sent yet */
  TRANSACT_ENVELOPE,  /* MAIL, RCPT, (DATA) sent; their replies due */
  TRANSACT_UPLOAD,    /* content going out */
  TRANSACT_FINAL,     /* the end of data went out; its reply is due */
  TRANSACT_RESET,     /* RSET, or a lone "." ending an empty DATA, sent */
} TransactState;

typedef enum
{
  EXPECT_MAIL,
  EXPECT_RCPT,
  EXPECT_DATA,
  EXPECT_END,         /* the reply to the end of data */
  EXPECT_RSET,
  EXPECT_DOT,         /* the reply to a lone "." */
} ExpectKind;

typedef struct
{
  Transact   *transact;
  ExpectKind  kind;
  guint       index;  /* EXPECT_RCPT: the recipient */
} Expect;

/* A refusal in the envelope, and the reply that said it */
typedef struct
{
  GError     *error;
  guint       reply_code;
  char       *reply;
} Refusal;

struct _Transact
{
  GTask                 *task;          /* NULL once returned */
  SmtpClientTransaction *transaction;   /* NULL once returned */
  SmtpClientLogFunc      log_func;      /* the log of the task it belongs to */
  gpointer               log_data;
  GCancellable          *cancellable;
  gulong                 cancelled_id;
  TransactState          state;
  gboolean               pipelined;
  gboolean               replied;       /* the server answered something */
  gboolean               end_sent;      /* the end of data was queued */
  guint                  n_recipients;
  guint                  accepted;
  Refusal                mail;          /* the first refusal of each kind */
  Refusal                rcpt;
  Refusal                data;
  GError                *error;         /* reported when RSET is answered */
  gboolean               data_accepted;
  char                  *rcpt_parameters; /* " NOTIFY=..." or "" */
};

static void pipeline_advance (SmtpClientConnection *self);
static void pipeline_fail (SmtpClientConnection *self, GError *error);
static void pipeline_flush (SmtpClientConnection *self);
static void pipeline_update_timer (SmtpClientConnection *self);
static void reader_stop (SmtpClientConnection *self);
static gboolean reader_has_data (SmtpClientConnection *self);
static void upload_continue (SmtpClientConnection *self);
static void on_pipeline_reply (SmtpClientConnection *self,
                               SmtpClientReply      *reply,
                               GError               *error);

/* The extensions transactions look at, looked up once per burst of
 * transactions (the capabilities do not change once the connection is
 * open) */
typedef enum
{
  EXTENSION_PIPELINING = 1 << 0,
  EXTENSION_SIZE       = 1 << 1,
  EXTENSION_8BITMIME   = 1 << 2,
  EXTENSION_SMTPUTF8   = 1 << 3,
  EXTENSION_DSN        = 1 << 4,
} Extension;

static void
update_extensions (SmtpClientConnection *self)
{
  static const struct { const char *keyword; Extension flag; } table[] = {
    { "PIPELINING", EXTENSION_PIPELINING },
    { "SIZE", EXTENSION_SIZE },
    { "8BITMIME", EXTENSION_8BITMIME },
    { "SMTPUTF8", EXTENSION_SMTPUTF8 },
    { "DSN", EXTENSION_DSN },
  };

  self->extensions = 0;
  for (gsize i = 0; i < G_N_ELEMENTS (table); i++)
    if (has_extension (self, table[i].keyword))
      self->extensions |= table[i].flag;
}

static inline gboolean
offers (SmtpClientConnection *self,
        Extension             extension)
{
  return (self->extensions & extension) != 0;
}

static SmtpClientLogFunc
transact_get_log_func (Transact *t,
                       gpointer *data)
{
  *data = t->log_data;
  return t->log_func;
}

static gboolean
is_ascii (const char *text)
{
  for (const char *p = text; *p != '\0'; p++)
    if ((guchar) *p >= 0x80)
      return FALSE;

  return TRUE;
}

/* RFC 3461 §4: xtext */
static char *
encode_xtext (const char *text)
{
  GString *out = g_string_new (NULL);

  for (const guchar *p = (const guchar *) text; *p != '\0'; p++)
    {
      if (*p < 33 || *p > 126 || *p == '+' || *p == '=')
        g_string_append_printf (out, "+%02X", *p);
      else
        g_string_append_c (out, *p);
    }

  return g_string_free (out, FALSE);
}

/* Expected replies */

static Expect *
expect_peek (SmtpClientConnection *self)
{
  if (self->expects == NULL || self->expects_head >= self->expects->len)
    return NULL;

  return &g_array_index (self->expects, Expect, self->expects_head);
}

static void
expect_push (SmtpClientConnection *self,
             Transact             *t,
             ExpectKind            kind,
             guint                 index)
{
  Expect expect = { t, kind, index };

  if (self->expects == NULL)
    self->expects = g_array_sized_new (FALSE, FALSE, sizeof (Expect), 16);
  g_array_append_val (self->expects, expect);
}

static Expect
expect_pop (SmtpClientConnection *self)
{
  Expect expect = *expect_peek (self);

  if (++self->expects_head == self->expects->len)
    {
      g_array_set_size (self->expects, 0);
      self->expects_head = 0;
    }

  return expect;
}

/* Lines go to the log of the transaction they belong to */
static void
route_log (SmtpClientConnection *self,
           Transact             *t)
{
  self->log_transact = t;
}

static void
route_log_to_reader (SmtpClientConnection *self)
{
  Expect *expect = expect_peek (self);

  route_log (self, expect != NULL ? expect->transact : NULL);
}

/* Output */

static GByteArray *
pipeline_out (SmtpClientConnection *self)
{
  if (self->out == NULL)
    self->out = g_byte_array_sized_new (1024);

  return self->out;
}

/* Queue @command for @t's next write (logged as @logged, or as itself) */
static void
queue_transact_command (SmtpClientConnection *self,
                        Transact             *t,
                        const char           *command,
                        gsize                 length,
                        const char           *logged)
{
  GByteArray *out = pipeline_out (self);

  route_log (self, t);
  log_line (self, "-> ", logged != NULL ? logged : command,
            logged != NULL ? -1 : (gssize) length);
  route_log_to_reader (self);

  g_byte_array_append (out, (const guint8 *) command, length);
  g_byte_array_append (out, (const guint8 *) "\r\n", 2);
}

/* The buffers go when nothing is in flight; a busy connection keeps them */
static void
pipeline_release_buffers (SmtpClientConnection *self)
{
  if (self->writing || self->content_reading)
    return;

  g_clear_pointer (&self->out, g_byte_array_unref);
  g_clear_pointer (&self->busy, g_byte_array_unref);
  g_clear_pointer (&self->content_buffer, g_free);
}

static void
on_pipeline_written (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(SmtpClientConnection) self = user_data;
  GError *error = NULL;

  self->writing = FALSE;
  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result,
                                         NULL, &error))
    {
      self->is_broken = TRUE;
      if (g_queue_is_empty (&self->transacts))
        g_clear_error (&error);
      else
        pipeline_fail (self, error);
      pipeline_release_buffers (self);
      return;
    }

  g_byte_array_set_size (self->busy, 0);
  if (g_queue_is_empty (&self->transacts))
    {
      pipeline_release_buffers (self);
      return;
    }

  /* What was queued meanwhile, then more content */
  pipeline_flush (self);
  upload_continue (self);
  pipeline_update_timer (self);
}

/* Write what is queued.  Never reports an error by itself: a failed write
 * comes back through on_pipeline_written(). */
static void
pipeline_flush (SmtpClientConnection *self)
{
  GByteArray *out = self->out;
  GPollableOutputStream *pollable;
  gssize written = 0;

  if (self->writing || out == NULL || out->len == 0 || self->output == NULL)
    return;

  pollable = G_IS_POLLABLE_OUTPUT_STREAM (self->output)
             ? G_POLLABLE_OUTPUT_STREAM (self->output) : NULL;
  if (pollable != NULL && g_pollable_output_stream_can_poll (pollable))
    {
      written = g_pollable_output_stream_write_nonblocking (pollable,
                                                            out->data, out->len,
                                                            NULL, NULL);
      if (written == (gssize) out->len)
        {
          g_byte_array_set_size (out, 0);
          return;
        }
      /* Would block, or failed: the asynchronous write waits for room,
       * or reports the error. */
      written = MAX (written, 0);
    }

  /* @out becomes @busy, and the old @busy (empty) takes new data */
  self->out = self->busy != NULL ? self->busy : g_byte_array_sized_new (1024);
  self->busy = out;
  self->writing = TRUE;
  arm_timer (self);
  g_output_stream_write_all_async (self->output, out->data + written,
                                   out->len - written, G_PRIORITY_DEFAULT,
                                   self->op_cancellable, on_pipeline_written,
                                   g_object_ref (self));
}

/* Timer: runs while the server owes us something — room for a write, or
 * a reply — but not while content is read and encoded. */
static void
pipeline_update_timer (SmtpClientConnection *self)
{
  Transact *head = g_queue_peek_head (&self->transacts);

  if (head == NULL || self->is_broken)
    disarm_timer (self);
  else if (self->writing ||
           (expect_peek (self) != NULL && head->state != TRANSACT_UPLOAD))
    arm_timer (self);
  else
    disarm_timer (self);
}

/* Ending transactions */

static void
refusal_clear (Refusal *refusal)
{
  g_clear_error (&refusal->error);
  g_clear_pointer (&refusal->reply, g_free);
}

static void
refusal_set (SmtpClientConnection *self,
             Refusal              *refusal,
             SmtpClientReply      *reply,
             GError               *error)
{
  if (refusal->error != NULL)
    {
      g_error_free (error);
      return;
    }

  refusal->error = error;
  refusal->reply_code = reply->code;
  refusal->reply = g_strdup (self->reply);
}

/* The refusal that fails @t: its reply stays the transaction's last one */
static GError *
refusal_take (Transact *t,
              Refusal  *refusal)
{
  SmtpClientTransaction *transaction = t->transaction;

  transaction->reply_code = refusal->reply_code;
  g_free (transaction->reply);
  transaction->reply = g_steal_pointer (&refusal->reply);

  return g_steal_pointer (&refusal->error);
}

static void
transact_free (Transact *t)
{
  g_assert (t->task == NULL);

  g_clear_object (&t->cancellable);
  refusal_clear (&t->mail);
  refusal_clear (&t->rcpt);
  refusal_clear (&t->data);
  g_clear_error (&t->error);
  g_free (t->rcpt_parameters);
  g_free (t);
}

/* Report @t's outcome (@error: transfer full, NULL for success) to its
 * caller, once.  The callback may run at once and may use the connection
 * again: the pipeline must be consistent before this is called. */
static void
transact_return (SmtpClientConnection *self,
                 Transact             *t,
                 GError               *error)
{
  g_autoptr(GTask) task = g_steal_pointer (&t->task);

  if (task == NULL)
    {
      g_clear_error (&error);
      return;
    }

  if (t->cancelled_id != 0)
    {
      g_cancellable_disconnect (t->cancellable, t->cancelled_id);
      t->cancelled_id = 0;
    }
  t->transaction = NULL;
  t->log_func = NULL;
  t->log_data = NULL;
  if (self->log_transact == t)
    route_log (self, NULL);

  if (error != NULL)
    {
      if (self->settings->debug > 0)
        g_debug ("%s%s%stransaction failed: %s",
                 self->settings->alias ? "[" : "",
                 self->settings->alias ? self->settings->alias : "",
                 self->settings->alias ? "] " : "", error->message);
      g_task_return_error (task, error);
    }
  else
    {
      g_task_return_boolean (task, TRUE);
    }
}

/* Return the transactions that finished while replies were handled */
static void
pipeline_return_finished (SmtpClientConnection *self)
{
  Transact *t;

  while ((t = g_queue_pop_head (&self->finished)) != NULL)
    {
      transact_return (self, t, g_steal_pointer (&t->error));
      transact_free (t);
    }
}

/* @t, the head, is over and the server owes it nothing more.  It leaves
 * the pipeline now; its caller hears once the replies at hand are handled
 * (on_pipeline_reply()), so the next content goes out first and the
 * server works on it while the caller is told. */
static void
transact_finish (SmtpClientConnection *self,
                 Transact             *t,
                 GError               *error)
{
  g_queue_remove (&self->transacts, t);
  if (self->log_transact == t)
    route_log (self, NULL);
  g_clear_error (&t->error);
  t->error = error;
  g_queue_push_tail (&self->finished, t);
}

/* Errors after which nothing of the transaction reached the server
 * intact: the connection went away under it */
static gboolean
is_connection_lost (const GError *error)
{
  return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED) ||
         g_error_matches (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE) ||
         g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED) ||
         g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
}

/* The connection is lost or out of step: close it and fail every
 * transaction, the head with @error (transfer full), the others with
 * "connection lost" and may_retry set when the server cannot have
 * delivered them. */
static void
pipeline_fail (SmtpClientConnection *self,
               GError               *error)
{
  g_autoptr(SmtpClientConnection) keep = g_object_ref (self);
  GQueue transacts = G_QUEUE_INIT;
  Transact *t;
  gboolean is_head = TRUE;

  /* Broken first: whatever the callbacks below do, nothing more goes out
   * on this connection, and a reader still waiting hears nothing more */
  error = convert_error (self, error);
  self->reply_func = NULL;
  reader_stop (self);
  if (self->content_source != NULL)
    {
      g_source_destroy (self->content_source);
      g_clear_pointer (&self->content_source, g_source_unref);
    }
  smtp_client_connection_abort (self);
  disarm_timer (self);
  route_log (self, NULL);
  if (self->expects != NULL)
    g_array_set_size (self->expects, 0);
  self->expects_head = 0;

  /* Taken out before any callback runs: a callback may end up here again
   * (through the session), and must find nothing of these */
  transacts = self->transacts;
  g_queue_init (&self->transacts);

  /* Those done before, first */
  pipeline_return_finished (self);

  while ((t = g_queue_pop_head (&transacts)) != NULL)
    {
      GError *own;

      if (is_head)
        {
          own = g_steal_pointer (&error);
          if (t->transaction != NULL)
            t->transaction->may_retry = !t->replied && !t->end_sent &&
                                        is_connection_lost (own);
        }
      else
        {
          own = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                                     _("The connection was lost before the "
                                       "server answered"));
          if (t->transaction != NULL)
            t->transaction->may_retry = !t->replied && !t->end_sent;
        }
      is_head = FALSE;
      transact_return (self, t, own);
      transact_free (t);
    }

  g_clear_error (&error);
  pipeline_release_buffers (self);
}

/* Nothing left to do: release what a busy connection holds */
static void
pipeline_idle (SmtpClientConnection *self)
{
  disarm_timer (self);
  route_log (self, NULL);
  reader_stop (self);
  if (self->replies != NULL && reader_has_data (self))
    {
      /* The server said something unasked (a 421 on its way out?): the
       * conversation is out of step, do not reuse the connection */
      log_note (self, "unexpected data from the server; not reusing the "
                      "connection");
      self->is_broken = TRUE;
    }
  g_clear_pointer (&self->replies, g_free);
  self->replies_start = self->replies_end = 0;
  pipeline_release_buffers (self);
  if (self->op == NULL)
    g_clear_object (&self->op_cancellable);
}

/* Reading
 *
 * Over plain TCP the pipeline reads replies itself: one socket source stays
 * attached while transactions are in progress and the socket is read
 * without blocking into @replies.  read_reply() would create and destroy
 * a source (and two GTasks) for every wait, which costs a wake-up of the
 * main context each time.  Over TLS, read_reply() it is.  Bytes read ahead
 * are only ever replies the pipeline expects; anything left when it goes
 * idle came unasked, and the connection is not reused (pipeline_idle()). */

static void
reader_stop (SmtpClientConnection *self)
{
  if (self->reader != NULL)
    {
      g_source_destroy (self->reader);
      g_clear_pointer (&self->reader, g_source_unref);
    }
  g_clear_object (&self->reader_input);
}

static gboolean
reader_has_data (SmtpClientConnection *self)
{
  return self->replies_end > self->replies_start;
}

/* Hand the next complete reply in @replies to reply_done().  FALSE when
 * more has to be read first. */
static gboolean
reader_parse (SmtpClientConnection *self)
{
  for (;;)
    {
      const char *line = (const char *) self->replies + self->replies_start;
      gsize available = self->replies_end - self->replies_start;
      const char *newline = memchr (line, '\n', available);
      SmtpClientReply *reply = NULL;
      GError *error = NULL;
      gboolean done;
      gsize length;

      if (newline == NULL)
        {
          if (available > SMTP_CLIENT_REPLY_MAX_LINE + 1)
            {
              reply_done (self, NULL,
                          g_error_new (SMTP_CLIENT_ERROR,
                                       SMTP_CLIENT_ERROR_PROTOCOL,
                                       _("The server sent a reply line longer "
                                         "than %u bytes"),
                                       (guint) SMTP_CLIENT_REPLY_MAX_LINE));
              return TRUE;
            }
          /* Keep the partial line at the start, with room after it */
          memmove (self->replies, line, available);
          self->replies_start = 0;
          self->replies_end = available;
          return FALSE;
        }

      length = newline - line;
      done = feed_reply_line (self, line, length, &reply, &error);
      self->replies_start += length + 1;
      if (done)
        {
          reply_done (self, reply, error);
          return TRUE;
        }
    }
}

static gboolean
on_reader_ready (GSocket      *socket,
                 GIOCondition  condition,
                 gpointer      user_data)
{
  SmtpClientConnection *self = user_data;
  g_autoptr(SmtpClientConnection) keep = g_object_ref (self);
  GSource *source = self->reader;
  GError *error = NULL;
  gssize n;

  if (self->reply_func == NULL)
    {
      /* Nobody waits: stop watching (a readable socket would wake us up
       * again and again) */
      reader_stop (self);
      return G_SOURCE_REMOVE;
    }

  n = g_pollable_input_stream_read_nonblocking (self->reader_input,
                                                self->replies +
                                                self->replies_end,
                                                INPUT_BUFFER_SIZE -
                                                self->replies_end,
                                                self->op_cancellable, &error);
  if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    {
      g_clear_error (&error);
      return G_SOURCE_CONTINUE;
    }

  if (n < 0)
    reply_done (self, NULL, error);
  else if (n == 0)
    reply_done (self, NULL,
                g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                                     _("The server closed the connection")));
  else
    {
      self->replies_end += n;
      reader_parse (self);
    }

  /* The callbacks may have stopped this source, or stopped and started
   * another one */
  return self->reader == source ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* Wait for the reply the head expectation is about */
static void
pipeline_read (SmtpClientConnection *self)
{
  gsize available;

  if (self->reply_func != NULL || expect_peek (self) == NULL)
    return;

  route_log_to_reader (self);

  if (self->is_encrypted || self->socket_connection == NULL ||
      self->stream != G_IO_STREAM (self->socket_connection))
    {
      /* The pipeline runs the timer itself (pipeline_update_timer) */
      read_reply (self, FALSE, on_pipeline_reply);
      return;
    }

  if (self->replies == NULL)
    self->replies = g_malloc (INPUT_BUFFER_SIZE);

  /* Whatever the buffered stream read ahead before the pipeline started */
  available = g_buffered_input_stream_get_available (self->input);
  if (available > 0)
    {
      const void *data = g_buffered_input_stream_peek_buffer (self->input,
                                                              &available);

      available = MIN (available, INPUT_BUFFER_SIZE - self->replies_end);
      memcpy (self->replies + self->replies_end, data, available);
      self->replies_end += available;
      /* Data already in the buffer: this does not block. */
      g_input_stream_skip (G_INPUT_STREAM (self->input), available, NULL,
                           NULL);
    }

  self->reply_func = on_pipeline_reply;
  if (reader_has_data (self) && reader_parse (self))
    return;

  if (self->reader == NULL)
    {
      GSocket *socket;
      GInputStream *input = g_io_stream_get_input_stream (self->stream);

      socket = g_socket_connection_get_socket (self->socket_connection);
      self->reader_input = g_object_ref (G_POLLABLE_INPUT_STREAM (input));
      self->reader = g_socket_create_source (socket,
                                             G_IO_IN | G_IO_HUP | G_IO_ERR,
                                             self->op_cancellable);
      g_source_set_callback (self->reader, G_SOURCE_FUNC (on_reader_ready),
                             g_object_ref (self), g_object_unref);
      g_source_set_static_name (self->reader, "[smtpclient] replies");
      /* GLib takes a source that may not recurse out of the poll set for
       * each dispatch and puts it back after, waking the main context up
       * twice each time; on_reader_ready() is safe to re-enter (from a
       * main loop run by a signal handler): it checks its state each
       * time. */
      g_source_set_can_recurse (self->reader, TRUE);
      g_source_attach (self->reader, self->context);
    }
}

/* Cancellation */

static gboolean
on_cancel_check (gpointer user_data)
{
  SmtpClientConnection *self = user_data;
  gboolean again = TRUE;

  while (again)
    {
      again = FALSE;
      for (GList *l = self->transacts.head; l != NULL; l = l->next)
        {
          Transact *t = l->data;

          if (t->task == NULL || t->cancellable == NULL ||
              !g_cancellable_is_cancelled (t->cancellable))
            continue;

          if (t->state == TRANSACT_QUEUED)
            {
              /* Nothing sent: it just leaves the queue */
              g_queue_delete_link (&self->transacts, l);
              transact_return (self, t,
                               g_error_new_literal (G_IO_ERROR,
                                                    G_IO_ERROR_CANCELLED,
                                                    _("Operation was "
                                                      "cancelled")));
              transact_free (t);
              again = TRUE;
              break;
            }

          if (l == self->transacts.head)
            {
              /* On the wire: closing the connection is the only way to
               * make sure it is not delivered */
              log_note (self, "closing the connection to cancel the "
                              "transaction");
              pipeline_fail (self, g_error_new_literal (G_IO_ERROR,
                                                        G_IO_ERROR_CANCELLED,
                                                        _("Operation was "
                                                          "cancelled")));
              return G_SOURCE_REMOVE;
            }

          /* Its commands went out behind the head's content: its caller
           * hears now; the connection closes once the head is done
           * (pipeline_advance) */
          transact_return (self, t,
                           g_error_new_literal (G_IO_ERROR,
                                                G_IO_ERROR_CANCELLED,
                                                _("Operation was "
                                                  "cancelled")));
          again = TRUE;
          break;
        }
    }

  if (!self->is_broken)
    pipeline_advance (self);
  pipeline_update_timer (self);

  return G_SOURCE_REMOVE;
}

static void
on_transact_cancelled (GCancellable *cancellable,
                       gpointer      user_data)
{
  SmtpClientConnection *self = user_data;
  GSource *source;

  /* Not from inside the emission (which may run in another thread): from
   * the connection's main context */
  source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, on_cancel_check, g_object_ref (self),
                         g_object_unref);
  g_source_set_static_name (source, "[smtpclient] transaction cancelled");
  g_source_attach (source, self->context);
  g_source_unref (source);
}

/* Envelope */

static void
queue_recipient (SmtpClientConnection *self,
                 Transact             *t,
                 guint                 index)
{
  g_autofree char *rcpt = g_strconcat ("RCPT TO:<",
                                       t->transaction->recipients[index],
                                       ">", t->rcpt_parameters, NULL);

  queue_transact_command (self, t, rcpt, strlen (rcpt), NULL);
  expect_push (self, t, EXPECT_RCPT, index);
}

/* Queue @t's envelope: MAIL, and with PIPELINING every RCPT and DATA
 * (RFC 2920: DATA ends the group).  FALSE if it cannot be sent at all. */
static gboolean
queue_envelope (SmtpClientConnection  *self,
                Transact              *t,
                GError               **error)
{
  SmtpClientTransaction *transaction = t->transaction;
  g_autoptr(GString) mail = NULL;
  g_autofree char *notify = NULL;
  gboolean needs_smtputf8 = !is_ascii (transaction->from);
  guint64 size_limit = 0;

  for (guint i = 0; transaction->recipients[i] != NULL; i++)
    {
      if (!is_ascii (transaction->recipients[i]))
        needs_smtputf8 = TRUE;
      t->n_recipients++;
    }

  if (needs_smtputf8 && !offers (self, EXTENSION_SMTPUTF8))
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR,
                           SMTP_CLIENT_ERROR_NOT_SUPPORTED,
                           _("An address is not ASCII and the server does "
                             "not offer SMTPUTF8"));
      return FALSE;
    }

  if (self->capabilities != NULL)
    size_limit = smtp_client_capabilities_get_size_limit (self->capabilities);
  if (size_limit > 0 && transaction->content_size > size_limit)
    {
      g_set_error (error, SMTP_CLIENT_ERROR,
                   SMTP_CLIENT_ERROR_MESSAGE_TOO_LARGE,
                   _("The message (%" PRIu64 " bytes) is larger "
                     "than the server accepts (%" PRIu64 " bytes)"),
                   transaction->content_size, size_limit);
      return FALSE;
    }

  mail = g_string_sized_new (128);
  g_string_append (mail, "MAIL FROM:<");
  g_string_append (mail, transaction->from);
  g_string_append_c (mail, '>');
  if (offers (self, EXTENSION_SIZE) && transaction->content_size > 0)
    {
      char number[24];

      g_string_append (mail, " SIZE=");
      g_string_append_len (mail, number,
                           g_snprintf (number, sizeof number,
                                       "%" G_GUINT64_FORMAT,
                                       transaction->content_size));
    }
  if (offers (self, EXTENSION_8BITMIME) &&
      (!transaction->content_is_7bit || needs_smtputf8))
    g_string_append (mail, " BODY=8BITMIME");
  if (needs_smtputf8)
    g_string_append (mail, " SMTPUTF8");

  if (transaction->dsn_notify != 0 ||
      transaction->dsn_return != SMTP_CLIENT_DSN_RETURN_DEFAULT ||
      transaction->dsn_envelope_id != NULL)
    {
      if (!offers (self, EXTENSION_DSN))
        {
          route_log (self, t);
          log_line (self, "-- ", "DSN not offered by the server: NOTIFY, RET "
                                 "and ENVID left out", -1);
          route_log_to_reader (self);
        }
      else
        {
          if (transaction->dsn_return == SMTP_CLIENT_DSN_RETURN_FULL)
            g_string_append (mail, " RET=FULL");
          else if (transaction->dsn_return == SMTP_CLIENT_DSN_RETURN_HEADERS)
            g_string_append (mail, " RET=HDRS");
          if (transaction->dsn_envelope_id != NULL)
            {
              g_autofree char *xtext = encode_xtext (transaction->dsn_envelope_id);

              g_string_append_printf (mail, " ENVID=%s", xtext);
            }
          if (transaction->dsn_notify != 0)
            {
              g_autoptr(GString) list = g_string_new (NULL);

              if (transaction->dsn_notify & SMTP_CLIENT_DSN_NOTIFY_NEVER)
                g_string_append (list, "NEVER");
              else
                {
                  if (transaction->dsn_notify & SMTP_CLIENT_DSN_NOTIFY_SUCCESS)
                    g_string_append (list, "SUCCESS,");
                  if (transaction->dsn_notify & SMTP_CLIENT_DSN_NOTIFY_FAILURE)
                    g_string_append (list, "FAILURE,");
                  if (transaction->dsn_notify & SMTP_CLIENT_DSN_NOTIFY_DELAY)
                    g_string_append (list, "DELAY,");
                  g_string_truncate (list, list->len - 1);
                }
              notify = g_string_free (g_steal_pointer (&list), FALSE);
            }
        }
    }

  t->rcpt_parameters = notify != NULL ? g_strconcat (" NOTIFY=", notify, NULL)
                                      : g_strdup ("");
  t->pipelined = offers (self, EXTENSION_PIPELINING);
  t->state = TRANSACT_ENVELOPE;
  transaction->started = TRUE;

  queue_transact_command (self, t, mail->str, mail->len, NULL);
  expect_push (self, t, EXPECT_MAIL, 0);

  if (!t->pipelined)
    /* One command at a time: each RCPT goes out when the previous reply is
     * in (envelope_step), DATA when all are. */
    return TRUE;

  /* RFC 2920: DATA ends the group */
  for (guint i = 0; i < t->n_recipients; i++)
    queue_recipient (self, t, i);
  queue_transact_command (self, t, "DATA", 4, NULL);
  expect_push (self, t, EXPECT_DATA, 0);

  return TRUE;
}

/* Queue @t's envelope, or end @t when it cannot be sent.  Writes nothing:
 * the caller flushes.  TRUE if queued. */
static gboolean
start_envelope (SmtpClientConnection *self,
                Transact             *t)
{
  GError *error = NULL;

  if (queue_envelope (self, t, &error))
    return TRUE;

  g_queue_remove (&self->transacts, t);
  transact_return (self, t, error);
  transact_free (t);
  return FALSE;
}

/* Content */

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
  transaction->progress_func (self->encoder.bytes_in,
                              transaction->content_size,
                              transaction->progress_data);
}

static void
upload_start (SmtpClientConnection *self,
              Transact             *t)
{
  t->state = TRANSACT_UPLOAD;
  smtp_client_data_encoder_init (&self->encoder);
  self->last_progress = g_get_monotonic_time ();
  if (self->content_buffer == NULL)
    self->content_buffer = g_malloc (CONTENT_CHUNK_SIZE);

  /* Listen for an early reply while the content goes out */
  expect_push (self, t, EXPECT_END, 0);
  upload_continue (self);
}

/* The whole content has been encoded: queue the end of data, and with it
 * the next transaction's envelope (RFC 2920 §3.1). */
static void
upload_end (SmtpClientConnection *self,
            Transact             *t)
{
  GByteArray *out = pipeline_out (self);
  gsize length = out->len;
  g_autofree char *summary = NULL;
  Transact *next;

  g_byte_array_set_size (out, length + SMTP_CLIENT_DATA_ENCODER_MAX_FINISH);
  length += smtp_client_data_encoder_finish (&self->encoder,
                                             out->data + length);
  g_byte_array_set_size (out, length);

  t->state = TRANSACT_FINAL;
  t->end_sent = TRUE;
  /* Logged in wire order: before the server can answer it */
  if (t->log_func != NULL || self->settings->debug > 0)
    {
      summary = g_strdup_printf ("[message: %" G_GUINT64_FORMAT " bytes]",
                                 self->encoder.bytes_in);
      route_log (self, t);
      log_line (self, "-> ", summary, -1);
      route_log_to_reader (self);
    }
  report_progress (self, t, TRUE);

  next = g_queue_peek_nth (&self->transacts, 1);
  if (next != NULL && next->state == TRANSACT_QUEUED &&
      offers (self, EXTENSION_PIPELINING))
    start_envelope (self, next);

  pipeline_flush (self);
}

/* Take @n bytes just read into content_buffer (0: the end; < 0: @error).
 * TRUE to read on. */
static gboolean
upload_take (SmtpClientConnection *self,
             Transact             *t,
             gssize                n,
             GError               *error)
{
  GByteArray *out;
  gsize length;

  if (n < 0)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          GError *file_error = g_error_new (SMTP_CLIENT_ERROR,
                                            SMTP_CLIENT_ERROR_MESSAGE_FILE,
                                            _("Could not read the message: %s"),
                                            error->message);

          g_error_free (error);
          error = file_error;
        }
      /* Half a message must never be delivered: drop the connection
       * without the end-of-data mark, the server discards what it got. */
      pipeline_fail (self, error);
      return FALSE;
    }

  if (n == 0)
    {
      upload_end (self, t);
      return FALSE;
    }

  out = pipeline_out (self);
  length = out->len;
  g_byte_array_set_size (out, length + SMTP_CLIENT_DATA_ENCODER_MAX_OUTPUT (n));
  length += smtp_client_data_encoder_encode (&self->encoder,
                                             self->content_buffer, n,
                                             out->data + length);
  g_byte_array_set_size (out, length);

  /* Content of a known size ends there: no read (maybe in a thread, for a
   * file) only to be told so */
  if (t->transaction->content_size > 0 &&
      self->encoder.bytes_in >= t->transaction->content_size)
    {
      upload_end (self, t);
      return FALSE;
    }

  report_progress (self, t, FALSE);
  if (out->len >= PIPELINE_FLUSH_SIZE)
    pipeline_flush (self);

  return TRUE;
}

static void
on_content_read (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(SmtpClientConnection) self = user_data;
  Transact *t = g_queue_peek_head (&self->transacts);
  GError *error = NULL;
  gssize n;

  self->content_reading = FALSE;
  n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);

  if (t == NULL || t->state != TRANSACT_UPLOAD)
    {
      /* The pipeline failed meanwhile */
      g_clear_error (&error);
      if (g_queue_is_empty (&self->transacts))
        pipeline_release_buffers (self);
      return;
    }

  if (upload_take (self, t, n, error))
    upload_continue (self);
  pipeline_update_timer (self);
}

static gboolean
on_content_ready (gpointer user_data)
{
  SmtpClientConnection *self = user_data;

  g_clear_pointer (&self->content_source, g_source_unref);
  upload_continue (self);
  pipeline_update_timer (self);

  return G_SOURCE_REMOVE;
}

static void
wait_for_content (SmtpClientConnection *self,
                  GSource              *source)
{
  g_source_set_callback (source, on_content_ready, g_object_ref (self),
                         g_object_unref);
  g_source_set_static_name (source, "[smtpclient] content");
  g_source_attach (source, self->context);
  self->content_source = source;
}

/* Read, encode and queue content until it ends, the write in progress has
 * enough waiting behind it, or the content stream has to be waited for. */
static void
upload_continue (SmtpClientConnection *self)
{
  for (guint turn = 0; ; turn++)
    {
      Transact *t = g_queue_peek_head (&self->transacts);
      GInputStream *content;
      GPollableInputStream *pollable;
      GError *error = NULL;
      gssize n;

      if (t == NULL || t->state != TRANSACT_UPLOAD || self->content_reading ||
          self->content_source != NULL)
        return;

      if (self->writing && self->out != NULL &&
          self->out->len >= PIPELINE_FLUSH_SIZE)
        return; /* on_pipeline_written() comes back */

      if (turn == UPLOAD_CHUNKS_PER_TURN)
        {
          /* A fast stream to a fast server: let the rest of the main
           * context run too */
          wait_for_content (self, g_idle_source_new ());
          return;
        }

      content = t->transaction->content;
      pollable = G_IS_POLLABLE_INPUT_STREAM (content)
                 ? G_POLLABLE_INPUT_STREAM (content) : NULL;
      if (pollable == NULL || !g_pollable_input_stream_can_poll (pollable))
        {
          /* Reading local content is not a wait on the server: untimed */
          self->content_reading = TRUE;
          g_input_stream_read_async (content, self->content_buffer,
                                     CONTENT_CHUNK_SIZE, G_PRIORITY_DEFAULT,
                                     self->op_cancellable, on_content_read,
                                     g_object_ref (self));
          return;
        }

      n = g_pollable_input_stream_read_nonblocking (pollable,
                                                    self->content_buffer,
                                                    CONTENT_CHUNK_SIZE,
                                                    self->op_cancellable,
                                                    &error);
      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          g_clear_error (&error);
          wait_for_content (self,
                            g_pollable_input_stream_create_source (pollable,
                                                                   self->op_cancellable));
          return;
        }

      if (!upload_take (self, t, n, error))
        return;
    }
}

/* Replies */

static void
envelope_decide (SmtpClientConnection *self,
                 Transact             *t)
{
  GError *error = NULL;

  if (t->mail.error != NULL)
    error = refusal_take (t, &t->mail);
  else if (t->rcpt.error != NULL &&
           (t->accepted == 0 || !t->transaction->allow_refused_recipients))
    error = refusal_take (t, &t->rcpt);
  else if (t->data.error != NULL)
    error = refusal_take (t, &t->data);

  if (error == NULL)
    {
      if (t->data_accepted)
        {
          upload_start (self, t);
          return;
        }

      /* One command at a time: DATA comes now */
      queue_transact_command (self, t, "DATA", 4, NULL);
      expect_push (self, t, EXPECT_DATA, 0);
      pipeline_flush (self);
      return;
    }

  t->state = TRANSACT_RESET;
  t->error = error;

  if (!t->data_accepted)
    {
      /* Still in step with the server: RSET, then fail */
      queue_transact_command (self, t, "RSET", 4, NULL);
      expect_push (self, t, EXPECT_RSET, 0);
      pipeline_flush (self);
      return;
    }

  if (t->accepted == 0)
    {
      /* DATA accepted with no recipient: a lone "." ends it, nothing can
       * be delivered (RFC 2920 §3.1) */
      queue_transact_command (self, t, ".", 1, NULL);
      expect_push (self, t, EXPECT_DOT, 0);
      pipeline_flush (self);
      return;
    }

  /* DATA accepted although we must not send (a recipient was refused):
   * ending the data would deliver an empty message to the others, so
   * drop the connection; the server discards the transaction. */
  log_note (self, "closing the connection to abandon the transaction");
  pipeline_fail (self, g_steal_pointer (&t->error));
}

/* An envelope reply came in: send the next command when they go one at a
 * time, decide when the last one is in */
static void
envelope_step (SmtpClientConnection *self,
               Transact             *t,
               ExpectKind            kind,
               guint                 index)
{
  if (t->pipelined)
    {
      /* The group is answered when DATA is */
      if (kind == EXPECT_DATA)
        envelope_decide (self, t);
      return;
    }

  if (kind == EXPECT_MAIL && t->mail.error == NULL && t->n_recipients > 0)
    {
      queue_recipient (self, t, 0);
      pipeline_flush (self);
      return;
    }

  if (kind == EXPECT_RCPT && index + 1 < t->n_recipients)
    {
      queue_recipient (self, t, index + 1);
      pipeline_flush (self);
      return;
    }

  envelope_decide (self, t);
}

static void
on_envelope_reply (SmtpClientConnection *self,
                   Transact             *t,
                   Expect               *expect,
                   SmtpClientReply      *reply)
{
  guint class = smtp_client_reply_get_class (reply);

  switch (expect->kind)
    {
    case EXPECT_MAIL:
      if (class == 4 || class == 5)
        refusal_set (self, &t->mail, reply,
                     server_error (reply, _("The server refused the sender")));
      else if (class != 2)
        refusal_set (self, &t->mail, reply, protocol_error (reply, "MAIL"));
      break;

    case EXPECT_RCPT:
      if (class == 2)
        t->accepted++;
      else if (t->mail.error == NULL)
        {
          const char *recipient = t->transaction->recipients[expect->index];

          g_ptr_array_add (t->transaction->refused, g_strdup (recipient));
          if (t->rcpt.error != NULL)
            break;
          if (class == 4 || class == 5)
            {
              g_autofree char *what = g_strdup_printf (_("The server refused "
                                                         "the recipient <%s>"),
                                                       recipient);
              refusal_set (self, &t->rcpt, reply, server_error (reply, what));
            }
          else
            {
              refusal_set (self, &t->rcpt, reply,
                           protocol_error (reply, "RCPT"));
            }
        }
      break;

    case EXPECT_DATA:
    default:
      if (reply->code == 354)
        t->data_accepted = TRUE;
      else if (class == 4 || class == 5)
        refusal_set (self, &t->data, reply,
                     server_error (reply, _("The server refused DATA")));
      else
        refusal_set (self, &t->data, reply, protocol_error (reply, "DATA"));
      break;
    }

  envelope_step (self, t, expect->kind, expect->index);
}

static void
on_end_reply (SmtpClientConnection *self,
              Transact             *t,
              SmtpClientReply      *reply)
{
  guint class = smtp_client_reply_get_class (reply);

  if (t->state == TRANSACT_UPLOAD)
    {
      /* An early reply while we were still uploading: stop; the server's
       * state is unknown */
      if (class == 4 || class == 5)
        pipeline_fail (self, server_error (reply, _("The server refused the "
                                                    "message while it was "
                                                    "being sent")));
      else
        pipeline_fail (self, protocol_error (reply, _("reply before the end "
                                                      "of the message")));
      return;
    }

  if (class == 2)
    transact_finish (self, t, NULL);
  else if (class == 4 || class == 5)
    /* After the end of data the transaction is over: no RSET needed */
    transact_finish (self, t, server_error (reply, _("The server refused the "
                                                     "message")));
  else
    pipeline_fail (self, protocol_error (reply, _("end of data")));
}

static void
handle_pipeline_reply (SmtpClientConnection *self,
                       SmtpClientReply      *reply,
                       GError               *error)
{
  g_autoptr(SmtpClientReply) owned = reply;
  g_autoptr(SmtpClientConnection) keep = NULL;
  Expect expect;
  Transact *t;

  if (expect_peek (self) == NULL)
    {
      /* The pipeline failed meanwhile */
      g_clear_error (&error);
      return;
    }

  if (error != NULL)
    {
      pipeline_fail (self, error);
      return;
    }

  keep = g_object_ref (self);
  expect = expect_pop (self);
  t = expect.transact;
  t->replied = TRUE;
  /* Kept: the final reply, and any that is not a go-ahead (an envelope
   * refusal keeps its own reply, see refusal_take(); the reply to RSET or
   * to a lone "." is not the one that failed the transaction) */
  if (t->transaction != NULL && expect.kind != EXPECT_RSET &&
      expect.kind != EXPECT_DOT &&
      (expect.kind == EXPECT_END ||
       (smtp_client_reply_get_class (reply) != 2 && reply->code != 354)))
    {
      t->transaction->reply_code = reply->code;
      g_free (t->transaction->reply);
      t->transaction->reply = g_strdup (self->reply);
    }

  if (reply->code == 421)
    {
      /* The server is shutting the connection down (RFC 5321 §3.8) */
      pipeline_fail (self, server_error (reply, _("The server is closing the "
                                                  "connection")));
      return;
    }

  if (t->task == NULL)
    {
      /* Cancelled by its caller after its commands went out: nothing of
       * it may be delivered, and the server is mid-transaction */
      pipeline_fail (self, g_error_new_literal (G_IO_ERROR,
                                                G_IO_ERROR_CANCELLED,
                                                _("Operation was cancelled")));
      return;
    }

  switch (expect.kind)
    {
    case EXPECT_MAIL:
    case EXPECT_RCPT:
    case EXPECT_DATA:
      on_envelope_reply (self, t, &expect, reply);
      break;

    case EXPECT_END:
      on_end_reply (self, t, reply);
      break;

    case EXPECT_RSET:
      if (smtp_client_reply_get_class (reply) != 2)
        {
          /* The server is out of step with us: do not reuse the
           * connection */
          pipeline_fail (self, g_steal_pointer (&t->error));
          break;
        }
      /* The reply that failed the transaction stays its last reply */
      transact_finish (self, t, g_steal_pointer (&t->error));
      break;

    case EXPECT_DOT:
    default:
      transact_finish (self, t, g_steal_pointer (&t->error));
      break;
    }

  if (!self->is_broken)
    pipeline_advance (self);
}

/* Replies already received are handled one after the other (each may
 * start the next content); the transactions they finished are returned
 * when the outermost call is done. */
static void
on_pipeline_reply (SmtpClientConnection *self,
                   SmtpClientReply      *reply,
                   GError               *error)
{
  g_autoptr(SmtpClientConnection) keep = g_object_ref (self);

  self->reply_depth++;
  handle_pipeline_reply (self, reply, error);
  if (--self->reply_depth > 0)
    return;

  pipeline_return_finished (self);
  /* Once per batch of replies: re-arming reads the clock */
  pipeline_update_timer (self);
}

/* Start what can start and read what is due.  Safe to call again from a
 * callback it triggers.  The caller updates the timer. */
static void
pipeline_advance (SmtpClientConnection *self)
{
  for (;;)
    {
      Transact *head = g_queue_peek_head (&self->transacts);
      Transact *next;

      if (head == NULL)
        {
          pipeline_idle (self);
          return;
        }

      if (head->state == TRANSACT_QUEUED)
        {
          if (!start_envelope (self, head))
            continue;
          pipeline_flush (self);
          continue;
        }

      /* The end of data is out: the next envelope may follow it */
      next = g_queue_peek_nth (&self->transacts, 1);
      if (head->state == TRANSACT_FINAL && next != NULL &&
          next->state == TRANSACT_QUEUED &&
          offers (self, EXTENSION_PIPELINING))
        {
          if (start_envelope (self, next))
            pipeline_flush (self);
          continue;
        }

      break;
    }

  if (!self->is_broken)
    pipeline_read (self);
}

/* Whether anything came from the server while nothing was asked of it:
 * data, or the end of the stream.  Looks without waiting. */
static gboolean
server_spoke_unasked (SmtpClientConnection *self)
{
  GInputStream *input = g_io_stream_get_input_stream (self->stream);

  if (g_buffered_input_stream_get_available (self->input) > 0 ||
      (self->replies != NULL && reader_has_data (self)))
    return TRUE;

  if (G_IS_POLLABLE_INPUT_STREAM (input) &&
      g_pollable_input_stream_can_poll (G_POLLABLE_INPUT_STREAM (input)))
    return g_pollable_input_stream_is_readable (G_POLLABLE_INPUT_STREAM (input));

  return FALSE;
}

void
smtp_client_connection_transact_async (SmtpClientConnection  *self,
                                       SmtpClientTransaction *transaction,
                                       GCancellable          *cancellable,
                                       GAsyncReadyCallback    callback,
                                       gpointer               user_data)
{
  g_autoptr(GTask) task = NULL;
  Transact *t;

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, smtp_client_connection_transact_async);

  g_clear_pointer (&transaction->refused, g_ptr_array_unref);
  transaction->refused = g_ptr_array_new_with_free_func (g_free);
  transaction->may_retry = FALSE;
  transaction->started = FALSE;

  if (!self->is_open || self->is_broken || self->stream == NULL ||
      self->op != NULL)
    {
      /* Nothing was sent: another connection may take it */
      transaction->may_retry = TRUE;
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CLOSED,
                               _("The connection is closed"));
      return;
    }

  if (g_task_return_error_if_cancelled (task))
    return;

  if (g_queue_is_empty (&self->transacts) && server_spoke_unasked (self))
    {
      /* While the connection was idle the server hung up or said
       * something on its way out (a 421 after its own idle timeout): the
       * transaction goes elsewhere, it was never attempted here */
      log_note (self, "the server closed the idle connection");
      self->is_broken = TRUE;
      transaction->may_retry = TRUE;
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                               _("The server closed the connection"));
      return;
    }

  t = g_new0 (Transact, 1);
  t->task = g_steal_pointer (&task);
  t->transaction = transaction;
  t->log_func = self->log_func;
  t->log_data = self->log_data;
  t->state = TRANSACT_QUEUED;
  if (cancellable != NULL)
    {
      t->cancellable = g_object_ref (cancellable);
      t->cancelled_id = g_cancellable_connect (cancellable,
                                               G_CALLBACK (on_transact_cancelled),
                                               self, NULL);
    }

  if (g_queue_is_empty (&self->transacts))
    update_extensions (self);
  if (self->op_cancellable == NULL)
    self->op_cancellable = g_cancellable_new ();
  g_queue_push_tail (&self->transacts, t);
  pipeline_advance (self);
  pipeline_update_timer (self);
}

gboolean
smtp_client_connection_transact_finish (SmtpClientConnection  *self,
                                        GAsyncResult          *result,
                                        GError               **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        smtp_client_connection_transact_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

gboolean
smtp_client_connection_can_transact (SmtpClientConnection *self)
{
  guint n = self->transacts.length;

  if (!self->is_open || self->is_broken || self->stream == NULL ||
      self->op != NULL)
    return FALSE;

  if (n == 0)
    return TRUE;

  return n < SMTP_CLIENT_CONNECTION_MAX_TRANSACTIONS &&
         offers (self, EXTENSION_PIPELINING);
}

/* ---------------------------------------------------------------------- */
/* QUIT */

static void
on_closed (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(SmtpClientConnection) self = user_data;

  g_io_stream_close_finish (G_IO_STREAM (source), result, NULL);
  if (self->op != NULL)
    op_succeed (self);
}

static void
on_quit_reply (SmtpClientConnection *self,
               SmtpClientReply      *reply,
               GError               *error)
{
  g_autoptr(SmtpClientReply) owned = reply;
  g_autoptr(GIOStream) stream = NULL;

  g_clear_error (&error);
  self->is_open = FALSE;
  self->is_broken = TRUE;

  if (self->stream == NULL)
    {
      op_succeed (self);
      return;
    }

  stream = g_object_ref (self->stream);
  g_clear_object (&self->input);
  g_clear_object (&self->output);
  g_clear_object (&self->stream);
  g_clear_object (&self->socket_connection);
  arm_timer (self);
  g_io_stream_close_async (stream, G_PRIORITY_DEFAULT, self->op_cancellable,
                           on_closed, g_object_ref (self));
}

void
smtp_client_connection_quit_async (SmtpClientConnection *self,
                                   GCancellable         *cancellable,
                                   GAsyncReadyCallback   callback,
                                   gpointer              user_data)
{
  g_autoptr(GTask) task = NULL;

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, smtp_client_connection_quit_async);

  if (self->stream == NULL || self->is_broken)
    {
      close_stream (self);
      g_task_return_boolean (task, TRUE);
      return;
    }

  op_begin (self, g_object_ref (task), cancellable);
  g_string_truncate (self->outbuf, 0);
  queue_command (self, "QUIT", NULL);
  send_and_read (self, on_quit_reply);
}

gboolean
smtp_client_connection_quit_finish (SmtpClientConnection  *self,
                                    GAsyncResult          *result,
                                    GError               **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        smtp_client_connection_quit_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---------------------------------------------------------------------- */

guint
smtp_client_connection_get_reply_code (SmtpClientConnection *self)
{
  return self->reply_code;
}

const char *
smtp_client_connection_get_reply (SmtpClientConnection *self)
{
  return self->reply;
}

gboolean
smtp_client_connection_is_reusable (SmtpClientConnection *self)
{
  return self->is_open && !self->is_broken && self->stream != NULL &&
         self->op == NULL && g_queue_is_empty (&self->transacts);
}

void
smtp_client_connection_set_log_func (SmtpClientConnection *self,
                                     SmtpClientLogFunc     func,
                                     gpointer              user_data)
{
  self->log_func = func;
  self->log_data = user_data;
}

void
smtp_client_connection_set_accept_certificate_func (SmtpClientConnection            *self,
                                                    SmtpClientAcceptCertificateFunc  func,
                                                    gpointer                         user_data)
{
  self->accept_func = func;
  self->accept_data = user_data;
}

SmtpClientConnection *
smtp_client_connection_new (SmtpClientSettings *settings)
{
  SmtpClientConnection *self = g_object_new (SMTP_CLIENT_TYPE_CONNECTION, NULL);

  self->settings = smtp_client_settings_ref (settings);
  self->context = g_main_context_ref_thread_default ();

  return self;
}

static void
smtp_client_connection_dispose (GObject *object)
{
  SmtpClientConnection *self = SMTP_CLIENT_CONNECTION (object);

  if (self->op_cancellable != NULL)
    g_cancellable_cancel (self->op_cancellable);
  close_stream (self);

  G_OBJECT_CLASS (smtp_client_connection_parent_class)->dispose (object);
}

static void
smtp_client_connection_finalize (GObject *object)
{
  SmtpClientConnection *self = SMTP_CLIENT_CONNECTION (object);

  destroy_timer (self);
  /* Every transaction holds the connection until it returns */
  g_assert (g_queue_is_empty (&self->transacts));
  g_assert (g_queue_is_empty (&self->finished));
  if (self->content_source != NULL)
    {
      g_source_destroy (self->content_source);
      g_clear_pointer (&self->content_source, g_source_unref);
    }
  g_clear_pointer (&self->expects, g_array_unref);
  reader_stop (self);
  g_clear_pointer (&self->replies, g_free);
  g_clear_pointer (&self->out, g_byte_array_unref);
  g_clear_pointer (&self->busy, g_byte_array_unref);
  g_clear_pointer (&self->content_buffer, g_free);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_clear_pointer (&self->sasl, smtp_client_sasl_free);
  g_clear_error (&self->pending_error);
  g_clear_pointer (&self->parser, smtp_client_reply_parser_free);
  g_clear_pointer (&self->capabilities, smtp_client_capabilities_free);
  g_clear_pointer (&self->reply, g_free);
  g_string_free (self->outbuf, TRUE);
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
  self->parser = smtp_client_reply_parser_new ();
  self->outbuf = g_string_new (NULL);
}

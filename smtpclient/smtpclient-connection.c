/* smtpclient-connection.c: the SMTP protocol engine on one socket
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One operation (open, transact, quit) runs at a time.  Each is a GTask
 * whose steps pass the operation's cancellable on and end by starting the
 * next step or returning exactly once.  Replies are read by our own line
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

typedef struct _Upload Upload;

typedef enum
{
  COMMAND_MAIL,
  COMMAND_RCPT,
  COMMAND_DATA,
} CommandKind;

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

  /* transact */
  SmtpClientTransaction  *transaction;
  GPtrArray              *commands;    /* of CommandKind, as GUINT_TO_POINTER */
  GPtrArray              *command_recipients;
  guint                   next_reply;
  guint                   accepted;
  GError                 *mail_error;
  GError                 *rcpt_error;
  GError                 *data_error;
  gboolean                data_accepted;
  gboolean                pipelined;
  char                   *rcpt_parameters; /* " NOTIFY=..." or "" */
  Upload                 *upload;

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

  if (self->log_func == NULL && self->settings->debug == 0)
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

  if (self->log_func != NULL)
    self->log_func (line, self->log_data);
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

  if (self->transaction != NULL)
    {
      self->transaction->reply_code = self->reply_code;
      g_free (self->transaction->reply);
      self->transaction->reply = g_strdup (self->reply);
    }
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
/* Timer and operation life cycle */

static gboolean
on_timer_fired (gpointer user_data)
{
  SmtpClientConnection *self = user_data;

  self->timed_out = TRUE;
  self->is_broken = TRUE;
  g_clear_pointer (&self->timer, g_source_unref);
  if (self->op_cancellable != NULL)
    g_cancellable_cancel (self->op_cancellable);

  return G_SOURCE_REMOVE;
}

static void
disarm_timer (SmtpClientConnection *self)
{
  if (self->timer != NULL)
    {
      g_source_destroy (self->timer);
      g_clear_pointer (&self->timer, g_source_unref);
    }
}

static void
arm_timer (SmtpClientConnection *self)
{
  disarm_timer (self);

  if (self->settings->timeout == 0)
    return;

  self->timer = g_timeout_source_new_seconds (self->settings->timeout);
  g_source_set_callback (self->timer, on_timer_fired, self, NULL);
  g_source_set_static_name (self->timer, "[smtpclient] idle timeout");
  g_source_attach (self->timer, g_task_get_context (self->op));
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
      SmtpClientReplyParseResult result;

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
      log_line (self, "<- ", buffer,
                length > 0 && buffer[length - 1] == '\r' ? length - 1 : length);
      result = smtp_client_reply_parser_feed_line (self->parser, buffer, length,
                                                   &reply, &error);
      /* Data already in the buffer: this does not block. */
      g_input_stream_skip (G_INPUT_STREAM (self->input), length + 1, NULL, NULL);

      switch (result)
        {
        case SMTP_CLIENT_REPLY_PARSE_MORE:
          break;
        case SMTP_CLIENT_REPLY_PARSE_COMPLETE:
          reply_done (self, reply, NULL);
          return TRUE;
        case SMTP_CLIENT_REPLY_PARSE_ERROR:
        default:
          reply_done (self, NULL, error);
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

      if (smtp_client_reply_get_class (reply) != 4 &&
          smtp_client_reply_get_class (reply) != 5)
        {
          op_fail (self, protocol_error (reply, "STARTTLS"));
          return;
        }

      /* STARTTLS offered but refused: with STARTTLS_IF_AVAILABLE too, we do
       * not go on in plain text after the server said it could do TLS. */
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
      if (!smtp_client_sasl_check_success (self->sasl, &sasl_error))
        {
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
/* Transaction */

struct _Upload
{
  SmtpClientConnection  *connection;  /* owned */
  gboolean               finished;    /* the transaction has ended */
  gboolean               sent_all;    /* the end of data went out */
  gboolean               reading;     /* the content stream read is pending */
  gboolean               writing;
  SmtpClientDataEncoder  encoder;
  guint8                *in_buffer;
  guint8                *out_buffer;
  gint64                 last_progress;
};

static void
upload_free (Upload *upload)
{
  g_free (upload->in_buffer);
  g_free (upload->out_buffer);
  g_clear_object (&upload->connection);
  g_free (upload);
}

static void
clear_transaction_state (SmtpClientConnection *self)
{
  g_clear_pointer (&self->commands, g_ptr_array_unref);
  g_clear_pointer (&self->command_recipients, g_ptr_array_unref);
  g_clear_error (&self->mail_error);
  g_clear_error (&self->rcpt_error);
  g_clear_error (&self->data_error);
  g_clear_pointer (&self->rcpt_parameters, g_free);
  if (self->upload != NULL)
    {
      self->upload->finished = TRUE;
      if (!self->upload->reading && !self->upload->writing)
        upload_free (self->upload);
      /* else: freed by the pending callback */
      self->upload = NULL;
    }
  self->transaction = NULL;
  self->next_reply = 0;
  self->accepted = 0;
  self->data_accepted = FALSE;
}

static void
transaction_fail (SmtpClientConnection *self,
                  GError               *error)
{
  clear_transaction_state (self);
  op_fail (self, error);
}

static void
transaction_succeed (SmtpClientConnection *self)
{
  clear_transaction_state (self);
  op_succeed (self);
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

static void on_rset_reply (SmtpClientConnection *self,
                           SmtpClientReply      *reply,
                           GError               *error);

/* The transaction failed with @error (transfer full) while the
 * conversation is still in step: RSET, then fail. */
static void
reset_and_fail (SmtpClientConnection *self,
                GError               *error)
{
  g_clear_error (&self->pending_error);
  self->pending_error = error;
  /* The reply that failed the transaction stays its last reply */
  self->transaction = NULL;
  queue_command (self, "RSET", NULL);
  send_and_read (self, on_rset_reply);
}

static void
on_rset_reply (SmtpClientConnection *self,
               SmtpClientReply      *reply,
               GError               *error)
{
  g_autoptr(SmtpClientReply) owned = reply;
  GError *pending = g_steal_pointer (&self->pending_error);

  if (error != NULL || smtp_client_reply_get_class (reply) != 2)
    {
      /* The server is out of step with us: do not reuse the connection. */
      g_clear_error (&error);
      self->is_broken = TRUE;
      clear_transaction_state (self);
      smtp_client_connection_abort (self);
      op_fail (self, pending);
      return;
    }

  /* Keep the transaction's last reply the one that failed it */
  transaction_fail (self, pending);
}

static void upload_next (Upload *upload);

static void
report_progress (Upload   *upload,
                 gboolean  force)
{
  SmtpClientTransaction *transaction = upload->connection->transaction;
  gint64 now;

  if (transaction == NULL || transaction->progress_func == NULL)
    return;

  now = g_get_monotonic_time ();
  if (!force && now - upload->last_progress < G_USEC_PER_SEC / 10)
    return;

  upload->last_progress = now;
  transaction->progress_func (upload->encoder.bytes_in,
                              transaction->content_size,
                              transaction->progress_data);
}

static void
on_final_reply (SmtpClientConnection *self,
                SmtpClientReply      *reply,
                GError               *error)
{
  g_autoptr(SmtpClientReply) owned = reply;
  Upload *upload = self->upload;

  if (upload == NULL || upload->finished)
    {
      g_clear_error (&error);
      return;
    }

  if (!upload->sent_all)
    {
      /* An early reply, or the connection died, while we were still
       * uploading: stop the upload; the server's state is unknown. */
      upload->finished = TRUE;
      self->is_broken = TRUE;
      if (error != NULL)
        {
          transaction_fail (self, error);
          return;
        }

      if (smtp_client_reply_get_class (reply) == 4 ||
          smtp_client_reply_get_class (reply) == 5)
        transaction_fail (self, server_error (reply,
                                              _("The server refused the "
                                                "message while it was being "
                                                "sent")));
      else
        transaction_fail (self, protocol_error (reply,
                                                _("reply before the end of "
                                                  "the message")));
      return;
    }

  if (error != NULL)
    {
      transaction_fail (self, error);
      return;
    }

  if (smtp_client_reply_get_class (reply) == 2)
    {
      transaction_succeed (self);
      return;
    }

  if (smtp_client_reply_get_class (reply) == 4 ||
      smtp_client_reply_get_class (reply) == 5)
    {
      /* After the end of data the transaction is over: no RSET needed */
      transaction_fail (self, server_error (reply,
                                            _("The server refused the "
                                              "message")));
      return;
    }

  transaction_fail (self, protocol_error (reply, _("end of data")));
}

static void
on_content_written (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  Upload *upload = user_data;
  SmtpClientConnection *self = upload->connection;
  GError *error = NULL;

  upload->writing = FALSE;
  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result,
                                         NULL, &error))
    {
      if (upload->finished)
        {
          g_clear_error (&error);
          if (!upload->reading)
            upload_free (upload);
          return;
        }
      upload->finished = TRUE;
      transaction_fail (self, error);
      return;
    }

  if (upload->finished)
    {
      if (!upload->reading)
        upload_free (upload);
      return;
    }

  if (upload->sent_all)
    {
      report_progress (upload, TRUE);
      /* The reader has been waiting since DATA; now the wait is timed. */
      arm_timer (self);
      return;
    }

  report_progress (upload, FALSE);
  upload_next (upload);
}

static void
write_content (Upload *upload,
               gsize   length)
{
  SmtpClientConnection *self = upload->connection;

  upload->writing = TRUE;
  arm_timer (self);
  g_output_stream_write_all_async (self->output, upload->out_buffer, length,
                                   G_PRIORITY_DEFAULT, self->op_cancellable,
                                   on_content_written, upload);
}

static void
on_content_read (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Upload *upload = user_data;
  SmtpClientConnection *self = upload->connection;
  GError *error = NULL;
  gssize n;
  gsize length;

  upload->reading = FALSE;
  n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);

  if (upload->finished)
    {
      g_clear_error (&error);
      if (!upload->writing)
        upload_free (upload);
      return;
    }

  if (n < 0)
    {
      upload->finished = TRUE;
      /* Half a message must never be delivered: drop the connection
       * without the end-of-data mark, the server discards what it got. */
      self->is_broken = TRUE;
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          GError *file_error = g_error_new (SMTP_CLIENT_ERROR,
                                            SMTP_CLIENT_ERROR_MESSAGE_FILE,
                                            _("Could not read the message: %s"),
                                            error->message);
          g_error_free (error);
          error = file_error;
        }
      smtp_client_connection_abort (self);
      transaction_fail (self, error);
      return;
    }

  if (n == 0)
    {
      g_autofree char *summary = NULL;

      length = smtp_client_data_encoder_finish (&upload->encoder,
                                                upload->out_buffer);
      upload->sent_all = TRUE;
      /* Logged in wire order: before the server can answer it */
      summary = g_strdup_printf ("[message: %" G_GUINT64_FORMAT " bytes]",
                                 upload->encoder.bytes_in);
      log_line (self, "-> ", summary, -1);
    }
  else
    {
      length = smtp_client_data_encoder_encode (&upload->encoder,
                                                upload->in_buffer, n,
                                                upload->out_buffer);
    }

  write_content (upload, length);
}

static void
upload_next (Upload *upload)
{
  SmtpClientConnection *self = upload->connection;

  upload->reading = TRUE;
  /* Reading local content is not a wait on the server: no timer. */
  disarm_timer (self);
  g_input_stream_read_async (self->transaction->content, upload->in_buffer,
                             CONTENT_CHUNK_SIZE, G_PRIORITY_DEFAULT,
                             self->op_cancellable, on_content_read, upload);
}

static void
start_upload (SmtpClientConnection *self)
{
  Upload *upload = g_new0 (Upload, 1);

  upload->connection = g_object_ref (self);
  upload->in_buffer = g_malloc (CONTENT_CHUNK_SIZE);
  upload->out_buffer = g_malloc (SMTP_CLIENT_DATA_ENCODER_MAX_OUTPUT (CONTENT_CHUNK_SIZE) +
                                 SMTP_CLIENT_DATA_ENCODER_MAX_FINISH);
  upload->last_progress = g_get_monotonic_time ();
  smtp_client_data_encoder_init (&upload->encoder);
  self->upload = upload;

  /* Listen for an early reply while the content goes out */
  read_reply (self, FALSE, on_final_reply);
  upload_next (upload);
}

static void on_envelope_reply (SmtpClientConnection *self,
                               SmtpClientReply      *reply,
                               GError               *error);

static void
queue_recipient (SmtpClientConnection *self,
                 guint                 index)
{
  const char *recipient = g_ptr_array_index (self->command_recipients, index);
  g_autofree char *rcpt = g_strdup_printf ("RCPT TO:<%s>%s", recipient,
                                           self->rcpt_parameters);

  queue_command (self, rcpt, NULL);
}

static void
decide_after_envelope (SmtpClientConnection *self)
{
  SmtpClientTransaction *transaction = self->transaction;
  GError *error = NULL;

  if (self->mail_error != NULL)
    error = g_steal_pointer (&self->mail_error);
  else if (self->accepted == 0 && self->rcpt_error != NULL)
    error = g_steal_pointer (&self->rcpt_error);
  else if (self->rcpt_error != NULL && !transaction->allow_refused_recipients)
    error = g_steal_pointer (&self->rcpt_error);
  else if (self->data_error != NULL)
    error = g_steal_pointer (&self->data_error);

  if (error == NULL)
    {
      if (self->data_accepted)
        {
          start_upload (self);
          return;
        }

      /* Not pipelined: DATA comes now */
      g_ptr_array_add (self->commands, GUINT_TO_POINTER (COMMAND_DATA));
      g_ptr_array_add (self->command_recipients, NULL);
      queue_command (self, "DATA", NULL);
      send_and_read (self, on_envelope_reply);
      return;
    }

  if (self->data_accepted)
    {
      /* Pipelined DATA was accepted although we must not send: ending the
       * data would deliver an empty message, so drop the connection; the
       * server discards the transaction. */
      log_note (self, "closing the connection to abandon the transaction");
      smtp_client_connection_abort (self);
      transaction_fail (self, error);
      return;
    }

  reset_and_fail (self, error);
}

static void
on_envelope_reply (SmtpClientConnection *self,
                   SmtpClientReply      *reply,
                   GError               *error)
{
  g_autoptr(SmtpClientReply) owned = reply;
  SmtpClientTransaction *transaction = self->transaction;
  CommandKind kind;
  guint index = self->next_reply++;

  if (error != NULL)
    {
      /* The server's own word, if it already refused something, explains
       * the failure better than the broken connection that followed */
      GError *earlier = self->mail_error != NULL ? g_steal_pointer (&self->mail_error)
                                                 : g_steal_pointer (&self->rcpt_error);

      if (earlier != NULL)
        {
          g_error_free (error);
          error = earlier;
        }
      self->is_broken = TRUE;
      transaction_fail (self, error);
      return;
    }

  if (reply->code == 421)
    {
      /* The server is shutting the connection down (RFC 5321 §3.8) */
      self->is_broken = TRUE;
      transaction_fail (self, server_error (reply, _("The server is closing "
                                                     "the connection")));
      return;
    }

  kind = GPOINTER_TO_UINT (g_ptr_array_index (self->commands, index));
  switch (kind)
    {
    case COMMAND_MAIL:
      if (smtp_client_reply_get_class (reply) != 2)
        {
          if (smtp_client_reply_get_class (reply) == 4 ||
              smtp_client_reply_get_class (reply) == 5)
            self->mail_error = server_error (reply, _("The server refused the sender"));
          else
            self->mail_error = protocol_error (reply, "MAIL");
        }
      break;

    case COMMAND_RCPT:
      {
        const char *recipient = g_ptr_array_index (self->command_recipients, index);

        if (smtp_client_reply_get_class (reply) == 2)
          {
            self->accepted++;
          }
        else if (self->mail_error == NULL)
          {
            g_ptr_array_add (transaction->refused, g_strdup (recipient));
            if (smtp_client_reply_get_class (reply) != 4 &&
                smtp_client_reply_get_class (reply) != 5)
              {
                if (self->rcpt_error == NULL)
                  self->rcpt_error = protocol_error (reply, "RCPT");
              }
            else if (self->rcpt_error == NULL)
              {
                g_autofree char *what = g_strdup_printf (_("The server refused "
                                                           "the recipient <%s>"),
                                                         recipient);
                self->rcpt_error = server_error (reply, what);
              }
          }
      }
      break;

    case COMMAND_DATA:
    default:
      if (reply->code == 354)
        self->data_accepted = TRUE;
      else if (smtp_client_reply_get_class (reply) == 4 ||
               smtp_client_reply_get_class (reply) == 5)
        self->data_error = server_error (reply, _("The server refused DATA"));
      else
        self->data_error = protocol_error (reply, "DATA");
      break;
    }

  if (!self->pipelined)
    {
      if (kind == COMMAND_MAIL && self->mail_error != NULL)
        {
          /* No RCPT after a refused MAIL */
          reset_and_fail (self, g_steal_pointer (&self->mail_error));
          return;
        }

      if (kind == COMMAND_DATA)
        {
          if (self->data_accepted)
            start_upload (self);
          else
            reset_and_fail (self, g_steal_pointer (&self->data_error));
          return;
        }

      if (self->next_reply < self->commands->len)
        {
          queue_recipient (self, self->next_reply);
          send_and_read (self, on_envelope_reply);
          return;
        }
    }
  else if (self->next_reply < self->commands->len)
    {
      read_reply (self, TRUE, on_envelope_reply);
      return;
    }

  decide_after_envelope (self);
}

static void
on_pipelined_written (SmtpClientConnection *self,
                      GError               *error)
{
  if (error != NULL)
    {
      transaction_fail (self, error);
      return;
    }

  read_reply (self, TRUE, on_envelope_reply);
}

void
smtp_client_connection_transact_async (SmtpClientConnection  *self,
                                       SmtpClientTransaction *transaction,
                                       GCancellable          *cancellable,
                                       GAsyncReadyCallback    callback,
                                       gpointer               user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GString) mail = NULL;
  gboolean needs_smtputf8 = !is_ascii (transaction->from);
  gboolean has_dsn = has_extension (self, "DSN");
  gboolean pipelining = has_extension (self, "PIPELINING");
  guint64 size_limit = 0;
  g_autofree char *notify = NULL;

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, smtp_client_connection_transact_async);
  op_begin (self, g_object_ref (task), cancellable);

  self->transaction = transaction;
  g_clear_pointer (&transaction->refused, g_ptr_array_unref);
  transaction->refused = g_ptr_array_new_with_free_func (g_free);
  self->commands = g_ptr_array_new ();
  self->command_recipients = g_ptr_array_new ();

  for (guint i = 0; transaction->recipients[i] != NULL; i++)
    if (!is_ascii (transaction->recipients[i]))
      needs_smtputf8 = TRUE;

  if (needs_smtputf8 && !has_extension (self, "SMTPUTF8"))
    {
      transaction_fail (self, g_error_new_literal (SMTP_CLIENT_ERROR,
                                                   SMTP_CLIENT_ERROR_NOT_SUPPORTED,
                                                   _("An address is not ASCII "
                                                     "and the server does not "
                                                     "offer SMTPUTF8")));
      return;
    }

  if (self->capabilities != NULL)
    size_limit = smtp_client_capabilities_get_size_limit (self->capabilities);
  if (size_limit > 0 && transaction->content_size > size_limit)
    {
      transaction_fail (self, g_error_new (SMTP_CLIENT_ERROR,
                                           SMTP_CLIENT_ERROR_MESSAGE_TOO_LARGE,
                                           _("The message (%" G_GUINT64_FORMAT
                                             " bytes) is larger than the "
                                             "server accepts (%" G_GUINT64_FORMAT
                                             " bytes)"),
                                           transaction->content_size,
                                           size_limit));
      return;
    }

  mail = g_string_new (NULL);
  g_string_append_printf (mail, "MAIL FROM:<%s>", transaction->from);
  if (has_extension (self, "SIZE") && transaction->content_size > 0)
    g_string_append_printf (mail, " SIZE=%" G_GUINT64_FORMAT,
                            transaction->content_size);
  if (has_extension (self, "8BITMIME") &&
      (!transaction->content_is_7bit || needs_smtputf8))
    g_string_append (mail, " BODY=8BITMIME");
  if (needs_smtputf8)
    g_string_append (mail, " SMTPUTF8");

  if (transaction->dsn_notify != 0 ||
      transaction->dsn_return != SMTP_CLIENT_DSN_RETURN_DEFAULT ||
      transaction->dsn_envelope_id != NULL)
    {
      if (!has_dsn)
        log_line (self, "-- ", "DSN not offered by the server: NOTIFY, RET "
                               "and ENVID left out", -1);
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

  g_ptr_array_add (self->commands, GUINT_TO_POINTER (COMMAND_MAIL));
  g_ptr_array_add (self->command_recipients, NULL);
  queue_command (self, mail->str, NULL);

  self->pipelined = pipelining;
  self->rcpt_parameters = notify != NULL ? g_strconcat (" NOTIFY=", notify, NULL)
                                         : g_strdup ("");
  for (guint i = 0; transaction->recipients[i] != NULL; i++)
    {
      g_ptr_array_add (self->commands, GUINT_TO_POINTER (COMMAND_RCPT));
      g_ptr_array_add (self->command_recipients,
                       (gpointer) transaction->recipients[i]);
    }

  if (!pipelining)
    {
      /* One command at a time: each RCPT goes out when the previous reply
       * is in (see on_envelope_reply), DATA when all are. */
      send_and_read (self, on_envelope_reply);
      return;
    }

  /* RFC 2920: MAIL, every RCPT and DATA in one write */
  for (guint i = 1; i < self->commands->len; i++)
    queue_recipient (self, i);
  g_ptr_array_add (self->commands, GUINT_TO_POINTER (COMMAND_DATA));
  g_ptr_array_add (self->command_recipients, NULL);
  queue_command (self, "DATA", NULL);

  flush_commands (self, on_pipelined_written);
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
         self->op == NULL;
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

  disarm_timer (self);
  clear_transaction_state (self);
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

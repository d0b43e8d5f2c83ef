/* smtpclient-test-server.c: an in-process scripted SMTP server
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * See smtpclient-test-server.h for the script language.  The accepting
 * loop runs in a thread of its own (its own GMainContext); each connection
 * is played in a worker thread of the GThreadedSocketService with blocking
 * I/O whose every wait is bounded by the socket's timeout.  What the
 * threads share (the connection records, the messages) is behind one
 * mutex.
 */

#include "config.h"

#include "smtpclient-test-server.h"
#include "smtpclient-test-server-private.h"
#include "smtpclient-test-certs.h"
#include "smtpclient-test-utils.h"

#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

typedef enum
{
  DIRECTIVE_SEND,
  DIRECTIVE_SEND_RAW,
  DIRECTIVE_SEND_BYTES,
  DIRECTIVE_SEND_LONG,
  DIRECTIVE_EXPECT,
  DIRECTIVE_DATA,
  DIRECTIVE_PART,
  DIRECTIVE_ANY,
  DIRECTIVE_SLEEP,
  DIRECTIVE_CLOSE,
  DIRECTIVE_RESET,
  DIRECTIVE_EXPECT_CLOSE,
  DIRECTIVE_STARTTLS,
  DIRECTIVE_TLS,
  DIRECTIVE_SERVE,
  DIRECTIVE_SCRAM,
} DirectiveKind;

typedef struct
{
  DirectiveKind  kind;
  char          *text;     /* what follows the directive */
  guint          number;   /* SLONG, SLEEP */
  guint          line;     /* in the script, for messages */
} Directive;

/* ---------------------------------------------------------------------- */
/* The script */

static void
directive_free (Directive *directive)
{
  g_free (directive->text);
  g_free (directive);
}

static GPtrArray *
parse_script (const char *script)
{
  g_auto(GStrv) lines = g_strsplit (script, "\n", -1);
  GPtrArray *parts = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
  GPtrArray *part = g_ptr_array_new_with_free_func ((GDestroyNotify) directive_free);
  static const struct
  {
    const char    *name;
    DirectiveKind  kind;
    gboolean       has_text;
  } names[] = {
    { "S", DIRECTIVE_SEND, TRUE },
    { "SRAW", DIRECTIVE_SEND_RAW, TRUE },
    { "SBYTES", DIRECTIVE_SEND_BYTES, TRUE },
    { "SLONG", DIRECTIVE_SEND_LONG, TRUE },
    { "C", DIRECTIVE_EXPECT, TRUE },
    { "CDATA", DIRECTIVE_DATA, FALSE },
    { "CPART", DIRECTIVE_PART, FALSE },
    { "CANY", DIRECTIVE_ANY, FALSE },
    { "SLEEP", DIRECTIVE_SLEEP, TRUE },
    { "CLOSE", DIRECTIVE_CLOSE, FALSE },
    { "RESET", DIRECTIVE_RESET, FALSE },
    { "EXPECT-CLOSE", DIRECTIVE_EXPECT_CLOSE, FALSE },
    { "STARTTLS", DIRECTIVE_STARTTLS, FALSE },
    { "TLS", DIRECTIVE_TLS, FALSE },
    { "SERVE", DIRECTIVE_SERVE, TRUE },
    { "SCRAM", DIRECTIVE_SCRAM, TRUE },
  };

  g_ptr_array_add (parts, part);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *line = lines[i];
      const char *space;
      g_autofree char *name = NULL;
      Directive *directive = NULL;

      while (*line == ' ' || *line == '\t')
        line++;
      if (*line == '\0' || *line == '#')
        continue;

      if (g_str_equal (line, "==="))
        {
          part = g_ptr_array_new_with_free_func ((GDestroyNotify) directive_free);
          g_ptr_array_add (parts, part);
          continue;
        }

      space = strchr (line, ' ');
      name = space != NULL ? g_strndup (line, space - line) : g_strdup (line);
      for (gsize k = 0; k < G_N_ELEMENTS (names); k++)
        if (g_str_equal (name, names[k].name))
          {
            directive = g_new0 (Directive, 1);
            directive->kind = names[k].kind;
            directive->line = i + 1;
            directive->text = g_strdup (space != NULL ? space + 1 : "");
          }
      if (directive == NULL)
        g_error ("test server script, line %u: unknown directive “%s”",
                 i + 1, name);

      if (directive->kind == DIRECTIVE_SEND_LONG ||
          directive->kind == DIRECTIVE_SLEEP)
        {
          char *end = NULL;
          guint64 number = g_ascii_strtoull (directive->text, &end, 10);

          if (end == directive->text)
            g_error ("test server script, line %u: a number is missing",
                     i + 1);
          directive->number = (guint) number;
          if (directive->kind == DIRECTIVE_SEND_LONG)
            {
              char *text = g_strdup (*end == ' ' ? end + 1 : end);

              g_free (directive->text);
              directive->text = text;
            }
        }
      g_ptr_array_add (part, directive);
    }

  return parts;
}

/* C escapes \r \n \t \\ \xHH */
static GBytes *
unescape (const char *text)
{
  GByteArray *out = g_byte_array_new ();

  for (const char *p = text; *p != '\0'; p++)
    {
      guint8 c = (guint8) *p;

      if (c == '\\' && p[1] != '\0')
        {
          p++;
          switch (*p)
            {
            case 'r': c = '\r'; break;
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'x':
              if (g_ascii_isxdigit (p[1]) && g_ascii_isxdigit (p[2]))
                {
                  c = (guint8) (g_ascii_xdigit_value (p[1]) * 16 +
                                g_ascii_xdigit_value (p[2]));
                  p += 2;
                }
              break;
            default: c = (guint8) *p; break;
            }
        }
      g_byte_array_append (out, &c, 1);
    }

  return g_byte_array_free_to_bytes (out);
}

/* ---------------------------------------------------------------------- */
/* A connection's I/O: blocking, every wait bounded by the socket timeout */

void
peer_fail (Peer       *peer,
           guint       line,
           const char *format,
           ...)
{
  SmtpTestScriptServer *server = peer->server;
  g_autofree char *text = NULL;
  va_list args;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);

  g_mutex_lock (&server->mutex);
  if (server->failure == NULL && !server->stopping)
    server->failure = g_strdup_printf ("connection %u, line %u: %s",
                                       peer->record->index, line, text);
  g_mutex_unlock (&server->mutex);
  g_test_message ("test server: connection %u, line %u: %s",
                  peer->record->index, line, text);
}

/* Receive once more; FALSE at the end, on an error or a time-out */
gboolean
peer_receive (Peer *peer)
{
  g_autoptr(GError) error = NULL;
  guint8 chunk[16384];
  gssize n;

  if (peer->eof || peer->timed_out || peer->closed)
    return FALSE;

  n = g_input_stream_read (g_io_stream_get_input_stream (peer->stream),
                           chunk, sizeof chunk, NULL, &error);
  if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    {
      peer->timed_out = TRUE;
      return FALSE;
    }
  if (n <= 0)
    {
      peer->eof = TRUE;
      return FALSE;
    }

  g_byte_array_append (peer->buffer, chunk, n);
  g_mutex_lock (&peer->server->mutex);
  g_byte_array_append (peer->record->received, chunk, n);
  g_mutex_unlock (&peer->server->mutex);
  return TRUE;
}

/* The next line, without its CR LF; NULL at the end or on a time-out */
char *
peer_read_line (Peer *peer)
{
  for (;;)
    {
      const guint8 *start = peer->buffer->data + peer->taken;
      gsize available = peer->buffer->len - peer->taken;
      const guint8 *newline = available > 0 ? memchr (start, '\n', available)
                                            : NULL;

      if (newline != NULL)
        {
          gsize length = newline - start;
          char *line;

          if (length > 0 && start[length - 1] == '\r')
            line = g_strndup ((const char *) start, length - 1);
          else
            line = g_strndup ((const char *) start, length);
          /* Taken without moving the rest each time (a message is many
           * lines in one read) */
          peer->taken += length + 1;
          if (peer->taken == peer->buffer->len)
            {
              g_byte_array_set_size (peer->buffer, 0);
              peer->taken = 0;
            }
          return line;
        }

      if (peer->taken > 0)
        {
          g_byte_array_remove_range (peer->buffer, 0, peer->taken);
          peer->taken = 0;
        }

      if (!peer_receive (peer))
        return NULL;
    }
}

/* Exactly @length bytes (a BDAT chunk); NULL at the end or on a time-out */
GBytes *
peer_read_bytes (Peer  *peer,
                 gsize  length)
{
  while (peer->buffer->len - peer->taken < length)
    {
      if (peer->taken > 0)
        {
          g_byte_array_remove_range (peer->buffer, 0, peer->taken);
          peer->taken = 0;
        }
      if (!peer_receive (peer))
        return NULL;
    }

  {
    GBytes *bytes = g_bytes_new (peer->buffer->data + peer->taken, length);

    peer->taken += length;
    if (peer->taken == peer->buffer->len)
      {
        g_byte_array_set_size (peer->buffer, 0);
        peer->taken = 0;
      }
    return bytes;
  }
}

/* Lines kept as commands, at most (content read as lines after a fault
 * is not worth keeping) */
#define MAX_COMMANDS 1000

void
peer_note_command (Peer       *peer,
                   const char *line)
{
  g_mutex_lock (&peer->server->mutex);
  if (peer->record->commands->len < MAX_COMMANDS)
    g_ptr_array_add (peer->record->commands, g_strdup (line));
  g_mutex_unlock (&peer->server->mutex);
}

/* Read what the client still sends until it closes (or the wait ends),
 * its lines kept as commands */
static void
peer_drain (Peer *peer)
{
  for (;;)
    {
      g_autofree char *line = peer_read_line (peer);

      if (line == NULL)
        return;
      peer_note_command (peer, line);
    }
}

gboolean
peer_send (Peer         *peer,
           const guint8 *data,
           gsize         length)
{
  if (peer->closed)
    return FALSE;

  /* Sending to a client that has gone away is not a failure: a test may
   * want to see the client give up */
  return g_output_stream_write_all (g_io_stream_get_output_stream (peer->stream),
                                    data, length, NULL, NULL, NULL);
}

gboolean
peer_send_line (Peer       *peer,
                const char *text)
{
  g_autofree char *line = g_strconcat (text, "\r\n", NULL);

  return peer_send (peer, (const guint8 *) line, strlen (line));
}

void
peer_close (Peer     *peer,
            gboolean  reset)
{
  if (peer->closed)
    return;

  if (reset)
    {
      struct linger linger = { 1, 0 };

      /* An RST instead of a FIN */
      setsockopt (g_socket_get_fd (peer->socket), SOL_SOCKET, SO_LINGER,
                  &linger, sizeof linger);
    }
  g_socket_close (peer->socket, NULL);
  peer->closed = TRUE;
}

/* Message content through the line ".", dot-stuffing undone; NULL when
 * it did not end */
GBytes *
peer_read_content (Peer *peer)
{
  GByteArray *content = g_byte_array_new ();

  for (;;)
    {
      g_autofree char *line = peer_read_line (peer);
      const char *text = line;

      if (line == NULL)
        {
          g_byte_array_unref (content);
          return NULL;
        }
      if (g_str_equal (line, "."))
        return g_byte_array_free_to_bytes (content);
      if (text[0] == '.')
        text++;
      g_byte_array_append (content, (const guint8 *) text, strlen (text));
      g_byte_array_append (content, (const guint8 *) "\r\n", 2);
    }
}

void
peer_keep_message (Peer   *peer,
                   GBytes *content)
{
  g_mutex_lock (&peer->server->mutex);
  g_ptr_array_add (peer->server->messages, content);
  g_mutex_unlock (&peer->server->mutex);
}

gboolean
peer_start_tls (Peer  *peer,
                guint  line)
{
  g_autoptr(GTlsCertificate) certificate = smtp_test_cert_load ("server");
  g_autoptr(GError) error = NULL;
  GIOStream *tls;

  if (peer->buffer->len > peer->taken)
    {
      peer_fail (peer, line, "data before the TLS handshake");
      return FALSE;
    }

  tls = g_tls_server_connection_new (peer->base, certificate, &error);
  if (tls == NULL ||
      !g_tls_connection_handshake (G_TLS_CONNECTION (tls), NULL, &error))
    {
      g_clear_object (&tls);
      peer_fail (peer, line, "TLS handshake: %s", error->message);
      return FALSE;
    }

  g_object_unref (peer->stream);
  peer->stream = tls;
  peer->is_tls = TRUE;
  return TRUE;
}

/* ---------------------------------------------------------------------- */
/* Playing a part */

static void
play (Peer      *peer,
      GPtrArray *part)
{
  for (guint i = 0; i < part->len; i++)
    {
      const Directive *d = g_ptr_array_index (part, i);

      switch (d->kind)
        {
        case DIRECTIVE_SEND:
          peer_send_line (peer, d->text);
          break;

        case DIRECTIVE_SEND_RAW:
          {
            g_autoptr(GBytes) bytes = unescape (d->text);
            gsize length = 0;
            const guint8 *data = g_bytes_get_data (bytes, &length);

            peer_send (peer, data, length);
          }
          break;

        case DIRECTIVE_SEND_BYTES:
          {
            g_autofree char *line = g_strconcat (d->text, "\r\n", NULL);

            for (const char *p = line; *p != '\0'; p++)
              {
                if (!peer_send (peer, (const guint8 *) p, 1))
                  break;
                g_usleep (2000);
              }
          }
          break;

        case DIRECTIVE_SEND_LONG:
          {
            GString *line = g_string_new (d->text);

            for (guint k = 0; k < d->number; k++)
              g_string_append_c (line, 'x');
            g_string_append (line, "\r\n");
            peer_send (peer, (const guint8 *) line->str, line->len);
            g_string_free (line, TRUE);
          }
          break;

        case DIRECTIVE_EXPECT:
          {
            g_autofree char *line = peer_read_line (peer);

            if (line == NULL)
              {
                peer_fail (peer, d->line, "%s, expected “%s”",
                           peer->eof ? "the client closed" : "no line",
                           d->text);
                return;
              }
            peer_note_command (peer, line);
            if (!g_pattern_match_simple (d->text, line))
              {
                peer_fail (peer, d->line, "got “%s”, expected “%s”", line,
                           d->text);
                return;
              }
          }
          break;

        case DIRECTIVE_DATA:
          {
            GBytes *content = peer_read_content (peer);

            if (content == NULL)
              {
                peer_fail (peer, d->line, "the content did not end");
                return;
              }
            peer_keep_message (peer, content);
          }
          break;

        case DIRECTIVE_PART:
          {
            g_autofree char *line = peer_read_line (peer);

            if (line == NULL)
              {
                peer_fail (peer, d->line, "no content came");
                return;
              }
          }
          break;

        case DIRECTIVE_ANY:
          /* Whatever comes (a TLS ClientHello): some bytes, kept unread */
          if (peer->buffer->len == peer->taken && !peer_receive (peer))
            {
              peer_fail (peer, d->line, "nothing came");
              return;
            }
          break;

        case DIRECTIVE_SLEEP:
          g_usleep ((gulong) d->number * 1000);
          break;

        case DIRECTIVE_CLOSE:
        case DIRECTIVE_RESET:
          peer_close (peer, d->kind == DIRECTIVE_RESET);
          return;

        case DIRECTIVE_EXPECT_CLOSE:
          peer_drain (peer);
          if (peer->timed_out)
            peer_fail (peer, d->line, "the client did not close");
          return;

        case DIRECTIVE_STARTTLS:
        case DIRECTIVE_TLS:
          if (!peer_start_tls (peer, d->line))
            return;
          break;

        case DIRECTIVE_SERVE:
          serve (peer, d->text);
          break;

        case DIRECTIVE_SCRAM:
          if (!scram_serve (peer, d->text, d->line))
            return;
          break;

        default:
          g_assert_not_reached ();
        }
    }
}

static gboolean
on_run (GThreadedSocketService *service,
        GSocketConnection      *connection,
        GObject                *source_object,
        gpointer                user_data)
{
  SmtpTestScriptServer *server = user_data;
  Record *record = g_new0 (Record, 1);
  Peer peer = { 0 };
  GPtrArray *part;

  g_mutex_lock (&server->mutex);
  if (server->stopping)
    {
      g_mutex_unlock (&server->mutex);
      g_free (record);
      return TRUE;
    }
  record->index = server->records->len;
  record->received = g_byte_array_new ();
  record->commands = g_ptr_array_new_with_free_func (g_free);
  record->socket = g_object_ref (g_socket_connection_get_socket (connection));
  g_ptr_array_add (server->records, record);
  server->active++;
  part = g_ptr_array_index (server->parts,
                            MIN (record->index, server->parts->len - 1));
  g_mutex_unlock (&server->mutex);

  peer.server = server;
  peer.record = record;
  peer.socket = record->socket;
  peer.base = G_IO_STREAM (connection);
  peer.stream = g_object_ref (G_IO_STREAM (connection));
  peer.buffer = g_byte_array_new ();
  g_socket_set_timeout (peer.socket, SMTP_TEST_SERVER_WAIT);
  /* Each reply goes out when it is written, as a real server's would
   * (with Nagle, a reply written right after another waits for the
   * client's delayed ACK) */
  g_socket_set_option (peer.socket, IPPROTO_TCP, TCP_NODELAY, 1, NULL);

  play (&peer, part);

  /* The part is over: what the client still says is recorded, until it
   * closes */
  peer_drain (&peer);
  peer_close (&peer, FALSE);

  g_object_unref (peer.stream);
  g_byte_array_unref (peer.buffer);

  g_mutex_lock (&server->mutex);
  record->done = TRUE;
  server->active--;
  g_cond_broadcast (&server->cond);
  g_mutex_unlock (&server->mutex);

  return TRUE;
}

/* ---------------------------------------------------------------------- */
/* The accepting thread */

static gpointer
run_server_thread (gpointer user_data)
{
  SmtpTestScriptServer *server = user_data;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) effective = NULL;
  g_autoptr(GError) error = NULL;

  g_main_context_push_thread_default (server->context);

  server->service = g_threaded_socket_service_new (64);
  g_signal_connect (server->service, "run", G_CALLBACK (on_run), server);
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (server->service),
                                      address, G_SOCKET_TYPE_STREAM,
                                      G_SOCKET_PROTOCOL_TCP, NULL, &effective,
                                      &error))
    g_error ("test server: cannot listen: %s", error->message);
  g_socket_service_start (server->service);

  g_mutex_lock (&server->mutex);
  server->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
  server->listening = TRUE;
  g_cond_broadcast (&server->cond);
  g_mutex_unlock (&server->mutex);

  g_main_loop_run (server->loop);

  g_socket_service_stop (server->service);
  g_socket_listener_close (G_SOCKET_LISTENER (server->service));
  g_main_context_pop_thread_default (server->context);

  return NULL;
}

SmtpTestScriptServer *
smtp_test_script_server_new (const char *script)
{
  SmtpTestScriptServer *server = g_new0 (SmtpTestScriptServer, 1);

  server->parts = parse_script (script);
  server->records = g_ptr_array_new ();
  server->messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  server->mail_times = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_mutex_init (&server->mutex);
  g_cond_init (&server->cond);
  server->context = g_main_context_new ();
  server->loop = g_main_loop_new (server->context, FALSE);

  server->thread = g_thread_new ("test-server", run_server_thread, server);

  g_mutex_lock (&server->mutex);
  while (!server->listening)
    g_cond_wait (&server->cond, &server->mutex);
  g_mutex_unlock (&server->mutex);

  return server;
}

static gboolean
quit_loop (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_REMOVE;
}

void
smtp_test_script_server_free (SmtpTestScriptServer *server)
{
  gint64 deadline = g_get_monotonic_time () +
                    SMTP_TEST_SERVER_WAIT * G_TIME_SPAN_SECOND;

  if (server == NULL)
    return;

  /* Stop accepting, and wake every connection still playing */
  g_mutex_lock (&server->mutex);
  server->stopping = TRUE;
  for (guint i = 0; i < server->records->len; i++)
    {
      Record *record = g_ptr_array_index (server->records, i);

      if (!record->done)
        g_socket_shutdown (record->socket, TRUE, TRUE, NULL);
    }
  while (server->active > 0)
    if (!g_cond_wait_until (&server->cond, &server->mutex, deadline))
      g_error ("test server: a connection did not end");
  g_mutex_unlock (&server->mutex);

  g_main_context_invoke (server->context, quit_loop, server->loop);
  g_thread_join (server->thread);

  for (guint i = 0; i < server->records->len; i++)
    {
      Record *record = g_ptr_array_index (server->records, i);

      g_byte_array_unref (record->received);
      g_ptr_array_unref (record->commands);
      g_clear_object (&record->socket);
      g_free (record);
    }
  g_ptr_array_unref (server->records);
  g_ptr_array_unref (server->messages);
  g_array_unref (server->mail_times);
  g_ptr_array_unref (server->parts);
  g_clear_object (&server->service);
  g_main_loop_unref (server->loop);
  g_main_context_unref (server->context);
  g_free (server->failure);
  g_mutex_clear (&server->mutex);
  g_cond_clear (&server->cond);
  g_free (server);
}

/* ---------------------------------------------------------------------- */
/* What the tests look at */

guint
smtp_test_script_server_get_port (SmtpTestScriptServer *server)
{
  return server->port;
}

static gboolean
has_ended (SmtpTestScriptServer *server,
           guint                 n)
{
  gboolean ended;

  g_mutex_lock (&server->mutex);
  ended = server->records->len >= n;
  for (guint i = 0; ended && i < server->records->len; i++)
    ended = ((Record *) g_ptr_array_index (server->records, i))->done;
  g_mutex_unlock (&server->mutex);

  return ended;
}

static gboolean
on_tick (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

void
smtp_test_script_server_wait (SmtpTestScriptServer *server,
                              guint                 n)
{
  GMainContext *context = g_main_context_get_thread_default ();
  gint64 deadline = g_get_monotonic_time () +
                    SMTP_TEST_WAIT_SECONDS * G_TIME_SPAN_SECOND;
  GSource *tick = g_timeout_source_new (5);

  /* The server's threads do not wake this context: a tick does */
  g_source_set_callback (tick, on_tick, NULL, NULL);
  g_source_attach (tick, context);

  while (!has_ended (server, n))
    {
      if (g_get_monotonic_time () > deadline)
        g_error ("test server: %u connection(s) did not end in %d s", n,
                 SMTP_TEST_WAIT_SECONDS);
      g_main_context_iteration (context, TRUE);
    }

  g_source_destroy (tick);
  g_source_unref (tick);
}

guint
smtp_test_script_server_get_n_connections (SmtpTestScriptServer *server)
{
  guint n;

  g_mutex_lock (&server->mutex);
  n = server->records->len;
  g_mutex_unlock (&server->mutex);

  return n;
}

static Record *
get_record (SmtpTestScriptServer *server,
            guint                 index)
{
  if (index >= server->records->len)
    g_error ("test server: there is no connection %u", index);

  return g_ptr_array_index (server->records, index);
}

GBytes *
smtp_test_script_server_get_received (SmtpTestScriptServer *server,
                                      guint                 index)
{
  GBytes *bytes;

  g_mutex_lock (&server->mutex);
  bytes = g_bytes_new (get_record (server, index)->received->data,
                       get_record (server, index)->received->len);
  g_mutex_unlock (&server->mutex);

  return bytes;
}

GStrv
smtp_test_script_server_get_commands (SmtpTestScriptServer *server,
                                      guint                 index)
{
  GStrvBuilder *builder = g_strv_builder_new ();
  GStrv commands;

  g_mutex_lock (&server->mutex);
  for (guint i = 0; i < get_record (server, index)->commands->len; i++)
    g_strv_builder_add (builder,
                        g_ptr_array_index (get_record (server, index)->commands, i));
  g_mutex_unlock (&server->mutex);

  commands = g_strv_builder_end (builder);
  g_strv_builder_unref (builder);
  return commands;
}

GPtrArray *
smtp_test_script_server_get_messages (SmtpTestScriptServer *server)
{
  GPtrArray *messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);

  g_mutex_lock (&server->mutex);
  for (guint i = 0; i < server->messages->len; i++)
    g_ptr_array_add (messages, g_bytes_ref (g_ptr_array_index (server->messages, i)));
  g_mutex_unlock (&server->mutex);

  return messages;
}

GArray *
smtp_test_script_server_get_mail_times (SmtpTestScriptServer *server)
{
  GArray *times;

  g_mutex_lock (&server->mutex);
  times = g_array_copy (server->mail_times);
  g_mutex_unlock (&server->mutex);

  return times;
}

const char *
smtp_test_script_server_get_failure (SmtpTestScriptServer *server)
{
  const char *failure;

  g_mutex_lock (&server->mutex);
  failure = server->failure;
  g_mutex_unlock (&server->mutex);

  return failure;
}

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
} DirectiveKind;

typedef struct
{
  DirectiveKind  kind;
  char          *text;     /* what follows the directive */
  guint          number;   /* SLONG, SLEEP */
  guint          line;     /* in the script, for messages */
} Directive;

typedef struct
{
  guint       index;
  GByteArray *received;
  GPtrArray  *commands;    /* of char* */
  gboolean    done;
  GSocket    *socket;      /* while playing, to stop it */
} Record;

struct _SmtpTestScriptServer
{
  GPtrArray       *parts;      /* of GPtrArray of Directive */
  GThread         *thread;
  GMainContext    *context;
  GMainLoop       *loop;
  GSocketService  *service;
  guint            port;

  GMutex           mutex;
  GCond            cond;
  GPtrArray       *records;    /* of Record*, in the order of accept */
  GPtrArray       *messages;   /* of GBytes */
  GArray          *mail_times; /* of gint64: MAIL commands SERVE got */
  guint            served;     /* messages SERVE accepted, all connections */
  gint64           throttle_until;  /* SERVE THROTTLE: monotonic, 0 not yet */
  char            *failure;
  guint            active;     /* connections being played */
  gboolean         stopping;
  gboolean         listening;
};

typedef struct
{
  SmtpTestScriptServer *server;
  Record               *record;
  GSocket              *socket;
  GIOStream            *stream;     /* the connection, or TLS on it */
  GIOStream            *base;
  GByteArray           *buffer;     /* read, not taken yet from "taken" on */
  gsize                 taken;
  gboolean              eof;        /* the client closed (or reset) */
  gboolean              timed_out;  /* it said nothing for too long */
  gboolean              closed;     /* we closed */
  gboolean              is_tls;
} Peer;

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

static void
peer_fail (Peer       *peer,
           guint       line,
           const char *format,
           ...) G_GNUC_PRINTF (3, 4);

static void
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
static gboolean
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
static char *
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

/* Lines kept as commands, at most (content read as lines after a fault
 * is not worth keeping) */
#define MAX_COMMANDS 1000

static void
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

static gboolean
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

static gboolean
peer_send_line (Peer       *peer,
                const char *text)
{
  g_autofree char *line = g_strconcat (text, "\r\n", NULL);

  return peer_send (peer, (const guint8 *) line, strlen (line));
}

static void
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
static GBytes *
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

static void
peer_keep_message (Peer   *peer,
                   GBytes *content)
{
  g_mutex_lock (&peer->server->mutex);
  g_ptr_array_add (peer->server->messages, content);
  g_mutex_unlock (&peer->server->mutex);
}

static gboolean
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
/* SERVE: a well-behaved server from here on */

/* AUTH LOGIN or PLAIN, any credentials */
static gboolean
serve_auth (Peer       *peer,
            const char *line)
{
  g_autofree char *upper = g_ascii_strup (line, -1);

  if (g_str_has_prefix (upper, "AUTH PLAIN "))
    return peer_send_line (peer, "235 2.7.0 ok");

  if (g_str_equal (upper, "AUTH PLAIN"))
    {
      g_autofree char *response = NULL;

      peer_send_line (peer, "334 ");
      response = peer_read_line (peer);
      return response != NULL && peer_send_line (peer, "235 2.7.0 ok");
    }

  if (g_str_has_prefix (upper, "AUTH LOGIN"))
    {
      g_autofree char *user = NULL;
      g_autofree char *password = NULL;

      if (!g_str_has_prefix (upper, "AUTH LOGIN "))
        {
          peer_send_line (peer, "334 VXNlcm5hbWU6");
          user = peer_read_line (peer);
          if (user == NULL)
            return FALSE;
        }
      peer_send_line (peer, "334 UGFzc3dvcmQ6");
      password = peer_read_line (peer);
      return password != NULL && peer_send_line (peer, "235 2.7.0 ok");
    }

  return peer_send_line (peer, "504 5.5.4 unknown mechanism");
}

/* The number after "KEY=" in @flags, 0 if absent; *@second, if given,
 * the number after a ':' that follows it */
static guint
serve_option (const char *flags,
              const char *key,
              guint      *second)
{
  g_autofree char *prefix = g_strconcat (key, "=", NULL);
  const char *found = strstr (flags, prefix);
  char *end;
  guint value;

  if (second != NULL)
    *second = 0;
  if (found == NULL)
    return 0;

  value = (guint) g_ascii_strtoull (found + strlen (prefix), &end, 10);
  if (second != NULL && *end == ':')
    *second = (guint) g_ascii_strtoull (end + 1, NULL, 10);

  return value;
}

/* SERVE THROTTLE=k:ms: once k messages were accepted (on all the
 * connections), every MAIL for the next ms milliseconds is refused */
static gboolean
serve_is_throttled (Peer  *peer,
                    guint  after,
                    guint  window_ms)
{
  SmtpTestScriptServer *server = peer->server;
  gint64 now = g_get_monotonic_time ();
  gboolean throttled;

  g_mutex_lock (&server->mutex);
  if (server->throttle_until == 0 && server->served >= after)
    server->throttle_until = now + (gint64) window_ms * 1000;
  throttled = server->throttle_until != 0 && now < server->throttle_until;
  g_mutex_unlock (&server->mutex);

  return throttled;
}

static void
serve (Peer       *peer,
       const char *flags)
{
  gboolean pipelining = strstr (flags, "PIPELINING") != NULL;
  gboolean chunking = strstr (flags, "CHUNKING") != NULL;
  gboolean no_quit = strstr (flags, "NOQUIT") != NULL;
  gboolean starttls = strstr (flags, "STARTTLS") != NULL;
  gboolean auth = strstr (flags, "AUTH") != NULL;
  guint mail_limit = serve_option (flags, "MAIL-452", NULL);
  guint mail_limit_421 = serve_option (flags, "MAIL-421", NULL);
  guint rcpt_limit = serve_option (flags, "RCPT-452", NULL);
  guint idle_close = serve_option (flags, "IDLE-CLOSE", NULL);
  guint idle_421 = serve_option (flags, "IDLE-421", NULL);
  guint throttle_window;
  guint throttle_after = serve_option (flags, "THROTTLE", &throttle_window);
  guint messages = 0;
  guint rcpts = 0;
  gboolean in_transaction = FALSE;

  if (idle_close > 0 || idle_421 > 0)
    g_socket_set_timeout (peer->socket, MAX (idle_close, idle_421));

  for (;;)
    {
      g_autofree char *line = peer_read_line (peer);
      g_autofree char *verb = NULL;

      if (line == NULL)
        {
          /* IDLE-CLOSE=s, IDLE-421=s: the server's own idle timeout */
          if (peer->timed_out && idle_421 > 0)
            peer_send_line (peer, "421 4.4.2 serve: idle for too long");
          if (peer->timed_out && (idle_close > 0 || idle_421 > 0))
            peer_close (peer, FALSE);
          return;
        }
      peer_note_command (peer, line);
      verb = g_ascii_strup (line, MIN (strlen (line), 4));

      if (g_str_equal (verb, "EHLO"))
        {
          peer_send_line (peer, "250-serve");
          if (pipelining)
            peer_send_line (peer, "250-PIPELINING");
          if (chunking)
            peer_send_line (peer, "250-CHUNKING");
          if (starttls && !peer->is_tls)
            peer_send_line (peer, "250-STARTTLS");
          if (auth)
            peer_send_line (peer, "250-AUTH LOGIN PLAIN");
          peer_send_line (peer, "250 8BITMIME");
        }
      else if (g_str_equal (verb, "STAR") && starttls && !peer->is_tls)
        {
          peer_send_line (peer, "220 2.0.0 ready");
          if (!peer_start_tls (peer, 0))
            return;
        }
      else if (g_str_equal (verb, "AUTH") && auth)
        {
          if (!serve_auth (peer, line))
            return;
        }
      else if (g_str_equal (verb, "HELO"))
        peer_send_line (peer, "250 serve");
      else if (g_str_equal (verb, "MAIL"))
        {
          gint64 now = g_get_monotonic_time ();

          g_mutex_lock (&peer->server->mutex);
          g_array_append_val (peer->server->mail_times, now);
          g_mutex_unlock (&peer->server->mutex);
          rcpts = 0;

          /* MAIL-452=n: OpenSMTPD's limit of messages per connection;
           * MAIL-421=n: Exim's */
          if (mail_limit > 0 && messages >= mail_limit)
            peer_send_line (peer, "452 4.5.3 Too many recipients: Too many "
                                  "messages sent");
          else if (mail_limit_421 > 0 && messages >= mail_limit_421)
            {
              peer_send_line (peer, "421 4.7.0 serve: Too many messages in "
                                    "one connection");
              peer_close (peer, FALSE);
              return;
            }
          else if (throttle_after > 0 &&
                   serve_is_throttled (peer, throttle_after, throttle_window))
            peer_send_line (peer, "454 4.7.0 Throttling failure: Maximum "
                                  "sending rate exceeded");
          else
            {
              in_transaction = TRUE;
              peer_send_line (peer, "250 2.1.0 ok");
            }
        }
      else if (g_str_equal (verb, "RCPT"))
        {
          /* RCPT-452=n: n recipients per transaction (RFC 5321
           * §4.5.3.1.10) */
          if (!in_transaction)
            peer_send_line (peer, "503 5.5.1 MAIL first");
          else if (rcpt_limit > 0 && rcpts >= rcpt_limit)
            peer_send_line (peer, "452 4.5.3 Too many recipients");
          else
            {
              rcpts++;
              peer_send_line (peer, "250 2.1.5 ok");
            }
        }
      else if (g_str_equal (verb, "DATA"))
        {
          GBytes *content;

          if (!in_transaction || rcpts == 0)
            {
              peer_send_line (peer, "554 5.5.1 no valid recipients");
              continue;
            }
          peer_send_line (peer, "354 go ahead");
          content = peer_read_content (peer);
          if (content == NULL)
            return;
          peer_keep_message (peer, content);
          in_transaction = FALSE;
          messages++;
          g_mutex_lock (&peer->server->mutex);
          peer->server->served++;
          g_mutex_unlock (&peer->server->mutex);
          peer_send_line (peer, "250 2.0.0 queued");
        }
      else if (g_str_equal (verb, "RSET") || g_str_equal (verb, "NOOP"))
        {
          if (g_str_equal (verb, "RSET"))
            {
              rcpts = 0;
              in_transaction = FALSE;
            }
          peer_send_line (peer, "250 2.0.0 ok");
        }
      else if (g_str_equal (verb, "QUIT"))
        {
          /* NOQUIT: the script goes on with its own answer */
          if (!no_quit)
            peer_send_line (peer, "221 2.0.0 bye");
          return;
        }
      else
        peer_send_line (peer, "500 5.5.2 what?");
    }
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

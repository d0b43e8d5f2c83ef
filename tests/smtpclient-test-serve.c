/* smtpclient-test-serve.c: the scripted server's SERVE directive, a
 * well-behaved SMTP (or LMTP) server with the limits real servers have
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "smtpclient-test-server-private.h"

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

/* One connection's state */
typedef struct
{
  Peer       *peer;
  gboolean    lmtp;
  guint       messages;      /* accepted on this connection */
  guint       rcpts;         /* RCPT commands that counted (RCPT-452) */
  gboolean    in_transaction;
  GPtrArray  *accepted;      /* of char*: this transaction's recipients */
  GByteArray *chunks;        /* BDAT content so far; NULL before a BDAT */
  guint       n_chunks;
  gboolean    chunk_refused; /* a BDAT was refused: the rest are too */
} Serve;

static void
serve_reset (Serve *s)
{
  s->rcpts = 0;
  s->in_transaction = FALSE;
  g_ptr_array_set_size (s->accepted, 0);
  g_clear_pointer (&s->chunks, g_byte_array_unref);
  s->n_chunks = 0;
  s->chunk_refused = FALSE;
}

/* The address of "RCPT TO:<address> ..." */
static char *
serve_address (const char *line)
{
  const char *open = strchr (line, '<');
  const char *close = open != NULL ? strchr (open, '>') : NULL;

  if (close == NULL)
    return g_strdup ("");
  return g_strndup (open + 1, (gsize) (close - open - 1));
}

/* The whole content is in: keep it, and answer the end of data (with
 * LMTP, once per accepted recipient: those whose name starts with "full"
 * are refused now, after the data, as a mailbox over its quota is) */
static void
serve_finish (Serve  *s,
              GBytes *content)
{
  Peer *peer = s->peer;
  guint delivered = 0;

  if (s->lmtp)
    {
      for (guint i = 0; i < s->accepted->len; i++)
        {
          const char *address = g_ptr_array_index (s->accepted, i);
          g_autofree char *reply = NULL;

          if (g_str_has_prefix (address, "full"))
            reply = g_strdup_printf ("552 5.2.2 <%s> mailbox full", address);
          else
            {
              reply = g_strdup_printf ("250 2.0.0 <%s> delivered", address);
              delivered++;
            }
          peer_send_line (peer, reply);
        }
    }
  else
    delivered = 1;

  if (delivered > 0)
    {
      peer_keep_message (peer, g_bytes_ref (content));
      s->messages++;
      g_mutex_lock (&peer->server->mutex);
      peer->server->served++;
      g_mutex_unlock (&peer->server->mutex);
    }
  if (!s->lmtp)
    peer_send_line (peer, "250 2.0.0 queued");
  g_bytes_unref (content);
  serve_reset (s);
}

/* RFC 3030: "BDAT <size> [LAST]", then exactly <size> bytes.  BDAT-552=n
 * refuses the n-th chunk of a transaction (and every chunk after it,
 * as a server that has given up on the message does).  FALSE when the
 * connection is over. */
static gboolean
serve_bdat (Serve      *s,
            const char *line,
            guint       refuse_chunk)
{
  Peer *peer = s->peer;
  g_auto(GStrv) words = g_strsplit (line, " ", -1);
  guint n_words = g_strv_length (words);
  gboolean last;
  guint64 size;
  GBytes *chunk;

  if (n_words < 2 || n_words > 3 ||
      !g_ascii_string_to_unsigned (words[1], 10, 0, G_MAXUINT32, &size, NULL))
    {
      peer_send_line (peer, "501 5.5.4 BDAT <size> [LAST]");
      return TRUE;
    }
  last = n_words == 3 && g_ascii_strcasecmp (words[2], "LAST") == 0;

  chunk = peer_read_bytes (peer, (gsize) size);
  if (chunk == NULL)
    return FALSE;
  s->n_chunks++;

  if (!s->in_transaction || s->accepted->len == 0 || s->chunk_refused)
    {
      g_bytes_unref (chunk);
      if (s->chunk_refused && last)
        serve_reset (s);
      return peer_send_line (peer, "503 5.5.1 no transaction for this chunk");
    }
  if (refuse_chunk > 0 && s->n_chunks >= refuse_chunk)
    {
      g_bytes_unref (chunk);
      s->chunk_refused = TRUE;
      if (last)
        serve_reset (s);
      return peer_send_line (peer, "552 5.3.4 serve: message too big");
    }

  if (s->chunks == NULL)
    s->chunks = g_byte_array_new ();
  g_byte_array_append (s->chunks, g_bytes_get_data (chunk, NULL),
                       (guint) g_bytes_get_size (chunk));
  g_bytes_unref (chunk);

  if (last)
    {
      GBytes *content = g_byte_array_free_to_bytes (g_steal_pointer (&s->chunks));

      serve_finish (s, content);
      return TRUE;
    }
  {
    g_autofree char *reply = g_strdup_printf ("250 2.0.0 %" G_GUINT64_FORMAT
                                              " octets received", size);
    return peer_send_line (peer, reply);
  }
}

static void
serve_capabilities (Serve      *s,
                    const char *flags)
{
  Peer *peer = s->peer;
  static const char *const offered[] = {
    "PIPELINING", "CHUNKING", "BINARYMIME", "SMTPUTF8", NULL
  };

  peer_send_line (peer, "250-serve");
  for (guint i = 0; offered[i] != NULL; i++)
    if (strstr (flags, offered[i]) != NULL)
      {
        g_autofree char *line = g_strconcat ("250-", offered[i], NULL);

        peer_send_line (peer, line);
      }
  if (strstr (flags, "STARTTLS") != NULL && !peer->is_tls)
    peer_send_line (peer, "250-STARTTLS");
  /* RFC 8689 §4.1: offered only over TLS */
  if (strstr (flags, "REQUIRETLS") != NULL && peer->is_tls)
    peer_send_line (peer, "250-REQUIRETLS");
  if (strstr (flags, "AUTH") != NULL)
    peer_send_line (peer, "250-AUTH LOGIN PLAIN");
  peer_send_line (peer, "250 8BITMIME");
}

void
serve (Peer       *peer,
       const char *flags)
{
  gboolean no_quit = strstr (flags, "NOQUIT") != NULL;
  gboolean starttls = strstr (flags, "STARTTLS") != NULL;
  gboolean auth = strstr (flags, "AUTH") != NULL;
  guint mail_limit = serve_option (flags, "MAIL-452", NULL);
  guint mail_limit_421 = serve_option (flags, "MAIL-421", NULL);
  guint rcpt_limit = serve_option (flags, "RCPT-452", NULL);
  guint idle_close = serve_option (flags, "IDLE-CLOSE", NULL);
  guint idle_421 = serve_option (flags, "IDLE-421", NULL);
  guint refuse_chunk = serve_option (flags, "BDAT-552", NULL);
  guint throttle_window;
  guint throttle_after = serve_option (flags, "THROTTLE", &throttle_window);
  Serve s = { peer, strstr (flags, "LMTP") != NULL, 0, 0, FALSE,
              g_ptr_array_new_with_free_func (g_free), NULL, 0, FALSE };

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
          break;
        }
      peer_note_command (peer, line);
      verb = g_ascii_strup (line, MIN (strlen (line), 4));

      /* LMTP (RFC 2033): LHLO, and nothing else, greets */
      if (g_str_equal (verb, s.lmtp ? "LHLO" : "EHLO"))
        serve_capabilities (&s, flags);
      else if (g_str_equal (verb, "STAR") && starttls && !peer->is_tls)
        {
          peer_send_line (peer, "220 2.0.0 ready");
          if (!peer_start_tls (peer, 0))
            break;
        }
      else if (g_str_equal (verb, "AUTH") && auth)
        {
          if (!serve_auth (peer, line))
            break;
        }
      else if (g_str_equal (verb, "HELO") && !s.lmtp)
        peer_send_line (peer, "250 serve");
      else if (g_str_equal (verb, "MAIL"))
        {
          gint64 now = g_get_monotonic_time ();

          g_mutex_lock (&peer->server->mutex);
          g_array_append_val (peer->server->mail_times, now);
          g_mutex_unlock (&peer->server->mutex);
          serve_reset (&s);

          /* MAIL-452=n: OpenSMTPD's limit of messages per connection;
           * MAIL-421=n: Exim's */
          if (mail_limit > 0 && s.messages >= mail_limit)
            peer_send_line (peer, "452 4.5.3 Too many recipients: Too many "
                                  "messages sent");
          else if (mail_limit_421 > 0 && s.messages >= mail_limit_421)
            {
              peer_send_line (peer, "421 4.7.0 serve: Too many messages in "
                                    "one connection");
              peer_close (peer, FALSE);
              break;
            }
          else if (throttle_after > 0 &&
                   serve_is_throttled (peer, throttle_after, throttle_window))
            peer_send_line (peer, "454 4.7.0 Throttling failure: Maximum "
                                  "sending rate exceeded");
          else
            {
              s.in_transaction = TRUE;
              peer_send_line (peer, "250 2.1.0 ok");
            }
        }
      else if (g_str_equal (verb, "RCPT"))
        {
          char *address = serve_address (line);

          /* RCPT-452=n: n recipients per transaction (RFC 5321
           * §4.5.3.1.10); names starting with "unknown" do not exist */
          if (!s.in_transaction)
            peer_send_line (peer, "503 5.5.1 MAIL first");
          else if (rcpt_limit > 0 && s.rcpts >= rcpt_limit)
            peer_send_line (peer, "452 4.5.3 Too many recipients");
          else if (g_str_has_prefix (address, "unknown"))
            peer_send_line (peer, "550 5.1.1 no such user");
          else
            {
              s.rcpts++;
              g_ptr_array_add (s.accepted, g_steal_pointer (&address));
              peer_send_line (peer, "250 2.1.5 ok");
            }
          g_free (address);
        }
      else if (g_str_equal (verb, "DATA"))
        {
          GBytes *content;

          if (!s.in_transaction || s.accepted->len == 0)
            {
              peer_send_line (peer, "554 5.5.1 no valid recipients");
              continue;
            }
          peer_send_line (peer, "354 go ahead");
          content = peer_read_content (peer);
          if (content == NULL)
            break;
          serve_finish (&s, content);
        }
      else if (g_str_equal (verb, "BDAT") &&
               strstr (flags, "CHUNKING") != NULL)
        {
          if (!serve_bdat (&s, line, refuse_chunk))
            break;
        }
      else if (g_str_equal (verb, "RSET") || g_str_equal (verb, "NOOP"))
        {
          if (g_str_equal (verb, "RSET"))
            serve_reset (&s);
          peer_send_line (peer, "250 2.0.0 ok");
        }
      else if (g_str_equal (verb, "QUIT"))
        {
          /* NOQUIT: the script goes on with its own answer */
          if (!no_quit)
            peer_send_line (peer, "221 2.0.0 bye");
          break;
        }
      else
        peer_send_line (peer, "500 5.5.2 what?");
    }

  serve_reset (&s);
  g_ptr_array_unref (s.accepted);
}

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

void
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

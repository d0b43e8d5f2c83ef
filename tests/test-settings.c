/* test-settings.c: bad addresses and contradictory settings are refused
 * with SMTP_CLIENT_ERROR_CONFIGURE before any connection is made; the
 * settings' defaults; bind-address and bind-port
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "smtpclient-test-utils.h"

/* A listening socket nobody answers on: if the task connected, the test
 * would see it in the accept count. */
typedef struct
{
  GSocketListener *listener;
  guint            port;
  guint            accepted;
  guint            peer_port;
  GSocketConnection *connection;
} Trap;

static void
on_incoming (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  Trap *trap = user_data;
  g_autoptr(GSocketConnection) connection = NULL;

  connection = g_socket_listener_accept_finish (G_SOCKET_LISTENER (source),
                                                result, NULL, NULL);
  if (connection != NULL)
    {
      g_autoptr(GSocketAddress) peer = NULL;

      trap->accepted++;
      peer = g_socket_connection_get_remote_address (connection, NULL);
      if (G_IS_INET_SOCKET_ADDRESS (peer))
        trap->peer_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (peer));
      /* Keep it open, silent: the client waits for a greeting */
      trap->connection = g_steal_pointer (&connection);
    }
}

static void
trap_setup (Trap          *trap,
            gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  trap->listener = g_socket_listener_new ();
  trap->port = g_socket_listener_add_any_inet_port (trap->listener, NULL,
                                                    &error);
  g_assert_no_error (error);
  g_socket_listener_accept_async (trap->listener, NULL, on_incoming, trap);
}

static void
trap_teardown (Trap          *trap,
               gconstpointer  data)
{
  g_clear_object (&trap->connection);
  g_socket_listener_close (trap->listener);
  /* Let the cancelled accept finish before the trap goes away */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_clear_object (&trap->listener);
}

static void
assert_refused (Trap           *trap,
                SmtpClientTask *task,
                const char     *fragment)
{
  g_autoptr(GError) error = NULL;

  g_object_set (task, "transaction-log", TRUE, NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE);
  if (fragment != NULL)
    g_assert_nonnull (strstr (error->message, fragment));
  g_assert_cmpstr (smtp_client_task_get_transaction_log (task), ==, "");
  g_assert_cmpuint (smtp_client_task_get_reply_code (task), ==, 0);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (trap->accepted, ==, 0);
}

static const struct
{
  const char *name;
  const char *address;
} bad_addresses[] = {
  { "cr", "user@example.org\rRCPT TO:<evil@example.org>" },
  { "lf", "user@example.org\nRCPT TO:<evil@example.org>" },
  { "crlf", "user@example.org\r\nDATA" },
  { "less-than", "<user@example.org" },
  { "greater-than", "user@example.org>" },
  { "angle-pair", "<user@example.org>" },
  { "tab", "user\t@example.org" },
  { "space", "user @example.org" },
  { "del", "user\x7f@example.org" },
  { "not-utf8", "user\xff@example.org" },
};

static void
test_bad_recipient (Trap          *trap,
                    gconstpointer  data)
{
  const char *address = data;
  const char *to[] = { "good@example.org", address, NULL };
  g_autoptr(SmtpClientTask) task = smtp_test_task_new (trap->port, NULL);

  g_object_set (task, "to", to, NULL);
  assert_refused (trap, task, NULL);
}

static void
test_bad_sender (Trap          *trap,
                 gconstpointer  data)
{
  const char *address = data;
  g_autoptr(SmtpClientTask) task = smtp_test_task_new (trap->port, NULL);

  g_object_set (task, "from", address, NULL);
  assert_refused (trap, task, NULL);
}

static void
test_empty_recipient (Trap          *trap,
                      gconstpointer  data)
{
  const char *to[] = { "", NULL };
  g_autoptr(SmtpClientTask) task = smtp_test_task_new (trap->port, NULL);

  g_object_set (task, "to", to, NULL);
  assert_refused (trap, task, NULL);
}

static void
test_no_recipient (Trap          *trap,
                   gconstpointer  data)
{
  const char *to[] = { NULL };
  g_autoptr(SmtpClientTask) task = smtp_test_task_new (trap->port, NULL);

  g_object_set (task, "to", to, NULL);
  assert_refused (trap, task, NULL);
}

static void
test_user_without_password (Trap          *trap,
                            gconstpointer  data)
{
  g_autoptr(SmtpClientTask) task = smtp_test_task_new (trap->port, NULL);

  g_object_set (task, "auth-user", "alice", "allow-insecure-auth", TRUE, NULL);
  assert_refused (trap, task, "password");
}

static void
test_unknown_mechanism (Trap          *trap,
                        gconstpointer  data)
{
  g_autoptr(SmtpClientTask) task = smtp_test_task_new (trap->port, NULL);

  g_object_set (task, "auth-user", "alice", "auth-password", "pw",
                "auth-mechanism", "DIGEST-MD5", "allow-insecure-auth", TRUE,
                NULL);
  assert_refused (trap, task, "DIGEST-MD5");
}

static void
test_insecure_auth (Trap          *trap,
                    gconstpointer  data)
{
  g_autoptr(SmtpClientTask) task = smtp_test_task_new (trap->port, NULL);

  g_object_set (task, "auth-user", "alice", "auth-password", "pw", NULL);
  assert_refused (trap, task, NULL);
}

static void
test_dsn_never_combined (Trap          *trap,
                         gconstpointer  data)
{
  g_autoptr(SmtpClientTask) task = smtp_test_task_new (trap->port, NULL);

  g_object_set (task, "dsn-notify",
                SMTP_CLIENT_DSN_NOTIFY_NEVER | SMTP_CLIENT_DSN_NOTIFY_SUCCESS,
                NULL);
  assert_refused (trap, task, "NEVER");
}

static void
test_bad_hostname (Trap          *trap,
                   gconstpointer  data)
{
  g_autoptr(SmtpClientTask) task = smtp_test_task_new (trap->port, NULL);

  g_object_set (task, "my-hostname", "host\r\nMAIL FROM:<x>", NULL);
  assert_refused (trap, task, NULL);
}

static void
test_bind (Trap          *trap,
           gconstpointer  data)
{
  g_autoptr(SmtpClientTask) task = smtp_test_task_new (trap->port, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  guint port;

  g_test_summary ("bind-address and bind-port set the connection's local end");

  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                         G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  address = g_inet_socket_address_new (loopback, 0);
  g_assert_true (g_socket_bind (socket, address, TRUE, &error));
  g_clear_object (&address);
  address = g_socket_get_local_address (socket, &error);
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address));
  g_socket_close (socket, NULL);

  g_object_set (task, "bind-address", "127.0.0.1", "bind-port", port,
                "timeout", 1, "max-retries", 0, NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_TIMEOUT);
  g_assert_cmpuint (trap->accepted, ==, 1);
  g_assert_cmpuint (trap->peer_port, ==, port);
}

static void
test_defaults (void)
{
  g_autoptr(SmtpClientTask) task = smtp_client_task_new ();
  g_autoptr(SmtpClientSession) session = smtp_client_session_new ();
  g_autofree char *from = NULL;
  g_autofree char *server = NULL;
  g_autofree char *hostname = NULL;
  g_auto(GStrv) to = NULL;
  g_autoptr(GBytes) body = NULL;
  guint port = 0, timeout = 0, debug = 1, bind_port = 1, max_connections = 0;
  guint idle_timeout = 0, max_messages = 1;
  SmtpClientSecurity security = SMTP_CLIENT_SECURITY_TLS;
  gboolean log = TRUE;

  g_test_summary ("Every default of SPEC's property table");

  g_object_get (task,
                "from", &from, "to", &to, "body", &body, "server", &server,
                "port", &port, "timeout", &timeout, "my-hostname", &hostname,
                "bind-port", &bind_port, "debug", &debug,
                "transaction-log", &log, "security", &security, NULL);
  g_assert_cmpstr (from, ==, "root@localhost");
  g_assert_cmpuint (g_strv_length (to), ==, 1);
  g_assert_cmpstr (to[0], ==, "root@localhost");
  g_assert_true (body == NULL || g_bytes_get_size (body) == 0);
  g_assert_cmpstr (server, ==, "localhost");
  g_assert_cmpuint (port, ==, 25);
  g_assert_cmpuint (timeout, ==, 30);
  g_assert_cmpstr (hostname, ==, "localhost");
  g_assert_cmpuint (bind_port, ==, 0);
  g_assert_cmpuint (debug, ==, 0);
  g_assert_false (log);
  g_assert_cmpint (security, ==, SMTP_CLIENT_SECURITY_NONE);
  g_assert_null (smtp_client_task_get_transaction_log (task));
  g_assert_null (smtp_client_task_get_reply (task));
  g_assert_null (smtp_client_task_get_refused_recipients (task));

  /* 465 when security is TLS and no port was set; an explicit port wins */
  g_object_set (task, "security", SMTP_CLIENT_SECURITY_TLS, NULL);
  g_object_get (task, "port", &port, NULL);
  g_assert_cmpuint (port, ==, 465);
  g_object_set (task, "port", 2465, NULL);
  g_object_get (task, "port", &port, NULL);
  g_assert_cmpuint (port, ==, 2465);

  g_object_get (session, "max-connections", &max_connections,
                "idle-timeout", &idle_timeout,
                "max-messages-per-connection", &max_messages, NULL);
  g_assert_cmpuint (max_connections, ==, 1);
  g_assert_cmpuint (idle_timeout, ==, 30);
  g_assert_cmpuint (max_messages, ==, 0);
}

static guint notified;

static void
on_notify (GObject    *object,
           GParamSpec *pspec,
           gpointer    user_data)
{
  notified++;
}

static void
test_notify_on_change_only (void)
{
  g_autoptr(SmtpClientTask) task = smtp_client_task_new ();

  g_signal_connect (task, "notify", G_CALLBACK (on_notify), NULL);
  notified = 0;
  g_object_set (task, "server", "mail.example.org", NULL);
  g_object_set (task, "server", "mail.example.org", NULL);
  g_object_set (task, "timeout", 30, NULL);
  g_object_set (task, "timeout", 31, NULL);
  g_assert_cmpuint (notified, ==, 2);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (bad_addresses); i++)
    {
      g_autofree char *rcpt = g_strdup_printf ("/smtpclient/address/recipient/%s",
                                               bad_addresses[i].name);
      g_autofree char *from = g_strdup_printf ("/smtpclient/address/sender/%s",
                                               bad_addresses[i].name);

      g_test_add (rcpt, Trap, bad_addresses[i].address, trap_setup,
                  test_bad_recipient, trap_teardown);
      g_test_add (from, Trap, bad_addresses[i].address, trap_setup,
                  test_bad_sender, trap_teardown);
    }

  g_test_add ("/smtpclient/address/recipient/empty", Trap, NULL, trap_setup,
              test_empty_recipient, trap_teardown);
  g_test_add ("/smtpclient/address/recipient/none", Trap, NULL, trap_setup,
              test_no_recipient, trap_teardown);
  g_test_add ("/smtpclient/settings/user-without-password", Trap, NULL,
              trap_setup, test_user_without_password, trap_teardown);
  g_test_add ("/smtpclient/settings/unknown-mechanism", Trap, NULL,
              trap_setup, test_unknown_mechanism, trap_teardown);
  g_test_add ("/smtpclient/settings/insecure-auth", Trap, NULL,
              trap_setup, test_insecure_auth, trap_teardown);
  g_test_add ("/smtpclient/settings/dsn-never-combined", Trap, NULL,
              trap_setup, test_dsn_never_combined, trap_teardown);
  g_test_add ("/smtpclient/settings/bad-hostname", Trap, NULL,
              trap_setup, test_bad_hostname, trap_teardown);
  g_test_add ("/smtpclient/settings/bind", Trap, NULL, trap_setup, test_bind,
              trap_teardown);
  g_test_add_func ("/smtpclient/settings/defaults", test_defaults);
  g_test_add_func ("/smtpclient/settings/notify-on-change-only",
                   test_notify_on_change_only);

  return g_test_run ();
}

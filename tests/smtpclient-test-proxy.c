/* smtpclient-test-proxy.c: a TCP proxy that injects faults
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * See smtpclient-test-proxy.h.  Like the scripted server, the accepting
 * loop runs in a thread of its own and each connection is relayed in a
 * worker thread; a relay polls both sockets (every wait bounded) and
 * copies what comes to the other side, until one side closes or the
 * connection's fault is due.
 */

#include "config.h"

#include "smtpclient-test-proxy.h"
#include "smtpclient-test-server.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

struct _SmtpTestProxy
{
  guint            backend_port;
  guint32          seed;
  guint            fault_percent;
  guint            max_offset;

  GThread         *thread;
  GMainContext    *context;
  GMainLoop       *loop;
  GSocketService  *service;
  guint            port;

  GMutex           mutex;
  GCond            cond;
  gboolean         listening;
  gboolean         stopping;
  guint            active;
  guint            n_connections;
  guint            n_faults[SMTP_TEST_N_FAULTS];
  GPtrArray       *sockets;     /* of GSocket*, the clients' while relayed */
};

/* One connection's fate */
typedef struct
{
  SmtpTestFault fault;
  gboolean      to_server;   /* counted in the bytes the client sends */
  guint64       offset;      /* after this many bytes */
} Plan;

static Plan
plan_connection (SmtpTestProxy *proxy,
                 guint          index)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (proxy->seed * 7919 + index);
  Plan plan = { SMTP_TEST_FAULT_NONE, FALSE, 0 };
  guint kind;

  if ((guint) g_rand_int_range (rand, 0, 100) >= proxy->fault_percent)
    return plan;

  /* Closes and resets are cheap; a stall costs the client its timeout */
  kind = g_rand_int_range (rand, 0, 10);
  plan.fault = kind < 4 ? SMTP_TEST_FAULT_CLOSE
             : kind < 8 ? SMTP_TEST_FAULT_RESET
             : SMTP_TEST_FAULT_STALL;
  plan.to_server = g_rand_boolean (rand);
  plan.offset = g_rand_int_range (rand, 0, (gint32) MAX (proxy->max_offset, 1));

  return plan;
}

/* Write all of @data to @fd; FALSE if the other end is gone */
static gboolean
write_all (int           fd,
           const guint8 *data,
           gsize         length)
{
  while (length > 0)
    {
      gssize n = send (fd, data, length, MSG_NOSIGNAL);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      data += n;
      length -= n;
    }

  return TRUE;
}

static void
reset_socket (GSocket *socket)
{
  struct linger linger = { 1, 0 };

  setsockopt (g_socket_get_fd (socket), SOL_SOCKET, SO_LINGER, &linger,
              sizeof linger);
}

/* Until the client closes (or SMTP_TEST_SERVER_WAIT seconds pass),
 * swallow what it sends */
static void
hold_until_closed (int fd)
{
  gint64 deadline = g_get_monotonic_time () +
                    SMTP_TEST_SERVER_WAIT * G_USEC_PER_SEC;
  guint8 buffer[4096];

  while (g_get_monotonic_time () < deadline)
    {
      struct pollfd pfd = { fd, POLLIN, 0 };
      int ready = poll (&pfd, 1, 100);

      if (ready < 0 && errno != EINTR)
        return;
      if (ready > 0 && recv (fd, buffer, sizeof buffer, 0) <= 0)
        return;
    }
}

/* Relay between the client and the backend until one closes or the
 * plan's fault comes; returns the fault that ended it */
static SmtpTestFault
relay (GSocket *client,
       GSocket *backend,
       Plan     plan)
{
  int fds[2] = { g_socket_get_fd (client), g_socket_get_fd (backend) };
  guint64 counted = 0;   /* bytes in the plan's direction */
  guint8 buffer[16384];

  for (;;)
    {
      struct pollfd pfds[2] = { { fds[0], POLLIN, 0 }, { fds[1], POLLIN, 0 } };
      int ready = poll (pfds, 2, SMTP_TEST_SERVER_WAIT * 1000);

      if (ready < 0 && errno == EINTR)
        continue;
      if (ready <= 0)
        return SMTP_TEST_FAULT_NONE;

      for (guint side = 0; side < 2; side++)
        {
          gboolean to_server = side == 0;
          gssize n;
          gsize pass;

          if (!(pfds[side].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;

          n = recv (fds[side], buffer, sizeof buffer, 0);
          if (n <= 0)
            return SMTP_TEST_FAULT_NONE;

          pass = (gsize) n;
          if (plan.fault != SMTP_TEST_FAULT_NONE && plan.to_server == to_server)
            {
              if (counted + n > plan.offset)
                pass = (gsize) (plan.offset - counted);
              counted += pass;
            }

          if (!write_all (fds[1 - side], buffer, pass))
            return SMTP_TEST_FAULT_NONE;

          if (pass < (gsize) n)
            return plan.fault;
        }
    }
}

static gboolean
on_run (GThreadedSocketService *service,
        GSocketConnection      *connection,
        GObject                *source_object,
        gpointer                user_data)
{
  SmtpTestProxy *proxy = user_data;
  GSocket *client = g_socket_connection_get_socket (connection);
  g_autoptr(GSocketClient) connector = g_socket_client_new ();
  g_autoptr(GSocketConnection) upstream = NULL;
  SmtpTestFault ended = SMTP_TEST_FAULT_NONE;
  guint index;
  Plan plan;

  g_mutex_lock (&proxy->mutex);
  if (proxy->stopping)
    {
      g_mutex_unlock (&proxy->mutex);
      return TRUE;
    }
  index = proxy->n_connections++;
  proxy->active++;
  g_ptr_array_add (proxy->sockets, g_object_ref (client));
  g_mutex_unlock (&proxy->mutex);

  plan = plan_connection (proxy, index);
  g_socket_client_set_timeout (connector, SMTP_TEST_SERVER_WAIT);
  upstream = g_socket_client_connect_to_host (connector, "127.0.0.1",
                                              proxy->backend_port, NULL, NULL);
  if (upstream != NULL)
    {
      GSocket *backend = g_socket_connection_get_socket (upstream);

      /* Relayed as it comes: no Nagle delay on either side */
      g_socket_set_option (client, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
      g_socket_set_option (backend, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
      ended = relay (client, backend, plan);
      switch (ended)
        {
        case SMTP_TEST_FAULT_RESET:
          reset_socket (client);
          break;
        case SMTP_TEST_FAULT_STALL:
          g_socket_close (backend, NULL);
          hold_until_closed (g_socket_get_fd (client));
          break;
        case SMTP_TEST_FAULT_CLOSE:
        case SMTP_TEST_FAULT_NONE:
        case SMTP_TEST_N_FAULTS:
        default:
          break;
        }
      g_socket_close (backend, NULL);
    }
  g_socket_close (client, NULL);

  g_mutex_lock (&proxy->mutex);
  proxy->n_faults[ended]++;
  g_ptr_array_remove (proxy->sockets, client);
  proxy->active--;
  g_cond_broadcast (&proxy->cond);
  g_mutex_unlock (&proxy->mutex);

  return TRUE;
}

static gpointer
run_proxy_thread (gpointer user_data)
{
  SmtpTestProxy *proxy = user_data;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) effective = NULL;
  g_autoptr(GError) error = NULL;

  g_main_context_push_thread_default (proxy->context);

  proxy->service = g_threaded_socket_service_new (64);
  g_signal_connect (proxy->service, "run", G_CALLBACK (on_run), proxy);
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (proxy->service),
                                      address, G_SOCKET_TYPE_STREAM,
                                      G_SOCKET_PROTOCOL_TCP, NULL, &effective,
                                      &error))
    g_error ("test proxy: cannot listen: %s", error->message);
  g_socket_service_start (proxy->service);

  g_mutex_lock (&proxy->mutex);
  proxy->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
  proxy->listening = TRUE;
  g_cond_broadcast (&proxy->cond);
  g_mutex_unlock (&proxy->mutex);

  g_main_loop_run (proxy->loop);

  g_socket_service_stop (proxy->service);
  g_socket_listener_close (G_SOCKET_LISTENER (proxy->service));
  g_main_context_pop_thread_default (proxy->context);

  return NULL;
}

SmtpTestProxy *
smtp_test_proxy_new (guint   backend_port,
                     guint32 seed,
                     guint   fault_percent,
                     guint   max_offset)
{
  SmtpTestProxy *proxy = g_new0 (SmtpTestProxy, 1);

  proxy->backend_port = backend_port;
  proxy->seed = seed;
  proxy->fault_percent = fault_percent;
  proxy->max_offset = max_offset;
  proxy->sockets = g_ptr_array_new_with_free_func (g_object_unref);
  g_mutex_init (&proxy->mutex);
  g_cond_init (&proxy->cond);
  proxy->context = g_main_context_new ();
  proxy->loop = g_main_loop_new (proxy->context, FALSE);
  proxy->thread = g_thread_new ("test-proxy", run_proxy_thread, proxy);

  g_mutex_lock (&proxy->mutex);
  while (!proxy->listening)
    g_cond_wait (&proxy->cond, &proxy->mutex);
  g_mutex_unlock (&proxy->mutex);

  return proxy;
}

static gboolean
quit_loop (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_REMOVE;
}

void
smtp_test_proxy_free (SmtpTestProxy *proxy)
{
  gint64 deadline = g_get_monotonic_time () +
                    SMTP_TEST_SERVER_WAIT * G_TIME_SPAN_SECOND;

  if (proxy == NULL)
    return;

  /* Stop accepting; wake the relays still running */
  g_mutex_lock (&proxy->mutex);
  proxy->stopping = TRUE;
  for (guint i = 0; i < proxy->sockets->len; i++)
    g_socket_shutdown (g_ptr_array_index (proxy->sockets, i), TRUE, TRUE, NULL);
  while (proxy->active > 0)
    if (!g_cond_wait_until (&proxy->cond, &proxy->mutex, deadline))
      g_error ("test proxy: %u relays did not end", proxy->active);
  g_mutex_unlock (&proxy->mutex);

  g_main_context_invoke (proxy->context, quit_loop, proxy->loop);
  g_thread_join (proxy->thread);
  g_object_unref (proxy->service);
  g_main_loop_unref (proxy->loop);
  g_main_context_unref (proxy->context);
  g_ptr_array_unref (proxy->sockets);
  g_mutex_clear (&proxy->mutex);
  g_cond_clear (&proxy->cond);
  g_free (proxy);
}

guint
smtp_test_proxy_get_port (SmtpTestProxy *proxy)
{
  return proxy->port;
}

guint
smtp_test_proxy_get_n_connections (SmtpTestProxy *proxy)
{
  guint n;

  g_mutex_lock (&proxy->mutex);
  n = proxy->n_connections;
  g_mutex_unlock (&proxy->mutex);

  return n;
}

guint
smtp_test_proxy_get_n_faults (SmtpTestProxy *proxy,
                              SmtpTestFault  fault)
{
  guint n;

  g_mutex_lock (&proxy->mutex);
  n = proxy->n_faults[fault];
  g_mutex_unlock (&proxy->mutex);

  return n;
}

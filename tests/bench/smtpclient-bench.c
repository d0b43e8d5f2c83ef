/* smtpclient-bench.c: send copies of a message through one SmtpClientSession
 * and report the rate, like Postfix's smtp-source
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   smtpclient-bench --server HOST --port N -m MESSAGES -s CONNECTIONS
 *                    -l BYTES [--message-file FILE]
 *                    [--security MODE] [--ca-file FILE]
 *                    [--auth MECH] [--user NAME] [--password-file FILE]
 *
 * The connection options are smtpclient-send's (the same code parses and
 * applies them); the password comes from --password-file or the
 * environment variable SMTPCLIENT_PASSWORD.
 *
 * Every message goes through the same session (max-connections = -s).  At
 * most a window of tasks exists at any time (a few per connection, enough
 * to keep every connection's pipeline full), so memory stays flat however
 * many messages are sent.  The generated message is one GBytes shared by
 * all tasks; --message-file is streamed by each task.
 *
 * Prints the messages and bytes sent, the wall-clock time, messages per
 * second and MB (10^6 bytes of message content) per second, the CPU time
 * and the peak resident set size.  Exits 0 only when every message was
 * accepted.
 */

#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <gio/gio.h>

#include <smtpclient/smtpclient.h>

#include "smtpclient-send-options-private.h"

#define TASKS_PER_CONNECTION 4
#define MIN_WINDOW           16

typedef struct
{
  GMainLoop         *loop;
  SmtpClientSession *session;
  char              *from;
  char             **to;
  GBytes            *body;         /* generated message, or NULL */
  GFile             *message_file; /* or this */
  guint64            message_size;

  guint              total;        /* messages to send */
  guint              submitted;
  guint              accepted;
  guint              failed;
  guint              in_flight;
  guint              window;
  gboolean           quiet;
  char              *first_error;
} Bench;

static void submit_more (Bench *bench);

static void
on_closed (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Bench *bench = user_data;
  g_autoptr(GError) error = NULL;

  if (!smtp_client_session_close_finish (SMTP_CLIENT_SESSION (source), result,
                                         &error))
    g_printerr ("smtpclient-bench: closing the session: %s\n",
                error->message);
  g_main_loop_quit (bench->loop);
}

static void
on_sent (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Bench *bench = user_data;
  g_autoptr(GError) error = NULL;

  if (smtp_client_task_send_finish (SMTP_CLIENT_TASK (source), result, &error))
    bench->accepted++;
  else
    {
      bench->failed++;
      if (bench->first_error == NULL)
        bench->first_error = g_strdup (error->message);
    }
  bench->in_flight--;

  if (bench->submitted < bench->total)
    submit_more (bench);
  else if (bench->in_flight == 0)
    smtp_client_session_close_async (bench->session, NULL, on_closed, bench);
}

static void
submit_more (Bench *bench)
{
  while (bench->submitted < bench->total && bench->in_flight < bench->window)
    {
      g_autoptr(SmtpClientTask) task = NULL;

      task = g_object_new (SMTP_CLIENT_TYPE_TASK,
                           "session", bench->session,
                           "from", bench->from,
                           "to", bench->to,
                           NULL);
      if (bench->message_file != NULL)
        g_object_set (task, "message-file", bench->message_file, NULL);
      else
        g_object_set (task, "body", bench->body, NULL);

      bench->submitted++;
      bench->in_flight++;
      smtp_client_task_send_async (task, NULL, on_sent, bench);
    }
}

/* A message of about @length bytes of body after a short header, in lines
 * of at most 78 characters, CRLF-terminated: what smtp-source -l sends
 * is comparable. */
static GBytes *
generate_message (const char *from,
                  const char *to,
                  gsize       length)
{
  GString *message = g_string_sized_new (length + 256);
  gsize body_start;

  g_string_append_printf (message,
                          "From: <%s>\r\n"
                          "To: <%s>\r\n"
                          "Subject: smtpclient-bench\r\n"
                          "Message-ID: <bench@smtpclient.invalid>\r\n"
                          "\r\n", from, to);
  body_start = message->len;

  while (message->len - body_start < length)
    {
      gsize left = length - (message->len - body_start);
      gsize line = MIN (left, 80);

      if (line <= 2)
        {
          g_string_append (message, "\r\n");
          break;
        }
      for (gsize i = 0; i < line - 2; i++)
        g_string_append_c (message, 'a' + (i % 26));
      g_string_append (message, "\r\n");
    }

  return g_string_free_to_bytes (message);
}

/* The session's own account: "statistics: messages-accepted=… …" */
static void
print_statistics (SmtpClientSession *session)
{
  static const char * const names[] = {
    "messages-accepted", "messages-failed", "bytes-sent",
    "connections-opened", "connections-reused", "retries", "throttled",
  };
  g_autoptr(GVariant) statistics = smtp_client_session_get_statistics (session);
  GString *line = g_string_new ("statistics:");

  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      guint64 value = 0;

      g_variant_lookup (statistics, names[i], "t", &value);
      g_string_append_printf (line, " %s=%" G_GUINT64_FORMAT, names[i], value);
    }
  g_print ("%s\n", line->str);
  g_string_free (line, TRUE);
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(SmtpClientSession) session = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autofree char *server = g_strdup ("localhost");
  g_autofree char *from = g_strdup ("bench@localhost");
  g_autofree char *to = g_strdup ("sink@localhost");
  g_autofree char *message_file = NULL;
  gint port = 0;
  g_autofree char *security_name = NULL;
  g_auto(SmtpClientSendCredentials) credentials = { 0, };
  SmtpClientSecurity security = SMTP_CLIENT_SECURITY_NONE;
  gint messages = 1;
  gint connections = 1;
  gint64 length = 1024;
  gint timeout = 30;
  gboolean quiet = FALSE;
  char *to_list[2] = { NULL, NULL };
  Bench bench = { 0, };
  gint64 start;
  double seconds;
  double cpu;
  struct rusage usage;
  GOptionEntry entries[] = {
    { "server", 0, 0, G_OPTION_ARG_STRING, &server,
      "Server host name or address (default: localhost)", "HOST" },
    { "port", 0, 0, G_OPTION_ARG_INT, &port,
      "Server port (default: 25, or 465 with --security tls)", "N" },
    { "security", 0, 0, G_OPTION_ARG_STRING, &security_name,
      "none, starttls-if-available, starttls or tls (default: none)",
      "MODE" },
    { "ca-file", 0, 0, G_OPTION_ARG_FILENAME, &credentials.ca_file,
      "Trust the CA certificates in FILE (PEM) instead of the system's",
      "FILE" },
    { "auth", 0, 0, G_OPTION_ARG_STRING, &credentials.auth,
      "The authentication mechanism (default: the best offered)", "MECH" },
    { "user", 0, 0, G_OPTION_ARG_STRING, &credentials.user,
      "The user name to authenticate as", "NAME" },
    { "password-file", 0, 0, G_OPTION_ARG_FILENAME,
      &credentials.password_file,
      "Read the password from the first line of FILE (or set "
      "SMTPCLIENT_PASSWORD)", "FILE" },
    { "messages", 'm', 0, G_OPTION_ARG_INT, &messages,
      "Number of messages to send (default: 1)", "MESSAGES" },
    { "sessions", 's', 0, G_OPTION_ARG_INT, &connections,
      "Connections in parallel, the session's max-connections (default: 1)",
      "CONNECTIONS" },
    { "length", 'l', 0, G_OPTION_ARG_INT64, &length,
      "Body size of the generated message in bytes, after its header "
      "(default: 1024)", "BYTES" },
    { "message-file", 0, 0, G_OPTION_ARG_FILENAME, &message_file,
      "Send this file instead of a generated message (streamed)", "FILE" },
    { "from", 'f', 0, G_OPTION_ARG_STRING, &from,
      "Sender address (default: bench@localhost)", "ADDR" },
    { "to", 't', 0, G_OPTION_ARG_STRING, &to,
      "Recipient address (default: sink@localhost)", "ADDR" },
    { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout,
      "Idle timeout of each wait in seconds (default: 30)", "S" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet,
      "Print only the rates line", NULL },
    G_OPTION_ENTRY_NULL
  };

  setlocale (LC_ALL, "");

  context = g_option_context_new (NULL);
  g_option_context_set_summary (context,
                                "Send copies of a message through one "
                                "SmtpClientSession and report messages/s "
                                "and MB/s.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("smtpclient-bench: %s\n", error->message);
      return 2;
    }
  if (argc > 1)
    {
      g_printerr ("smtpclient-bench: unexpected argument “%s”\n", argv[1]);
      return 2;
    }
  if (messages < 1 || connections < 1 || length < 0 || port < 0 ||
      port > 65535 || timeout < 0)
    {
      g_printerr ("smtpclient-bench: -m and -s must be at least 1, -l at "
                  "least 0, --port between 1 and 65535\n");
      return 2;
    }
  if (security_name != NULL &&
      !smtp_client_send_parse_security (security_name, &security))
    {
      g_printerr ("smtpclient-bench: unknown --security mode “%s”\n",
                  security_name);
      return 2;
    }

  to_list[0] = to;
  bench.from = from;
  bench.to = to_list;
  bench.total = messages;
  bench.quiet = quiet;
  bench.window = MAX ((guint) connections * TASKS_PER_CONNECTION, MIN_WINDOW);

  if (message_file != NULL)
    {
      g_autoptr(GFileInfo) info = NULL;

      bench.message_file = g_file_new_for_commandline_arg (message_file);
      info = g_file_query_info (bench.message_file,
                                G_FILE_ATTRIBUTE_STANDARD_SIZE,
                                G_FILE_QUERY_INFO_NONE, NULL, &error);
      if (info == NULL)
        {
          g_printerr ("smtpclient-bench: %s\n", error->message);
          return 2;
        }
      bench.message_size = g_file_info_get_size (info);
    }
  else
    {
      bench.body = generate_message (from, to, length);
      bench.message_size = g_bytes_get_size (bench.body);
    }

  session = g_object_new (SMTP_CLIENT_TYPE_SESSION,
                          "server", server,
                          "port", (guint) port,
                          "security", security,
                          "timeout", (guint) timeout,
                          "max-connections", (guint) connections,
                          NULL);
  if (!smtp_client_send_apply_credentials (&credentials, G_OBJECT (session),
                                           &error))
    {
      g_printerr ("smtpclient-bench: %s\n", error->message);
      return 2;
    }
  loop = g_main_loop_new (NULL, FALSE);
  bench.loop = loop;
  bench.session = session;

  start = g_get_monotonic_time ();
  submit_more (&bench);
  g_main_loop_run (loop);
  seconds = (g_get_monotonic_time () - start) / (double) G_USEC_PER_SEC;

  getrusage (RUSAGE_SELF, &usage);
  cpu = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 +
        usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;

  if (!quiet)
    {
      g_print ("messages: %u accepted, %u failed, %" G_GUINT64_FORMAT
               " bytes each, %u connection%s\n",
               bench.accepted, bench.failed, bench.message_size,
               (guint) connections, connections == 1 ? "" : "s");
      g_print ("time: %.3f s wall, %.3f s CPU, peak RSS %ld KiB\n",
               seconds, cpu, usage.ru_maxrss);
      print_statistics (session);
    }
  g_print ("%.1f messages/s, %.2f MB/s\n",
           seconds > 0 ? bench.accepted / seconds : 0.0,
           seconds > 0 ? bench.accepted * (double) bench.message_size /
                         seconds / 1e6 : 0.0);

  if (bench.first_error != NULL)
    g_printerr ("smtpclient-bench: first failure: %s\n", bench.first_error);

  g_clear_pointer (&bench.body, g_bytes_unref);
  g_clear_object (&bench.message_file);
  g_free (bench.first_error);

  return bench.accepted == bench.total ? 0 : 1;
}

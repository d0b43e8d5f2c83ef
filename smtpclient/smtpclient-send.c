/* smtpclient-send.c: a sendmail-like front end on libsmtpclient
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gi18n.h>
#include <gio/gio.h>
#include <gio/gunixinputstream.h>

#include <smtpclient/smtpclient.h>

/* Exit codes */
enum {
  EXIT_SENT = 0,
  EXIT_REFUSED = 1,   /* the server refused (SERVER, AUTH_FAILED, ...) */
  EXIT_USAGE = 2,     /* bad options or settings */
  EXIT_NETWORK = 3,   /* network, TLS, timeout, protocol */
  EXIT_INPUT = 4,     /* the message could not be read */
};

typedef struct
{
  GMainLoop *loop;
  gboolean   print_log;
  char      *fingerprint;   /* normalised: lower-case hex, no colons */
  int        status;
} SendState;

static int
exit_code_for (const GError *error)
{
  if (error->domain == SMTP_CLIENT_ERROR)
    {
      switch (error->code)
        {
        case SMTP_CLIENT_ERROR_CONFIGURE:
          return EXIT_USAGE;
        case SMTP_CLIENT_ERROR_MESSAGE_FILE:
          return EXIT_INPUT;
        case SMTP_CLIENT_ERROR_TIMEOUT:
        case SMTP_CLIENT_ERROR_PROTOCOL:
          return EXIT_NETWORK;
        default:
          return EXIT_REFUSED;
        }
    }

  return EXIT_NETWORK;
}

static char *
normalise_fingerprint (const char *text)
{
  GString *out = g_string_new (NULL);

  for (const char *p = text; *p != '\0'; p++)
    if (g_ascii_isxdigit (*p))
      g_string_append_c (out, g_ascii_tolower (*p));

  return g_string_free (out, FALSE);
}

static gboolean
on_accept_certificate (SmtpClientTask       *task,
                       GTlsCertificate      *certificate,
                       GTlsCertificateFlags  errors,
                       gpointer              user_data)
{
  SendState *state = user_data;
  g_autoptr(GByteArray) der = NULL;
  g_autofree char *digest = NULL;

  if (state->fingerprint == NULL)
    return FALSE;

  g_object_get (certificate, "certificate", &der, NULL);
  if (der == NULL)
    return FALSE;

  digest = g_compute_checksum_for_data (G_CHECKSUM_SHA256, der->data, der->len);
  return g_strcmp0 (digest, state->fingerprint) == 0;
}

static void
on_sent (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  SendState *state = user_data;
  SmtpClientTask *task = SMTP_CLIENT_TASK (source);
  g_autoptr(GError) error = NULL;
  const char *log = smtp_client_task_get_transaction_log (task);

  if (state->print_log && log != NULL)
    g_printerr ("%s\n", log);

  if (!smtp_client_task_send_finish (task, result, &error))
    {
      g_printerr ("smtpclient-send: %s\n", error->message);
      state->status = exit_code_for (error);
    }
  else
    {
      state->status = EXIT_SENT;
    }

  g_main_loop_quit (state->loop);
}

static gboolean
parse_bind (const char  *text,
            char       **address,
            guint       *port,
            GError     **error)
{
  const char *colon = strrchr (text, ':');
  g_autofree char *host = NULL;
  guint64 value = 0;

  if (text[0] == '[')
    {
      const char *end = strchr (text, ']');

      if (end == NULL)
        goto bad;
      host = g_strndup (text + 1, end - text - 1);
      colon = end[1] == ':' ? end + 1 : NULL;
      if (end[1] != '\0' && colon == NULL)
        goto bad;
    }
  else if (colon != NULL && strchr (text, ':') == colon)
    host = g_strndup (text, colon - text);
  else
    {
      host = g_strdup (text);
      colon = NULL;
    }

  if (colon != NULL &&
      !g_ascii_string_to_unsigned (colon + 1, 10, 0, 65535, &value, NULL))
    goto bad;

  *port = value;
  *address = *host != '\0' ? g_steal_pointer (&host) : NULL;
  return TRUE;

bad:
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
               _("Cannot parse the bind address “%s” (ADDR or ADDR:PORT)"),
               text);
  return FALSE;
}

static gboolean
parse_security (const char          *text,
                SmtpClientSecurity  *security)
{
  static const struct { const char *name; SmtpClientSecurity value; } names[] = {
    { "none", SMTP_CLIENT_SECURITY_NONE },
    { "starttls-if-available", SMTP_CLIENT_SECURITY_STARTTLS_IF_AVAILABLE },
    { "starttls", SMTP_CLIENT_SECURITY_STARTTLS },
    { "tls", SMTP_CLIENT_SECURITY_TLS },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    if (g_ascii_strcasecmp (text, names[i].name) == 0)
      {
        *security = names[i].value;
        return TRUE;
      }

  return FALSE;
}

static char *
read_password_file (const char  *path,
                    GError     **error)
{
  g_autofree char *contents = NULL;
  char *newline;

  if (!g_file_get_contents (path, &contents, NULL, error))
    return NULL;

  newline = strpbrk (contents, "\r\n");
  if (newline != NULL)
    *newline = '\0';

  return g_steal_pointer (&contents);
}

int
main (int    argc,
      char **argv)
{
  g_autofree char *server = g_strdup ("localhost");
  int port = 0;
  g_autofree char *security_name = NULL;
  g_autofree char *from = NULL;
  g_autofree char *helo = NULL;
  int timeout = 30;
  g_autofree char *bind = NULL;
  g_autofree char *auth = NULL;
  g_autofree char *user = NULL;
  g_autofree char *password_file = NULL;
  g_autofree char *ca_file = NULL;
  g_autofree char *fingerprint = NULL;
  gboolean print_log = FALSE;
  gboolean debug = FALSE;
  gboolean version = FALSE;
  g_autofree char *message_file = NULL;
  g_auto(GStrv) recipients = NULL;
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autofree char *password = NULL;
  SmtpClientSecurity security = SMTP_CLIENT_SECURITY_NONE;
  SendState state = { 0 };
  const GOptionEntry entries[] = {
    { "server", 0, 0, G_OPTION_ARG_STRING, &server,
      N_("The SMTP server (default: localhost)"), N_("HOST") },
    { "port", 0, 0, G_OPTION_ARG_INT, &port,
      N_("The server port (default: 25, or 465 with --security tls)"), N_("N") },
    { "security", 0, 0, G_OPTION_ARG_STRING, &security_name,
      N_("none, starttls-if-available, starttls or tls (default: none)"),
      N_("MODE") },
    { "from", 0, 0, G_OPTION_ARG_STRING, &from,
      N_("The sender address (default: root@localhost)"), N_("ADDR") },
    { "helo", 0, 0, G_OPTION_ARG_STRING, &helo,
      N_("The host name to announce in EHLO/HELO"), N_("NAME") },
    { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout,
      N_("Seconds to wait for the server at any step (default: 30)"), N_("S") },
    { "bind", 0, 0, G_OPTION_ARG_STRING, &bind,
      N_("The local address (and port) to connect from"), N_("ADDR[:PORT]") },
    { "auth", 0, 0, G_OPTION_ARG_STRING, &auth,
      N_("The authentication mechanism (default: the best offered)"),
      N_("MECH") },
    { "user", 0, 0, G_OPTION_ARG_STRING, &user,
      N_("The user name to authenticate as"), N_("NAME") },
    { "password-file", 0, 0, G_OPTION_ARG_FILENAME, &password_file,
      N_("Read the password from the first line of FILE (or set "
         "SMTPCLIENT_PASSWORD)"), N_("FILE") },
    { "ca-file", 0, 0, G_OPTION_ARG_FILENAME, &ca_file,
      N_("Trust the CA certificates in FILE (PEM) instead of the system's"),
      N_("FILE") },
    { "accept-fingerprint", 0, 0, G_OPTION_ARG_STRING, &fingerprint,
      N_("Accept a server certificate with this SHA-256 fingerprint even if "
         "it does not verify"), N_("SHA256") },
    { "log", 0, 0, G_OPTION_ARG_NONE, &print_log,
      N_("Print the transaction log to standard error"), NULL },
    { "debug", 0, 0, G_OPTION_ARG_NONE, &debug,
      N_("Print debugging messages"), NULL },
    { "message-file", 0, 0, G_OPTION_ARG_FILENAME, &message_file,
      N_("Read the message from FILE instead of standard input"), N_("FILE") },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version,
      N_("Print the version and exit"), NULL },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &recipients,
      NULL, N_("RECIPIENT…") },
    G_OPTION_ENTRY_NULL
  };

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, SMTP_CLIENT_LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  context = g_option_context_new (_("RECIPIENT… — send a message by SMTP"));
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  g_option_context_set_description (context,
    _("Reads the message (headers and body) from standard input, or from "
      "--message-file,\nand sends it to every RECIPIENT.\n\n"
      "Exit status: 0 sent, 1 refused by the server, 2 usage or settings,\n"
      "3 network, TLS or protocol failure, 4 the message could not be "
      "read."));

  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("smtpclient-send: %s\n", error->message);
      return EXIT_USAGE;
    }

  if (version)
    {
      g_print ("smtpclient-send %s\n", SMTP_CLIENT_VERSION_S);
      return EXIT_SENT;
    }

  if (recipients == NULL || recipients[0] == NULL)
    {
      g_printerr ("smtpclient-send: %s\n", _("No recipient given"));
      return EXIT_USAGE;
    }

  if (security_name != NULL && !parse_security (security_name, &security))
    {
      g_printerr ("smtpclient-send: %s\n", _("Unknown --security mode"));
      return EXIT_USAGE;
    }

  if (port < 0 || port > 65535 || timeout < 0)
    {
      g_printerr ("smtpclient-send: %s\n", _("Bad --port or --timeout"));
      return EXIT_USAGE;
    }

  task = smtp_client_task_new ();
  g_object_set (task,
                "server", server,
                "port", (guint) port,
                "security", security,
                "timeout", (guint) timeout,
                "to", recipients,
                "transaction-log", print_log,
                "debug", debug ? 1u : 0u,
                NULL);
  if (from != NULL)
    g_object_set (task, "from", from, NULL);
  if (helo != NULL)
    g_object_set (task, "my-hostname", helo, NULL);
  if (debug)
    g_log_set_debug_enabled (TRUE);

  if (bind != NULL)
    {
      g_autofree char *address = NULL;
      guint bind_port = 0;

      if (!parse_bind (bind, &address, &bind_port, &error))
        {
          g_printerr ("smtpclient-send: %s\n", error->message);
          return EXIT_USAGE;
        }
      g_object_set (task, "bind-address", address, "bind-port", bind_port, NULL);
    }

  if (password_file != NULL)
    {
      password = read_password_file (password_file, &error);
      if (password == NULL)
        {
          g_printerr ("smtpclient-send: %s\n", error->message);
          return EXIT_INPUT;
        }
    }
  else if (g_getenv ("SMTPCLIENT_PASSWORD") != NULL)
    {
      password = g_strdup (g_getenv ("SMTPCLIENT_PASSWORD"));
    }

  if (user != NULL)
    g_object_set (task, "auth-user", user, "auth-password", password, NULL);
  if (auth != NULL)
    g_object_set (task, "auth-mechanism", auth, NULL);

  if (ca_file != NULL)
    {
      g_autoptr(GTlsDatabase) database = g_tls_file_database_new (ca_file, &error);

      if (database == NULL)
        {
          g_printerr ("smtpclient-send: %s\n", error->message);
          return EXIT_INPUT;
        }
      g_object_set (task, "tls-database", database, NULL);
    }

  if (fingerprint != NULL)
    {
      state.fingerprint = normalise_fingerprint (fingerprint);
      if (strlen (state.fingerprint) != 64)
        {
          g_printerr ("smtpclient-send: %s\n",
                      _("--accept-fingerprint takes a SHA-256 fingerprint "
                        "(64 hexadecimal digits)"));
          g_free (state.fingerprint);
          return EXIT_USAGE;
        }
    }
  g_signal_connect (task, "accept-certificate",
                    G_CALLBACK (on_accept_certificate), &state);

  if (message_file != NULL)
    {
      g_autoptr(GFile) file = g_file_new_for_commandline_arg (message_file);

      g_object_set (task, "message-file", file, NULL);
    }
  else
    {
      g_autoptr(GInputStream) input = g_unix_input_stream_new (0, FALSE);

      g_object_set (task, "input-stream", input, NULL);
    }

  loop = g_main_loop_new (NULL, FALSE);
  state.loop = loop;
  state.print_log = print_log;
  state.status = EXIT_NETWORK;
  smtp_client_task_send_async (task, NULL, on_sent, &state);
  g_main_loop_run (loop);

  if (password != NULL)
    memset (password, 0, strlen (password));
  g_free (state.fingerprint);

  return state.status;
}

/* smtpclient-send.c: a sendmail-like front end on libsmtpclient
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <gio/gio.h>
#include <gio/gunixinputstream.h>

#include <smtpclient/smtpclient.h>

#include "smtpclient-send-options-private.h"
#include "smtpclient-send-private.h"

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
        case SMTP_CLIENT_ERROR_TLS_UNAVAILABLE:
          return EXIT_NETWORK;
        default:
          return EXIT_REFUSED;
        }
    }

  return EXIT_NETWORK;
}

/* Lower-case hexadecimal without separators, from the forms people copy
 * ("AB:CD:…" from openssl x509 -fingerprint, "ab cd …", "abcd…"); NULL if
 * @text has anything else. */
static char *
normalise_fingerprint (const char *text)
{
  GString *out = g_string_new (NULL);

  for (const char *p = text; *p != '\0'; p++)
    {
      if (g_ascii_isxdigit (*p))
        g_string_append_c (out, g_ascii_tolower (*p));
      else if (*p != ':' && *p != ' ')
        {
          g_string_free (out, TRUE);
          return NULL;
        }
    }

  return g_string_free (out, FALSE);
}

static gboolean
on_accept_certificate (GObject              *task_or_session,
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

typedef struct
{
  GMainLoop         *loop;
  SmtpClientSession *session;
  GError            *error;
} Discovery;

static void
on_discovered (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  Discovery *discovery = user_data;

  discovery->session = smtp_client_session_new_for_domain_finish (result,
                                                                  &discovery->error);
  g_main_loop_quit (discovery->loop);
}

static gboolean
on_discovery_timeout (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

/* The submission server of @domain, from its SRV records; the lookups
 * are bounded by --timeout, as every other wait is (0: no bound) */
static SmtpClientSession *
discover (const char  *domain,
          guint        timeout,
          GError     **error)
{
  Discovery discovery = { g_main_loop_new (NULL, FALSE), NULL, NULL };
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  guint timer = 0;

  if (timeout > 0)
    timer = g_timeout_add_seconds (timeout, on_discovery_timeout, cancellable);
  smtp_client_session_new_for_domain_async (domain, cancellable, on_discovered,
                                            &discovery);
  g_main_loop_run (discovery.loop);
  g_main_loop_unref (discovery.loop);
  if (timer != 0 && !g_cancellable_is_cancelled (cancellable))
    g_source_remove (timer);

  if (discovery.error != NULL &&
      g_error_matches (discovery.error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_clear_error (&discovery.error);
      g_set_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_TIMEOUT,
                   _("No answer to the SRV lookups for %s in %u seconds"),
                   domain, timeout);
    }
  else if (discovery.error != NULL)
    g_propagate_error (error, discovery.error);

  return discovery.session;
}

static void
on_session_closed (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  smtp_client_session_close_finish (SMTP_CLIENT_SESSION (source), result, NULL);
  g_main_loop_quit (user_data);
}

/* @path as a stream when it names a regular file, opened without GIO's
 * virtual file system (whose set-up, a scan of the GIO modules, costs a
 * short run more than the open); NULL for anything else (a URI, a FIFO,
 * a file that cannot be opened), which the GFile path then handles */
static GInputStream *
open_regular_file (const char *path)
{
  struct stat st;
  int fd;

  /* Not even opened unless it is a regular file: a reader that opens and
   * closes a FIFO may let its writer in only to meet a closed pipe */
  if (g_stat (path, &st) != 0 || !S_ISREG (st.st_mode))
    return NULL;

  fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
  if (fd < 0)
    return NULL;
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      g_close (fd, NULL);
      return NULL;
    }

  return g_unix_input_stream_new (fd, TRUE);
}

/* sendmail's spellings that GOption would refuse, as scripts write them:
 * "-oi" is one option (ignored, as "-i" is: a lone "." never ends the
 * input here), and "-fADDR" is "-f ADDR" (PHP's mail() passes it so);
 * everything after "--" is left alone.  Returns the arguments to parse
 * (transfer full). */
static char **
rewrite_sendmail_options (int    argc,
                          char **argv)
{
  GPtrArray *args = g_ptr_array_new ();
  gboolean options = TRUE;

  for (int i = 0; i < argc; i++)
    {
      if (i > 0 && options && g_str_equal (argv[i], "--"))
        options = FALSE;

      if (i > 0 && options && g_str_equal (argv[i], "-oi"))
        g_ptr_array_add (args, g_strdup ("-i"));
      else if (i > 0 && options && g_str_has_prefix (argv[i], "-f") &&
               argv[i][2] != '\0')
        {
          g_ptr_array_add (args, g_strdup ("-f"));
          g_ptr_array_add (args, g_strdup (argv[i] + 2));
        }
      else
        g_ptr_array_add (args, g_strdup (argv[i]));
    }
  g_ptr_array_add (args, NULL);

  return (char **) g_ptr_array_free (args, FALSE);
}

int
main (int    argc,
      char **argv)
{
  g_autofree char *server = NULL;  /* GOption does not free a default */
  int port = 0;
  g_autofree char *security_name = NULL;
  g_autofree char *from = NULL;
  g_autofree char *helo = NULL;
  int timeout = 30;
  g_autofree char *bind = NULL;
  g_autofree char *fingerprint = NULL;
  gboolean print_log = FALSE;
  gboolean debug = FALSE;
  gboolean version = FALSE;
  gboolean read_recipients = FALSE;
  g_autofree char *message_file = NULL;
  g_auto(GStrv) recipients = NULL;
  g_auto(GStrv) args = NULL;
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_auto(SmtpClientSendCredentials) credentials = { 0, };
  int max_retries = -1;
  gboolean ignored = FALSE;
  gboolean lmtp = FALSE;
  gboolean require_tls = FALSE;
  g_autofree char *domain = NULL;
  g_autoptr(SmtpClientSession) session = NULL;
  GObject *target;
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
    { "from", 'f', 0, G_OPTION_ARG_STRING, &from,
      N_("The sender address (default: root@localhost)"), N_("ADDR") },
    { "helo", 0, 0, G_OPTION_ARG_STRING, &helo,
      N_("The host name to announce in EHLO/HELO"), N_("NAME") },
    { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout,
      N_("Seconds to wait for the server at any step (default: 30)"), N_("S") },
    { "bind", 0, 0, G_OPTION_ARG_STRING, &bind,
      N_("The local address (and port) to connect from"), N_("ADDR[:PORT]") },
    { "auth", 0, 0, G_OPTION_ARG_STRING, &credentials.auth,
      N_("The authentication mechanism (default: the best offered)"),
      N_("MECH") },
    { "user", 0, 0, G_OPTION_ARG_STRING, &credentials.user,
      N_("The user name to authenticate as"), N_("NAME") },
    { "password-file", 0, 0, G_OPTION_ARG_FILENAME, &credentials.password_file,
      N_("Read the password from the first line of FILE (or set "
         "SMTPCLIENT_PASSWORD)"), N_("FILE") },
    { "ca-file", 0, 0, G_OPTION_ARG_FILENAME, &credentials.ca_file,
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
    { "read-recipients", 't', 0, G_OPTION_ARG_NONE, &read_recipients,
      N_("Also send to the addresses in the message’s To, Cc and Bcc "
         "fields, and remove the Bcc field"), NULL },
    { "lmtp", 0, 0, G_OPTION_ARG_NONE, &lmtp,
      N_("Speak LMTP (RFC 2033) instead of SMTP, e.g. to Dovecot; --server "
         "may be the path of a Unix domain socket"), NULL },
    { "require-tls", 0, 0, G_OPTION_ARG_NONE, &require_tls,
      N_("Require TLS all the way to the recipients (REQUIRETLS, RFC 8689); "
         "fail if the server cannot promise it"), NULL },
    { "discover", 0, 0, G_OPTION_ARG_STRING, &domain,
      N_("Find the submission server of DOMAIN from its SRV records "
         "(RFC 6186) instead of --server, --port and --security"),
      N_("DOMAIN") },
    { "max-retries", 0, 0, G_OPTION_ARG_INT, &max_retries,
      N_("Try again this many times after a transient failure that left "
         "the message unsent (default: 2)"), N_("N") },
    { "ignore-dots", 'i', 0, G_OPTION_ARG_NONE, &ignored,
      N_("Accepted for sendmail compatibility (also -oi): a lone “.” never "
         "ends the message"), NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version,
      N_("Print the version and exit"), NULL },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &recipients,
      NULL, N_("RECIPIENT…") },
    G_OPTION_ENTRY_NULL
  };

  /* Only what the tool uses: its messages and their character set (each
   * further category is files to open at every start) */
  setlocale (LC_CTYPE, "");
  setlocale (LC_MESSAGES, "");
  /* SMTPCLIENT_LOCALEDIR: for running from the build tree (the tests) */
  bindtextdomain (GETTEXT_PACKAGE,
                  g_getenv ("SMTPCLIENT_LOCALEDIR") != NULL
                  ? g_getenv ("SMTPCLIENT_LOCALEDIR") : SMTP_CLIENT_LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  /* The help texts are translated by GOption when it prints them
   * (N_()): a run that prints no help never loads the catalogue */
  context = g_option_context_new (N_("— send a message by SMTP"));
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  g_option_context_set_description (context,
    N_("Reads the message (header and body) from standard input, or from "
      "--message-file,\n"
      "and sends it to every RECIPIENT. With -t, the addresses in the "
      "message’s To, Cc\n"
      "and Bcc fields are recipients too, and the Bcc field is not sent.\n"
      "The password is read from --password-file or from the environment "
      "variable\n"
      "SMTPCLIENT_PASSWORD, never from the command line.\n"
      "\n"
      "Exit status:\n"
      "  0  the server accepted the message\n"
      "  1  the server refused the message, a recipient or the credentials\n"
      "  2  bad usage or settings (including an unreadable password or CA "
      "file)\n"
      "  3  network, TLS, timeout or protocol failure\n"
      "  4  the message could not be read"));

  args = rewrite_sendmail_options (argc, argv);
  if (!g_option_context_parse_strv (context, &args, &error))
    {
      g_printerr ("smtpclient-send: %s\n", error->message);
      return EXIT_USAGE;
    }

  if (version)
    {
      g_print ("smtpclient-send %s\n", SMTP_CLIENT_VERSION_S);
      return EXIT_SENT;
    }

  if (!read_recipients && (recipients == NULL || recipients[0] == NULL))
    {
      g_printerr ("smtpclient-send: %s\n", _("No recipient given"));
      return EXIT_USAGE;
    }

  if (security_name != NULL && !smtp_client_send_parse_security (security_name, &security))
    {
      g_printerr ("smtpclient-send: %s\n", _("Unknown --security mode"));
      return EXIT_USAGE;
    }

  if (port < 0 || port > 65535 || timeout < 0 || max_retries > 100)
    {
      g_printerr ("smtpclient-send: %s\n",
                  _("Bad --port, --timeout or --max-retries"));
      return EXIT_USAGE;
    }

  task = smtp_client_task_new ();
  g_object_set (task,
                "transaction-log", print_log,
                "debug", debug ? 1u : 0u,
                "require-tls", require_tls,
                NULL);

  /* The connection settings go to the task, or with --discover to the
   * session made for the domain (same property names) */
  if (domain != NULL)
    {
      if (server != NULL || port != 0 || security_name != NULL)
        {
          g_printerr ("smtpclient-send: %s\n",
                      _("--discover finds the server, its port and its "
                        "security: give none of --server, --port and "
                        "--security with it"));
          return EXIT_USAGE;
        }
      session = discover (domain, (guint) timeout, &error);
      if (session == NULL)
        {
          g_printerr ("smtpclient-send: %s\n", error->message);
          return g_error_matches (error, SMTP_CLIENT_ERROR,
                                  SMTP_CLIENT_ERROR_CONFIGURE)
                 ? EXIT_USAGE : EXIT_NETWORK;
        }
      g_object_set (task, "session", session, NULL);
      target = G_OBJECT (session);
    }
  else
    {
      g_object_set (task,
                    "server", server != NULL ? server : "localhost",
                    "port", (guint) port,
                    "security", security,
                    NULL);
      target = G_OBJECT (task);
    }

  g_object_set (target, "timeout", (guint) timeout, NULL);
  if (lmtp)
    g_object_set (target, "protocol", SMTP_CLIENT_PROTOCOL_LMTP, NULL);
  if (from != NULL)
    g_object_set (task, "from", from, NULL);
  if (helo != NULL)
    g_object_set (target, "my-hostname", helo, NULL);
  if (max_retries >= 0)
    g_object_set (target, "max-retries", (guint) max_retries, NULL);
  if (debug)
    {
      /* Standard error, never mixed into what a script reads */
      g_log_writer_default_set_use_stderr (TRUE);
      g_log_set_debug_enabled (TRUE);
    }

  if (bind != NULL)
    {
      g_autofree char *address = NULL;
      guint bind_port = 0;

      if (!parse_bind (bind, &address, &bind_port, &error))
        {
          g_printerr ("smtpclient-send: %s\n", error->message);
          return EXIT_USAGE;
        }
      g_object_set (target, "bind-address", address, "bind-port", bind_port,
                    NULL);
    }

  if (!smtp_client_send_apply_credentials (&credentials, target, &error))
    {
      /* A setting that cannot be used, not the message */
      g_printerr ("smtpclient-send: %s\n", error->message);
      return EXIT_USAGE;
    }

  if (fingerprint != NULL)
    {
      state.fingerprint = normalise_fingerprint (fingerprint);
      if (state.fingerprint == NULL || strlen (state.fingerprint) != 64)
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
  if (session != NULL)
    g_signal_connect (session, "accept-certificate",
                      G_CALLBACK (on_accept_certificate), &state);

  if (read_recipients)
    {
      g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func (g_free);
      g_autoptr(GInputStream) input = NULL;
      g_autoptr(GInputStream) message = NULL;

      for (gsize i = 0; recipients != NULL && recipients[i] != NULL; i++)
        g_ptr_array_add (all, g_strdup (recipients[i]));

      if (message_file != NULL)
        {
          input = open_regular_file (message_file);
          if (input == NULL)
            {
              g_autoptr(GFile) file = g_file_new_for_commandline_arg (message_file);

              input = G_INPUT_STREAM (g_file_read (file, NULL, &error));
            }
        }
      else
        input = g_unix_input_stream_new (0, FALSE);

      if (input != NULL)
        message = smtp_client_send_read_recipients (input, all, &error);
      if (message == NULL)
        {
          g_printerr ("smtpclient-send: %s\n", error->message);
          return EXIT_INPUT;
        }
      if (all->len == 0)
        {
          g_printerr ("smtpclient-send: %s\n",
                      _("No recipient given, and the message has no To, Cc "
                        "or Bcc field"));
          return EXIT_USAGE;
        }

      g_ptr_array_add (all, NULL);
      g_object_set (task,
                    "to", (const char * const *) all->pdata,
                    "input-stream", message,
                    NULL);
    }
  else if (message_file != NULL)
    {
      g_autoptr(GInputStream) input = open_regular_file (message_file);
      g_autoptr(GFile) file = NULL;

      if (input != NULL)
        g_object_set (task, "to", recipients, "input-stream", input, NULL);
      else
        {
          /* The library opens it, or says why it cannot */
          file = g_file_new_for_commandline_arg (message_file);
          g_object_set (task, "to", recipients, "message-file", file, NULL);
        }
    }
  else
    {
      g_autoptr(GInputStream) input = g_unix_input_stream_new (0, FALSE);

      g_object_set (task, "to", recipients, "input-stream", input, NULL);
    }

  loop = g_main_loop_new (NULL, FALSE);
  state.loop = loop;
  state.print_log = print_log;
  state.status = EXIT_NETWORK;
  smtp_client_task_send_async (task, NULL, on_sent, &state);
  g_main_loop_run (loop);

  /* The discovered server's connection: QUIT */
  if (session != NULL)
    {
      smtp_client_session_close_async (session, NULL, on_session_closed, loop);
      g_main_loop_run (loop);
    }

  g_free (state.fingerprint);

  return state.status;
}

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

/* -t: recipients from the message headers.
 *
 * The message is streamed, so only the header block is read into memory
 * (up to HEADER_LIMIT bytes): its To, Cc and Bcc fields give the
 * recipients, the Bcc field is dropped, and the task reads the remaining
 * header lines from memory and then the rest of the input from where the
 * header reading stopped, through a ConcatStream. */

#define HEADER_LIMIT (1024 * 1024)

#define TYPE_CONCAT_STREAM (concat_stream_get_type ())
G_DECLARE_FINAL_TYPE (ConcatStream, concat_stream, SEND, CONCAT_STREAM,
                      GInputStream)

struct _ConcatStream
{
  GInputStream  parent_instance;
  GInputStream *parts[2];
  guint         current;
};

G_DEFINE_FINAL_TYPE (ConcatStream, concat_stream, G_TYPE_INPUT_STREAM)

static gssize
concat_stream_read (GInputStream  *stream,
                    void          *buffer,
                    gsize          count,
                    GCancellable  *cancellable,
                    GError       **error)
{
  ConcatStream *self = SEND_CONCAT_STREAM (stream);

  while (self->current < G_N_ELEMENTS (self->parts))
    {
      gssize n = g_input_stream_read (self->parts[self->current], buffer,
                                      count, cancellable, error);

      if (n != 0 || count == 0)
        return n;
      self->current++;
    }

  return 0;
}

typedef struct
{
  void  *buffer;
  gsize  count;
} ConcatRead;

static void concat_stream_read_next (GTask *task);

static void
concat_stream_part_read_cb (GObject      *source,
                            GAsyncResult *result,
                            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  ConcatStream *self = g_task_get_source_object (task);
  GError *error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result,
                                         &error);

  if (n < 0)
    g_task_return_error (task, error);
  else if (n > 0)
    g_task_return_int (task, n);
  else
    {
      self->current++;
      concat_stream_read_next (g_steal_pointer (&task));
    }
}

static void
concat_stream_read_next (GTask *task)
{
  ConcatStream *self = g_task_get_source_object (task);
  ConcatRead *read = g_task_get_task_data (task);

  if (self->current >= G_N_ELEMENTS (self->parts) || read->count == 0)
    {
      g_task_return_int (task, 0);
      g_object_unref (task);
      return;
    }

  g_input_stream_read_async (self->parts[self->current], read->buffer,
                             read->count, g_task_get_priority (task),
                             g_task_get_cancellable (task),
                             concat_stream_part_read_cb, task);
}

static void
concat_stream_read_async (GInputStream        *stream,
                          void                *buffer,
                          gsize                count,
                          int                  io_priority,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  GTask *task = g_task_new (stream, cancellable, callback, user_data);
  ConcatRead *read = g_new0 (ConcatRead, 1);

  g_task_set_source_tag (task, concat_stream_read_async);
  g_task_set_priority (task, io_priority);
  read->buffer = buffer;
  read->count = count;
  g_task_set_task_data (task, read, g_free);
  concat_stream_read_next (task);
}

static gssize
concat_stream_read_finish (GInputStream  *stream,
                           GAsyncResult  *result,
                           GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, stream), -1);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        concat_stream_read_async, -1);

  return g_task_propagate_int (G_TASK (result), error);
}

static gboolean
concat_stream_close (GInputStream  *stream,
                     GCancellable  *cancellable,
                     GError       **error)
{
  ConcatStream *self = SEND_CONCAT_STREAM (stream);
  gboolean ok = TRUE;

  for (gsize i = 0; i < G_N_ELEMENTS (self->parts); i++)
    if (self->parts[i] != NULL &&
        !g_input_stream_close (self->parts[i], cancellable,
                               ok ? error : NULL))
      ok = FALSE;

  return ok;
}

static void
concat_stream_dispose (GObject *object)
{
  ConcatStream *self = SEND_CONCAT_STREAM (object);

  for (gsize i = 0; i < G_N_ELEMENTS (self->parts); i++)
    g_clear_object (&self->parts[i]);

  G_OBJECT_CLASS (concat_stream_parent_class)->dispose (object);
}

static void
concat_stream_class_init (ConcatStreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GInputStreamClass *stream_class = G_INPUT_STREAM_CLASS (klass);

  object_class->dispose = concat_stream_dispose;
  stream_class->read_fn = concat_stream_read;
  stream_class->read_async = concat_stream_read_async;
  stream_class->read_finish = concat_stream_read_finish;
  stream_class->close_fn = concat_stream_close;
}

static void
concat_stream_init (ConcatStream *self)
{
}

static GInputStream *
concat_stream_new (GInputStream *first,
                   GInputStream *second)
{
  ConcatStream *self = g_object_new (TYPE_CONCAT_STREAM, NULL);

  self->parts[0] = g_object_ref (first);
  self->parts[1] = g_object_ref (second);
  return G_INPUT_STREAM (self);
}

/* Appends the addr-specs of an address list (RFC 5322 3.4: "Name <addr>",
 * bare addresses, comments, quoted strings, groups) to @recipients,
 * skipping ones already there. */
static void
add_address_list (const char *value,
                  GPtrArray  *recipients)
{
  g_autoptr(GString) token = g_string_new (NULL);
  g_autoptr(GString) angle = g_string_new (NULL);
  gboolean in_quote = FALSE;
  gboolean in_angle = FALSE;
  gboolean has_angle = FALSE;
  int comment_depth = 0;

  for (const char *p = value; ; p++)
    {
      char c = *p;

      if (c != '\0' && in_quote)
        {
          GString *out = in_angle ? angle : token;

          g_string_append_c (out, c);
          if (c == '\\' && p[1] != '\0')
            g_string_append_c (out, *++p);
          else if (c == '"')
            in_quote = FALSE;
          continue;
        }

      if (c != '\0' && comment_depth > 0)
        {
          if (c == '\\' && p[1] != '\0')
            p++;
          else if (c == '(')
            comment_depth++;
          else if (c == ')')
            comment_depth--;
          continue;
        }

      if (c == '(')
        comment_depth++;
      else if (c == '"')
        {
          in_quote = TRUE;
          g_string_append_c (in_angle ? angle : token, c);
        }
      else if (c == '<' && !in_angle)
        {
          in_angle = TRUE;
          has_angle = TRUE;
          g_string_truncate (angle, 0);
        }
      else if (c == '>' && in_angle)
        in_angle = FALSE;
      else if (c == ':' && !in_angle)
        g_string_truncate (token, 0);   /* a group's display name */
      else if (c != '\0' && in_angle)
        g_string_append_c (angle, c);
      else if (c == ',' || c == ';' || c == '\0')
        {
          const char *address = has_angle ? angle->str : token->str;
          const char *route_end = has_angle ? strrchr (address, ':') : NULL;
          g_autofree char *bare = NULL;

          /* An obsolete source route: <@relay:user@example.org> */
          if (route_end != NULL && address[0] == '@')
            address = route_end + 1;

          bare = g_strstrip (g_strdup (address));
          if (!has_angle)
            {
              /* Folding white space around the parts of a bare address */
              g_autoptr(GString) squeezed = g_string_new (NULL);

              for (const char *q = bare; *q != '\0'; q++)
                if (!g_ascii_isspace (*q))
                  g_string_append_c (squeezed, *q);
              g_free (bare);
              bare = g_string_free (g_steal_pointer (&squeezed), FALSE);
            }

          if (*bare != '\0' &&
              !g_ptr_array_find_with_equal_func (recipients, bare,
                                                 g_str_equal, NULL))
            g_ptr_array_add (recipients, g_steal_pointer (&bare));

          g_string_truncate (token, 0);
          g_string_truncate (angle, 0);
          has_angle = FALSE;
          if (c == '\0')
            break;
        }
      else
        g_string_append_c (token, c);
    }
}

static gboolean
is_recipient_field (const char *name,
                    gsize       length,
                    gboolean   *is_bcc)
{
  *is_bcc = length == 3 && g_ascii_strncasecmp (name, "bcc", 3) == 0;

  return *is_bcc ||
         (length == 2 && (g_ascii_strncasecmp (name, "to", 2) == 0 ||
                          g_ascii_strncasecmp (name, "cc", 2) == 0));
}

/* Reads the header block of @input (up to and including the empty line, or
 * up to the first line that is not a header field), adds the recipients of
 * its To, Cc and Bcc fields to @recipients, and returns a stream that gives
 * the same message without the Bcc field. */
static GInputStream *
read_recipients_from_headers (GInputStream  *input,
                              GPtrArray     *recipients,
                              GError       **error)
{
  g_autoptr(GDataInputStream) data = g_data_input_stream_new (input);
  g_autoptr(GString) header = g_string_new (NULL);
  g_autoptr(GString) field = g_string_new (NULL);
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GInputStream) memory = NULL;
  gboolean keep_field = TRUE;
  gsize total = 0;

  g_data_input_stream_set_newline_type (data, G_DATA_STREAM_NEWLINE_TYPE_LF);
  g_filter_input_stream_set_close_base_stream (G_FILTER_INPUT_STREAM (data),
                                               TRUE);

  for (;;)
    {
      g_autoptr(GError) local_error = NULL;
      gsize length = 0;
      g_autofree char *line = g_data_input_stream_read_line (data, &length,
                                                             NULL,
                                                             &local_error);
      gsize text_length;
      gboolean is_continuation;
      const char *colon = NULL;

      if (local_error != NULL)
        {
          g_set_error (error, G_IO_ERROR, local_error->code,
                       _("Could not read the message: %s"),
                       local_error->message);
          return NULL;
        }

      total += length + 1;
      if (total > HEADER_LIMIT)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                       _("The message header is larger than %u bytes"),
                       (guint) HEADER_LIMIT);
          return NULL;
        }

      is_continuation = line != NULL && (line[0] == ' ' || line[0] == '\t');

      /* The field read so far is complete: take its recipients. */
      if (!is_continuation && field->len > 0)
        {
          const char *value = strchr (field->str, ':');
          gboolean is_bcc;

          if (is_recipient_field (field->str, value - field->str, &is_bcc))
            add_address_list (value + 1, recipients);
          g_string_truncate (field, 0);
        }

      if (line == NULL)
        break;

      text_length = length;
      if (text_length > 0 && line[text_length - 1] == '\r')
        text_length--;

      if (is_continuation && field->len == 0)
        {
          /* White space before any field: this is not a header. */
          g_string_append_len (header, line, length);
          g_string_append_c (header, '\n');
          break;
        }

      if (is_continuation)
        {
          /* Unfolding: the line belongs to the current field. */
          g_string_append_len (field, line, text_length);
          if (keep_field)
            {
              g_string_append_len (header, line, length);
              g_string_append_c (header, '\n');
            }
          continue;
        }

      /* A field starts with a name of printable characters and a colon. */
      for (const char *q = line; q < line + text_length && *q > ' ' &&
                                 *q < 127; q++)
        if (*q == ':')
          {
            colon = q;
            break;
          }

      if (colon == NULL || colon == line)
        {
          /* The empty line, or the body started without one: the rest is
           * sent as read. */
          g_string_append_len (header, line, length);
          g_string_append_c (header, '\n');
          break;
        }
      else
        {
          gboolean is_bcc = FALSE;

          is_recipient_field (line, colon - line, &is_bcc);
          keep_field = !is_bcc;
          g_string_append_len (field, line, text_length);
          if (keep_field)
            {
              g_string_append_len (header, line, length);
              g_string_append_c (header, '\n');
            }
        }
    }

  bytes = g_string_free_to_bytes (g_steal_pointer (&header));
  memory = g_memory_input_stream_new_from_bytes (bytes);
  return concat_stream_new (memory, G_INPUT_STREAM (data));
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
  g_autofree char *auth = NULL;
  g_autofree char *user = NULL;
  g_autofree char *password_file = NULL;
  g_autofree char *ca_file = NULL;
  g_autofree char *fingerprint = NULL;
  gboolean print_log = FALSE;
  gboolean debug = FALSE;
  gboolean version = FALSE;
  gboolean read_recipients = FALSE;
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
    { "read-recipients", 't', 0, G_OPTION_ARG_NONE, &read_recipients,
      N_("Also send to the addresses in the message’s To, Cc and Bcc "
         "fields, and remove the Bcc field"), NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version,
      N_("Print the version and exit"), NULL },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &recipients,
      NULL, N_("RECIPIENT…") },
    G_OPTION_ENTRY_NULL
  };

  setlocale (LC_ALL, "");
  /* SMTPCLIENT_LOCALEDIR: for running from the build tree (the tests) */
  bindtextdomain (GETTEXT_PACKAGE,
                  g_getenv ("SMTPCLIENT_LOCALEDIR") != NULL
                  ? g_getenv ("SMTPCLIENT_LOCALEDIR") : SMTP_CLIENT_LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  context = g_option_context_new (_("— send a message by SMTP"));
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  g_option_context_set_description (context,
    _("Reads the message (header and body) from standard input, or from "
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

  if (!read_recipients && (recipients == NULL || recipients[0] == NULL))
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
                "server", server != NULL ? server : "localhost",
                "port", (guint) port,
                "security", security,
                "timeout", (guint) timeout,
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
          /* A setting that cannot be used, not the message */
          g_printerr ("smtpclient-send: --password-file: %s\n",
                      error->message);
          return EXIT_USAGE;
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
          g_printerr ("smtpclient-send: --ca-file: %s\n", error->message);
          return EXIT_USAGE;
        }
      g_object_set (task, "tls-database", database, NULL);
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

  if (read_recipients)
    {
      g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func (g_free);
      g_autoptr(GInputStream) input = NULL;
      g_autoptr(GInputStream) message = NULL;

      for (gsize i = 0; recipients != NULL && recipients[i] != NULL; i++)
        g_ptr_array_add (all, g_strdup (recipients[i]));

      if (message_file != NULL)
        {
          g_autoptr(GFile) file = g_file_new_for_commandline_arg (message_file);

          input = G_INPUT_STREAM (g_file_read (file, NULL, &error));
        }
      else
        input = g_unix_input_stream_new (0, FALSE);

      if (input != NULL)
        message = read_recipients_from_headers (input, all, &error);
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
      g_autoptr(GFile) file = g_file_new_for_commandline_arg (message_file);

      g_object_set (task, "to", recipients, "message-file", file, NULL);
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

  if (password != NULL)
    memset (password, 0, strlen (password));
  g_free (state.fingerprint);

  return state.status;
}

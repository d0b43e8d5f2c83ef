/* smtpclient-test-mailserver.c: real mail servers (Postfix, Dovecot LMTP,
 * Exim) started by the tests through the launchers in tests/servers/
 * (protocol: smtpclient-test-mailserver.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A launcher's stdin is a pipe only this process writes to: it stops its
 * servers when the pipe closes, also when this process crashes.  On Linux
 * it is also sent SIGTERM when this process dies (PR_SET_PDEATHSIG), and
 * it does the same for the servers it starts.
 */

#include "config.h"

#include "smtpclient-test-mailserver.h"
#include "smtpclient-test-utils.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <glib/gstdio.h>

#define DEFAULT_PYTHON   "/usr/bin/python3"
/* A launcher makes certificates and starts two daemons */
#define START_WAIT_S     90
/* It stops them, each bounded by 10 s */
#define STOP_WAIT_S      30
/* Waiting for a delivery: a queue, then LMTP, for up to 50 MB */
#define DELIVERY_WAIT_S  120
#define POLL_INTERVAL_MS 50

struct _SmtpTestMailServer
{
  char         *kind;
  char         *directory;
  GSubprocess  *process;
  GVariant     *ready;     /* a{sv}: the READY object */
  GTlsDatabase *database;
};

/* JSON, just enough for a READY line: object -> a{sv}, array -> av,
 * string -> s, integer -> x, other number -> d, true/false -> b,
 * null -> mv */

static GVariant *json_parse_value (const char **p);

static void
json_skip_space (const char **p)
{
  while (**p == ' ' || **p == '\t' || **p == '\r' || **p == '\n')
    (*p)++;
}

static char *
json_parse_string (const char **p)
{
  g_autoptr(GString) out = g_string_new (NULL);

  if (**p != '"')
    return NULL;
  (*p)++;
  while (**p != '"')
    {
      if (**p == '\0')
        return NULL;
      if (**p != '\\')
        {
          g_string_append_c (out, *(*p)++);
          continue;
        }
      (*p)++;
      switch (*(*p)++)
        {
        case '"': g_string_append_c (out, '"'); break;
        case '\\': g_string_append_c (out, '\\'); break;
        case '/': g_string_append_c (out, '/'); break;
        case 'b': g_string_append_c (out, '\b'); break;
        case 'f': g_string_append_c (out, '\f'); break;
        case 'n': g_string_append_c (out, '\n'); break;
        case 'r': g_string_append_c (out, '\r'); break;
        case 't': g_string_append_c (out, '\t'); break;
        case 'u':
          {
            char hex[5] = { 0 };
            gunichar c;

            if (strlen (*p) < 4)
              return NULL;
            memcpy (hex, *p, 4);
            *p += 4;
            c = (gunichar) strtoul (hex, NULL, 16);
            /* Launchers print plain ASCII paths and names; a surrogate
             * pair is not needed here */
            g_string_append_unichar (out, c);
            break;
          }
        default:
          return NULL;
        }
    }
  (*p)++;
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static GVariant *
json_parse_object (const char **p)
{
  g_auto(GVariantBuilder) builder =
    G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);

  (*p)++;
  json_skip_space (p);
  if (**p == '}')
    {
      (*p)++;
      return g_variant_builder_end (&builder);
    }
  for (;;)
    {
      g_autofree char *key = NULL;
      GVariant *value;

      json_skip_space (p);
      key = json_parse_string (p);
      if (key == NULL)
        return NULL;
      json_skip_space (p);
      if (**p != ':')
        return NULL;
      (*p)++;
      value = json_parse_value (p);
      if (value == NULL)
        return NULL;
      g_variant_builder_add (&builder, "{sv}", key, value);
      json_skip_space (p);
      if (**p == '}')
        {
          (*p)++;
          return g_variant_builder_end (&builder);
        }
      if (**p != ',')
        return NULL;
      (*p)++;
    }
}

static GVariant *
json_parse_array (const char **p)
{
  g_auto(GVariantBuilder) builder =
    G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("av"));

  (*p)++;
  json_skip_space (p);
  if (**p == ']')
    {
      (*p)++;
      return g_variant_builder_end (&builder);
    }
  for (;;)
    {
      GVariant *value = json_parse_value (p);

      if (value == NULL)
        return NULL;
      g_variant_builder_add (&builder, "v", value);
      json_skip_space (p);
      if (**p == ']')
        {
          (*p)++;
          return g_variant_builder_end (&builder);
        }
      if (**p != ',')
        return NULL;
      (*p)++;
    }
}

static GVariant *
json_parse_value (const char **p)
{
  json_skip_space (p);
  if (**p == '{')
    return json_parse_object (p);
  if (**p == '[')
    return json_parse_array (p);
  if (**p == '"')
    {
      char *text = json_parse_string (p);

      return text != NULL ? g_variant_new_take_string (text) : NULL;
    }
  if (g_str_has_prefix (*p, "true"))
    {
      *p += 4;
      return g_variant_new_boolean (TRUE);
    }
  if (g_str_has_prefix (*p, "false"))
    {
      *p += 5;
      return g_variant_new_boolean (FALSE);
    }
  if (g_str_has_prefix (*p, "null"))
    {
      *p += 4;
      return g_variant_new_maybe (G_VARIANT_TYPE_VARIANT, NULL);
    }
  if (**p == '-' || g_ascii_isdigit (**p))
    {
      const char *start = *p;
      gboolean integer = TRUE;

      (*p)++;
      while (g_ascii_isdigit (**p) || strchr (".eE+-", **p) != NULL)
        {
          if (!g_ascii_isdigit (**p))
            integer = FALSE;
          (*p)++;
        }
      if (integer)
        return g_variant_new_int64 (g_ascii_strtoll (start, NULL, 10));
      return g_variant_new_double (g_ascii_strtod (start, NULL));
    }
  return NULL;
}

/* The object of a READY line, or NULL when @text is not one */
static GVariant *
parse_ready_object (const char *text)
{
  const char *p = text;
  g_autoptr(GVariant) value = NULL;

  json_skip_space (&p);
  if (*p != '{')
    return NULL;
  value = g_variant_ref_sink (json_parse_value (&p));
  if (value == NULL)
    return NULL;
  json_skip_space (&p);
  if (*p != '\0')
    return NULL;
  return g_steal_pointer (&value);
}

#ifdef __linux__
static void
term_with_parent (gpointer user_data)
{
  /* Runs in the child between fork and exec. */
  prctl (PR_SET_PDEATHSIG, SIGTERM);
  if (getppid () != (pid_t) GPOINTER_TO_INT (user_data))
    _exit (1);
}
#endif

static char *
get_launcher (const char *kind)
{
  const char *directory = g_getenv ("SMTPCLIENT_TEST_SERVERS");
  g_autofree char *name = g_strdup_printf ("mailserver-%s.py", kind);

  if (directory != NULL && *directory != '\0')
    return g_build_filename (directory, name, NULL);
  return g_test_build_filename (G_TEST_DIST, "servers", name, NULL);
}

static char *
read_text_file (const char *path)
{
  char *text = NULL;

  if (path == NULL || !g_file_get_contents (path, &text, NULL, NULL))
    return NULL;
  return text;
}

static void
remove_tree (const char *path)
{
  GDir *dir;
  const char *name;

  if (!g_file_test (path, G_FILE_TEST_IS_DIR)
      || g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      g_unlink (path);
      return;
    }
  dir = g_dir_open (path, 0, NULL);
  if (dir != NULL)
    {
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);

          remove_tree (child);
        }
      g_dir_close (dir);
    }
  g_rmdir (path);
}

SmtpTestMailServer *
smtp_test_mailserver_start (const char *kind,
                            const char *first_option,
                            ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  g_autofree char *errors_path = NULL;
  const char *python = g_getenv ("SMTPCLIENT_TEST_PYTHON");
  SmtpTestMailServer *server;
  const char *option;
  va_list args;

  server = g_new0 (SmtpTestMailServer, 1);
  server->kind = g_strdup (kind);
  server->directory = g_dir_make_tmp ("smtpclient-mailserver-XXXXXX", &error);
  g_assert_no_error (error);

  g_ptr_array_add (argv, g_strdup (python != NULL && *python != '\0'
                                   ? python : DEFAULT_PYTHON));
  g_ptr_array_add (argv, get_launcher (kind));
  g_ptr_array_add (argv, g_strdup_printf ("--dir=%s", server->directory));
  va_start (args, first_option);
  for (option = first_option; option != NULL;
       option = va_arg (args, const char *))
    g_ptr_array_add (argv, g_strdup (option));
  va_end (args);
  g_ptr_array_add (argv, NULL);

  errors_path = g_build_filename (server->directory, "launcher.err", NULL);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE
                                        | G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_set_stderr_file_path (launcher, errors_path);
#ifdef __linux__
  g_subprocess_launcher_set_child_setup (launcher, term_with_parent,
                                         GINT_TO_POINTER (getpid ()), NULL);
#endif
  server->process = g_subprocess_launcher_spawnv (
    launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);

  line = smtp_test_read_line (server->process, START_WAIT_S * 1000, NULL);
  if (line != NULL && g_str_has_prefix (line, "SKIP "))
    {
      g_test_skip (line + 5);
      smtp_test_mailserver_free (server);
      return NULL;
    }
  if (line == NULL || !g_str_has_prefix (line, "READY ")
      || (server->ready = parse_ready_object (line + 6)) == NULL)
    {
      g_autofree char *errors = NULL;

      g_subprocess_force_exit (server->process);
      smtp_test_process_wait (server->process, STOP_WAIT_S * 1000);
      errors = read_text_file (errors_path);
      g_error ("mail server %s did not start: %s\n%s", kind,
               line != NULL ? line : "(no READY within the time limit)",
               errors != NULL ? errors : "");
    }

  if (smtp_test_mailserver_get_string (server, "ca_file") != NULL)
    {
      server->database = g_tls_file_database_new (
        smtp_test_mailserver_get_string (server, "ca_file"), &error);
      g_assert_no_error (error);
    }
  return server;
}

guint
smtp_test_mailserver_get_port (SmtpTestMailServer *server,
                               const char         *key)
{
  gint64 port = 0;

  if (!g_variant_lookup (server->ready, key, "x", &port))
    return 0;
  g_assert_cmpint (port, >, 0);
  g_assert_cmpint (port, <, 65536);
  return (guint) port;
}

const char *
smtp_test_mailserver_get_string (SmtpTestMailServer *server,
                                 const char         *key)
{
  const char *value = NULL;

  if (!g_variant_lookup (server->ready, key, "&s", &value))
    return NULL;
  return value;
}

GTlsDatabase *
smtp_test_mailserver_get_tls_database (SmtpTestMailServer *server)
{
  g_assert_nonnull (server->database);
  return server->database;
}

/* The Maildir "new" directory of @address (fails the test when the
 * server has no such mailbox) */
static const char *
get_mailbox (SmtpTestMailServer *server,
             const char         *address)
{
  g_autoptr(GVariant) mailboxes = NULL;
  const char *path = NULL;

  mailboxes = g_variant_lookup_value (server->ready, "mailboxes",
                                      G_VARIANT_TYPE_VARDICT);
  g_assert_nonnull (mailboxes);
  if (!g_variant_lookup (mailboxes, address, "&s", &path))
    g_error ("mail server %s has no mailbox %s", server->kind, address);
  return path;
}

/* Maildir names start with the delivery time: "SECONDS.M<usec>P<pid>..."
 * (Dovecot) or "SECONDS.<unique>..." */
static gint
compare_maildir_names (gconstpointer a,
                       gconstpointer b)
{
  const char *name_a = *(const char * const *) a;
  const char *name_b = *(const char * const *) b;
  guint64 seconds_a = g_ascii_strtoull (name_a, NULL, 10);
  guint64 seconds_b = g_ascii_strtoull (name_b, NULL, 10);
  const char *micro_a = strstr (name_a, ".M");
  const char *micro_b = strstr (name_b, ".M");
  guint64 usec_a = 0;
  guint64 usec_b = 0;

  if (micro_a != NULL)
    usec_a = g_ascii_strtoull (micro_a + 2, NULL, 10);
  if (micro_b != NULL)
    usec_b = g_ascii_strtoull (micro_b + 2, NULL, 10);

  if (seconds_a != seconds_b)
    return seconds_a < seconds_b ? -1 : 1;
  if (usec_a != usec_b)
    return usec_a < usec_b ? -1 : 1;
  return strcmp (name_a, name_b);
}

GPtrArray *
smtp_test_mailserver_get_messages (SmtpTestMailServer *server,
                                   const char         *address)
{
  const char *path = get_mailbox (server, address);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  GPtrArray *messages = g_ptr_array_new_with_free_func (
    (GDestroyNotify) g_bytes_unref);
  GDir *dir;
  const char *name;
  guint i;

  dir = g_dir_open (path, 0, NULL);
  if (dir == NULL)
    return messages;    /* nothing delivered yet: Maildir not made */
  while ((name = g_dir_read_name (dir)) != NULL)
    if (name[0] != '.')
      g_ptr_array_add (names, g_strdup (name));
  g_dir_close (dir);
  g_ptr_array_sort (names, compare_maildir_names);

  for (i = 0; i < names->len; i++)
    {
      g_autofree char *file = g_build_filename (path, names->pdata[i], NULL);
      g_autoptr(GError) error = NULL;
      char *contents = NULL;
      gsize length = 0;

      g_file_get_contents (file, &contents, &length, &error);
      g_assert_no_error (error);
      g_ptr_array_add (messages, g_bytes_new_take (contents, length));
    }
  return messages;
}

GPtrArray *
smtp_test_mailserver_wait_messages (SmtpTestMailServer *server,
                                    const char         *address,
                                    guint               n)
{
  gint64 deadline = g_get_monotonic_time ()
                    + DELIVERY_WAIT_S * G_USEC_PER_SEC;

  for (;;)
    {
      GPtrArray *messages = smtp_test_mailserver_get_messages (server,
                                                               address);

      if (messages->len >= n)
        return messages;
      if (g_get_monotonic_time () > deadline)
        {
          g_autofree char *log = smtp_test_mailserver_get_log (server);

          g_error ("%s: %u message(s) for %s after %d s, not %u; log:\n%s",
                   server->kind, messages->len, address, DELIVERY_WAIT_S, n,
                   log != NULL ? log : "(none)");
        }
      g_ptr_array_unref (messages);
      smtp_test_iterate_for (POLL_INTERVAL_MS * 2);
    }
}

char *
smtp_test_mailserver_get_log (SmtpTestMailServer *server)
{
  return read_text_file (smtp_test_mailserver_get_string (server, "log"));
}

void
smtp_test_mailserver_free (SmtpTestMailServer *server)
{
  if (server == NULL)
    return;

  if (server->process != NULL)
    {
      GOutputStream *input = g_subprocess_get_stdin_pipe (server->process);

      g_output_stream_close (input, NULL, NULL);
      if (!smtp_test_process_wait (server->process, STOP_WAIT_S * 1000))
        {
          g_subprocess_force_exit (server->process);
          smtp_test_process_wait (server->process, STOP_WAIT_S * 1000);
          g_test_message ("mail server %s did not stop within %d s",
                          server->kind, STOP_WAIT_S);
        }
      g_clear_object (&server->process);
    }
  remove_tree (server->directory);
  g_clear_object (&server->database);
  g_clear_pointer (&server->ready, g_variant_unref);
  g_free (server->directory);
  g_free (server->kind);
  g_free (server);
}

gboolean
smtp_test_mailserver_stored_is (SmtpTestMailServer *server,
                                GBytes             *stored,
                                GBytes             *sent)
{
  gboolean stores_lf = FALSE;
  g_autoptr(GByteArray) expected = g_byte_array_new ();
  const guint8 *data;
  gsize length, i, stored_length;
  const guint8 *stored_data = g_bytes_get_data (stored, &stored_length);

  g_variant_lookup (server->ready, "stores_lf", "b", &stores_lf);
  data = g_bytes_get_data (sent, &length);
  if (!stores_lf)
    return stored_length >= length
           && memcmp (stored_data + stored_length - length, data,
                      length) == 0;
  for (i = 0; i < length; i++)
    {
      if (data[i] == '\r' && i + 1 < length
          && data[i + 1] == '\n')
        continue;
      g_byte_array_append (expected, &data[i], 1);
    }
  if (stored_length < expected->len)
    return FALSE;
  return memcmp (stored_data + stored_length - expected->len,
                 expected->data, expected->len) == 0;
}

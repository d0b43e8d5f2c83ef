/* smtpclient-test-utils.c: real SMTP servers for the tests, started and
 * stopped by the tests themselves on loopback, with bounded waits.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The Python servers (tests/servers/) exit when their stdin reaches
 * end-of-file; their stdin is a pipe only this process writes to, so they
 * go away with it even when it crashes.  Postfix's smtp-sink does not read
 * stdin; on Linux it is killed with this process by PR_SET_PDEATHSIG.
 */

#include "config.h"

#include "smtpclient-test-utils.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <glib/gstdio.h>

#define DEFAULT_PYTHON    "/usr/bin/python3"
#define DEFAULT_SMTP_SINK "/usr/sbin/smtp-sink"

/* How long a server gets to exit once asked to, before SIGKILL. */
#define STOP_WAIT_MS      (5 * 1000)
/* How often to look again while waiting for a server. */
#define POLL_INTERVAL_MS  20
/* Where smtp-sink -c writes its counters, in its directory */
#define SINK_COUNTERS_FILE "sink-counters"
/* How many free ports to try for smtp-sink. */
#define SINK_ATTEMPTS     5

#define DEFAULT_BODY \
  "From: sender@example.org\r\n" \
  "To: rcpt@example.org\r\n" \
  "Subject: libsmtpclient test\r\n" \
  "\r\n" \
  "Hello from the libsmtpclient tests.\r\n"

typedef enum
{
  SERVER_AIOSMTPD,
  SERVER_SINK,
  SERVER_SCRIPT,
} ServerKind;

struct _SmtpTestServer
{
  ServerKind   kind;
  GSubprocess *process;
  guint        port;

  char        *directory;       /* temporary; removed on free */
  char        *transcript_path; /* scripted */
  char        *status_path;     /* scripted */
  GPtrArray   *messages;        /* aiosmtpd; element-type SmtpTestMessage */
};

static void message_free (SmtpTestMessage *message);

/* Waiting, always bounded */

static gboolean
on_tick_continue (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

static gboolean
on_timeout_set_flag (gpointer user_data)
{
  gboolean *flag = user_data;

  *flag = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates @context until *@done is set or @timeout_ms pass.  Returns
 * *@done. */
static gboolean
iterate_until (GMainContext   *context,
               const gboolean *done,
               guint           timeout_ms)
{
  GSource *timeout;
  gboolean timed_out = FALSE;

  timeout = g_timeout_source_new (timeout_ms);
  g_source_set_callback (timeout, on_timeout_set_flag, &timed_out, NULL);
  g_source_attach (timeout, context);

  while (!*done && !timed_out)
    g_main_context_iteration (context, TRUE);

  g_source_destroy (timeout);
  g_source_unref (timeout);

  return *done;
}

void
smtp_test_iterate_for (guint ms)
{
  const gboolean never = FALSE;

  iterate_until (g_main_context_get_thread_default (), &never, ms);
}

guint
smtp_test_slowdown (void)
{
  const char *text = g_getenv ("SMTPCLIENT_TEST_SLOWDOWN");
  gint64 factor = text != NULL ? g_ascii_strtoll (text, NULL, 10) : 1;

  return (guint) CLAMP (factor, 1, 100);
}

void
smtp_test_tool_run_clear (SmtpTestToolRun *run)
{
  g_clear_pointer (&run->out, g_free);
  g_clear_pointer (&run->err, g_free);
}

const char *
smtp_test_send_tool (void)
{
  const char *tool = g_getenv ("SMTPCLIENT_SEND");

  if (tool == NULL || *tool == '\0')
    g_error ("SMTPCLIENT_SEND is not set (run the tests with meson test)");
  return tool;
}

typedef struct
{
  gboolean  done;
  GBytes   *out;
  GBytes   *err;
  GError   *error;
} ToolCommunicate;

static void
on_tool_communicated (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  ToolCommunicate *comm = user_data;

  g_subprocess_communicate_finish (G_SUBPROCESS (source), result, &comm->out,
                                   &comm->err, &comm->error);
  comm->done = TRUE;
}

static gboolean
on_tool_timeout (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

static char *
bytes_to_string (GBytes *bytes)
{
  gsize size = 0;
  const char *data;

  if (bytes == NULL)
    return g_strdup ("");
  data = g_bytes_get_data (bytes, &size);
  /* NULL data for no bytes */
  return size > 0 ? g_strndup (data, size) : g_strdup ("");
}

void
smtp_test_run_tool (SmtpTestToolRun    *run,
                    const char * const *argv,
                    const char         *password,
                    const char         *input)
{
  smtp_test_run_tool_full (run, argv, password, input, SMTP_TEST_WAIT_SECONDS);
}

void
smtp_test_run_tool_full (SmtpTestToolRun    *run,
                         const char * const *argv,
                         const char         *password,
                         const char         *input,
                         guint               timeout_s)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  /* The caller's context: a server the tool talks to may be served there */
  g_autoptr(GMainContext) context = g_main_context_ref_thread_default ();
  g_autofree char *input_path = NULL;
  GSource *timeout;
  gboolean timed_out = FALSE;
  ToolCommunicate comm = { FALSE, NULL, NULL, NULL };

  g_assert_nonnull (argv[0]);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_PIPE);
  if (input != NULL)
    {
      int fd = g_file_open_tmp ("smtpclient-tool-XXXXXX", &input_path, &error);

      g_assert_no_error (error);
      close (fd);
      g_file_set_contents (input_path, input, -1, &error);
      g_assert_no_error (error);
      g_subprocess_launcher_set_stdin_file_path (launcher, input_path);
    }
  if (password != NULL)
    g_subprocess_launcher_setenv (launcher, "SMTPCLIENT_PASSWORD", password,
                                  TRUE);
  else
    g_subprocess_launcher_unsetenv (launcher, "SMTPCLIENT_PASSWORD");
  g_subprocess_launcher_setenv (launcher, "SMTPCLIENT_SEND",
                                smtp_test_send_tool (), TRUE);
  g_subprocess_launcher_setenv (launcher, "LC_ALL", "C", TRUE);
  g_subprocess_launcher_unsetenv (launcher, "LANGUAGE");

  process = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);

  timeout = g_timeout_source_new_seconds (timeout_s);
  g_source_set_callback (timeout, on_tool_timeout, &timed_out, NULL);
  g_source_attach (timeout, context);
  g_subprocess_communicate_async (process, NULL, cancellable,
                                  on_tool_communicated, &comm);
  while (!comm.done && !timed_out)
    g_main_context_iteration (context, TRUE);
  if (!comm.done)
    {
      g_subprocess_force_exit (process);
      g_cancellable_cancel (cancellable);
      while (!comm.done)
        g_main_context_iteration (context, TRUE);
    }
  g_source_destroy (timeout);
  g_source_unref (timeout);
  if (input_path != NULL)
    g_unlink (input_path);

  if (timed_out)
    g_error ("%s did not finish within %u s", argv[0], timeout_s);
  g_assert_no_error (comm.error);

  /* communicate() ends when the process has: it ran to its end */
  g_assert_true (g_subprocess_get_if_exited (process));
  run->status = g_subprocess_get_exit_status (process);
  run->out = bytes_to_string (comm.out);
  run->err = bytes_to_string (comm.err);
  g_clear_pointer (&comm.out, g_bytes_unref);
  g_clear_pointer (&comm.err, g_bytes_unref);

  g_test_message ("%s exited with %d; stderr:\n%s", argv[0], run->status,
                  run->err);
}

typedef struct
{
  gboolean done;
  gboolean exited;
} ProcessWait;

static void
on_process_waited (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  ProcessWait *wait = user_data;

  wait->exited = g_subprocess_wait_finish (G_SUBPROCESS (source), result,
                                           NULL);
  wait->done = TRUE;
}

gboolean
smtp_test_process_wait (GSubprocess *process,
                        guint        timeout_ms)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  ProcessWait wait = { FALSE, FALSE };

  g_main_context_push_thread_default (context);

  g_subprocess_wait_async (process, cancellable, on_process_waited, &wait);
  if (!iterate_until (context, &wait.done, timeout_ms))
    {
      /* Let the wait return (cancelled) before @wait goes away. */
      g_cancellable_cancel (cancellable);
      while (!wait.done)
        g_main_context_iteration (context, TRUE);
    }

  g_main_context_pop_thread_default (context);

  return wait.exited;
}

typedef struct
{
  gboolean  done;
  char     *line;
  GError   *error;
} LineRead;

static void
on_line_read (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  LineRead *read = user_data;

  read->line = g_data_input_stream_read_line_finish_utf8 (
    G_DATA_INPUT_STREAM (source), result, NULL, &read->error);
  read->done = TRUE;
}

static gboolean
on_timeout_cancel (gpointer user_data)
{
  g_cancellable_cancel (G_CANCELLABLE (user_data));
  return G_SOURCE_REMOVE;
}

char *
smtp_test_read_line (GSubprocess  *process,
                     guint         timeout_ms,
                     GError      **error)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GDataInputStream) stream = NULL;
  g_autoptr(GSource) timeout = NULL;
  LineRead read = { FALSE, NULL, NULL };

  g_main_context_push_thread_default (context);

  stream = g_data_input_stream_new (g_subprocess_get_stdout_pipe (process));
  g_filter_input_stream_set_close_base_stream (G_FILTER_INPUT_STREAM (stream),
                                               FALSE);
  g_data_input_stream_read_line_async (stream, G_PRIORITY_DEFAULT,
                                       cancellable, on_line_read, &read);

  timeout = g_timeout_source_new (timeout_ms);
  g_source_set_callback (timeout, on_timeout_cancel, cancellable, NULL);
  g_source_attach (timeout, context);

  while (!read.done)
    g_main_context_iteration (context, TRUE);

  g_source_destroy (timeout);
  g_main_context_pop_thread_default (context);

  if (g_error_matches (read.error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_clear_error (&read.error);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                   "no line within %u ms", timeout_ms);
      return NULL;
    }

  if (read.error != NULL)
    {
      g_propagate_error (error, read.error);
      return NULL;
    }

  if (read.line == NULL)
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED,
                         "the process exited without a line");
  return read.line;
}

/* Reads the "PORT <n>" line a Python server prints once it listens,
 * waiting at most SMTP_TEST_WAIT_SECONDS.  Returns 0 on failure. */
static guint
read_port (GSubprocess  *process,
           GError      **error)
{
  g_autofree char *line = NULL;
  guint64 port = 0;

  line = smtp_test_read_line (process, SMTP_TEST_WAIT_SECONDS * 1000, error);
  if (line == NULL)
    return 0;

  if (!g_str_has_prefix (line, "PORT ")
      || !g_ascii_string_to_unsigned (line + strlen ("PORT "), 10,
                                      1, G_MAXUINT16, &port, NULL))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "expected \"PORT <n>\", got \"%s\"", line);
      return 0;
    }

  return (guint) port;
}

/* Files and directories */

static char *
make_tmp_directory (const char *template)
{
  g_autoptr(GError) error = NULL;
  char *path;

  path = g_dir_make_tmp (template, &error);
  if (path == NULL)
    g_error ("cannot create a temporary directory: %s", error->message);

  return path;
}

static void
remove_tree (const char *path)
{
  GDir *dir;
  const char *name;

  if (g_file_test (path, G_FILE_TEST_IS_SYMLINK)
      || !g_file_test (path, G_FILE_TEST_IS_DIR))
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

static char *tmp_directory;

static void
remove_tmp_directory (void)
{
  remove_tree (tmp_directory);
  g_clear_pointer (&tmp_directory, g_free);
}

char *
smtp_test_tmp_path (const char *name)
{
  static gsize initialized = 0;

  g_return_val_if_fail (name != NULL, NULL);

  if (g_once_init_enter (&initialized))
    {
      tmp_directory = make_tmp_directory ("smtpclient-test-XXXXXX");
      atexit (remove_tmp_directory);
      g_once_init_leave (&initialized, 1);
    }

  return g_build_filename (tmp_directory, name, NULL);
}

/* Starting and stopping */

static void
add_args (GPtrArray  *argv,
          const char *first_arg,
          va_list     args)
{
  const char *arg;

  for (arg = first_arg; arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, g_strdup (arg));
}

static const char *
get_python (void)
{
  const char *python = g_getenv ("SMTPCLIENT_TEST_PYTHON");

  return python != NULL && *python != '\0' ? python : DEFAULT_PYTHON;
}

static char *
get_server_script (const char *name)
{
  const char *directory = g_getenv ("SMTPCLIENT_TEST_SERVERS");

  if (directory != NULL && *directory != '\0')
    return g_build_filename (directory, name, NULL);

  return g_test_build_filename (G_TEST_DIST, "servers", name, NULL);
}

#ifdef __linux__
static void
die_with_parent (gpointer user_data)
{
  /* Runs in the child between fork and exec. */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
  if (getppid () != (pid_t) GPOINTER_TO_INT (user_data))
    _exit (1);
}
#endif

/* Start @argv; its standard output to @stdout_path when not NULL */
static GSubprocess *
spawn (GPtrArray         *argv,
       GSubprocessFlags   flags,
       const char        *stdout_path,
       gboolean           kill_with_parent,
       GError           **error)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autofree char *command = NULL;

  g_ptr_array_add (argv, NULL);
  command = g_strjoinv (" ", (char **) argv->pdata);
  g_debug ("starting %s", command);

  launcher = g_subprocess_launcher_new (flags);
  if (stdout_path != NULL)
    g_subprocess_launcher_set_stdout_file_path (launcher, stdout_path);
#ifdef __linux__
  if (kill_with_parent)
    g_subprocess_launcher_set_child_setup (launcher, die_with_parent,
                                           GINT_TO_POINTER (getpid ()),
                                           NULL);
#endif

  return g_subprocess_launcher_spawnv (launcher,
                                       (const char * const *) argv->pdata,
                                       error);
}

static SmtpTestServer *
server_new (ServerKind  kind,
            const char *template)
{
  SmtpTestServer *server = g_new0 (SmtpTestServer, 1);

  server->kind = kind;
  server->directory = make_tmp_directory (template);

  return server;
}

/* Spawns tests/servers/@script_name with @argv (the arguments after the
 * script) and waits until it listens. */
static void
server_start_python (SmtpTestServer *server,
                     const char     *script_name,
                     GPtrArray      *args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  guint i;

  g_ptr_array_add (argv, g_strdup (get_python ()));
  g_ptr_array_add (argv, get_server_script (script_name));
  for (i = 0; i < args->len; i++)
    g_ptr_array_add (argv, g_strdup (g_ptr_array_index (args, i)));

  server->process = spawn (argv,
                           G_SUBPROCESS_FLAGS_STDIN_PIPE
                           | G_SUBPROCESS_FLAGS_STDOUT_PIPE,
                           NULL, FALSE, &error);
  if (server->process == NULL)
    g_error ("cannot start %s: %s", script_name, error->message);

  server->port = read_port (server->process, &error);
  if (server->port == 0)
    g_error ("%s did not start: %s", script_name, error->message);

  g_debug ("%s listens on 127.0.0.1:%u", script_name, server->port);
}

SmtpTestServer *
smtp_test_server_start_aiosmtpd (const char *first_arg,
                                 ...)
{
  SmtpTestServer *server = server_new (SERVER_AIOSMTPD,
                                       "smtpclient-aiosmtpd-XXXXXX");
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  va_list ap;

  server->messages =
    g_ptr_array_new_with_free_func ((GDestroyNotify) message_free);

  g_ptr_array_add (args, g_strdup ("--spool"));
  g_ptr_array_add (args, g_strdup (server->directory));
  va_start (ap, first_arg);
  add_args (args, first_arg, ap);
  va_end (ap);

  server_start_python (server, "aiosmtpd-server.py", args);

  return server;
}

SmtpTestServer *
smtp_test_server_start_script (const char *script)
{
  SmtpTestServer *server = server_new (SERVER_SCRIPT,
                                       "smtpclient-script-XXXXXX");
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  g_autofree char *script_path = NULL;

  g_return_val_if_fail (script != NULL, NULL);

  script_path = g_build_filename (server->directory, "script", NULL);
  server->transcript_path = g_build_filename (server->directory,
                                              "transcript", NULL);
  server->status_path = g_build_filename (server->directory, "status", NULL);

  if (!g_file_set_contents (script_path, script, -1, &error))
    g_error ("cannot write the script: %s", error->message);

  g_ptr_array_add (args, g_strdup (script_path));
  g_ptr_array_add (args, g_strdup ("--transcript"));
  g_ptr_array_add (args, g_strdup (server->transcript_path));
  g_ptr_array_add (args, g_strdup ("--status"));
  g_ptr_array_add (args, g_strdup (server->status_path));

  server_start_python (server, "scripted-server.py", args);

  return server;
}

/* Picks a port that was free a moment ago. */
guint
smtp_test_free_port (void)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GInetAddress) loopback = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;

  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                         G_SOCKET_PROTOCOL_TCP, &error);
  if (socket == NULL)
    g_error ("cannot create a socket: %s", error->message);

  loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  address = g_inet_socket_address_new (loopback, 0);
  if (!g_socket_bind (socket, address, FALSE, &error))
    g_error ("cannot bind to 127.0.0.1: %s", error->message);

  bound = g_socket_get_local_address (socket, &error);
  if (bound == NULL)
    g_error ("cannot get the bound address: %s", error->message);

  g_socket_close (socket, NULL);

  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

/* Whether something accepts connections on 127.0.0.1:@port.  Looks in
 * /proc/net/tcp rather than connecting, so as not to count as a session
 * (smtp-sink -n, -c); connects where that table is missing. */
static gboolean
is_listening (guint port)
{
  g_autofree char *table = NULL;
  g_autofree char *local_le = g_strdup_printf ("0100007F:%04X", port);
  g_autofree char *local_be = g_strdup_printf ("7F000001:%04X", port);
  g_auto(GStrv) lines = NULL;
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GInetAddress) loopback = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  gboolean connected;
  guint i;

  if (g_file_get_contents ("/proc/net/tcp", &table, NULL, NULL))
    {
      lines = g_strsplit (table, "\n", -1);
      for (i = 0; lines[i] != NULL; i++)
        {
          char local[64];
          char state[8];

          /* "  sl  local_address rem_address   st ..." */
          if (sscanf (lines[i], "%*s %63s %*s %7s", local, state) == 2
              && (strcmp (local, local_le) == 0
                  || strcmp (local, local_be) == 0)
              && strcmp (state, "0A") == 0)
            return TRUE;
        }
      return FALSE;
    }

  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                         G_SOCKET_PROTOCOL_TCP, NULL);
  if (socket == NULL)
    return FALSE;

  loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  address = g_inet_socket_address_new (loopback, (guint16) port);
  connected = g_socket_connect (socket, address, NULL, NULL);
  g_socket_close (socket, NULL);

  return connected;
}

static gboolean
has_arg (GPtrArray  *args,
         const char *name)
{
  guint i;

  for (i = 0; i < args->len; i++)
    if (g_str_has_prefix (g_ptr_array_index (args, i), name))
      return TRUE;

  return FALSE;
}

/* Start smtp-sink with @args (and -u root when root), on a free port, its
 * standard output to @stdout_path (NULL: none); try again when the port
 * was taken meanwhile */
static SmtpTestServer *
start_sink (GPtrArray  *args,
            const char *stdout_path)
{
  SmtpTestServer *server = server_new (SERVER_SINK, "smtpclient-sink-XXXXXX");
  const char *sink;
  gint64 deadline;
  guint attempt;

  sink = g_getenv ("SMTPCLIENT_TEST_SMTP_SINK");
  if (sink == NULL || *sink == '\0')
    sink = DEFAULT_SMTP_SINK;

  deadline = g_get_monotonic_time ()
             + SMTP_TEST_WAIT_SECONDS * G_TIME_SPAN_SECOND;

  for (attempt = 1; attempt <= SINK_ATTEMPTS; attempt++)
    {
      g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
      g_autoptr(GError) error = NULL;
      g_autofree char *output = NULL;
      guint port = smtp_test_free_port ();
      guint i;

      g_ptr_array_add (argv, g_strdup (sink));
      /* smtp-sink insists on -u when run as root.  Staying root keeps the
       * parent-death signal, which a change of user would clear. */
      if (geteuid () == 0 && !has_arg (args, "-u"))
        {
          g_ptr_array_add (argv, g_strdup ("-u"));
          g_ptr_array_add (argv, g_strdup ("root"));
        }
      for (i = 0; i < args->len; i++)
        g_ptr_array_add (argv, g_strdup (g_ptr_array_index (args, i)));
      g_ptr_array_add (argv, g_strdup_printf ("127.0.0.1:%u", port));
      g_ptr_array_add (argv, g_strdup ("100"));

      if (stdout_path != NULL)
        output = g_build_filename (server->directory, stdout_path, NULL);
      server->process = spawn (argv,
                               G_SUBPROCESS_FLAGS_STDIN_PIPE |
                               (output == NULL ? G_SUBPROCESS_FLAGS_STDOUT_SILENCE
                                               : 0),
                               output, TRUE, &error);
      if (server->process == NULL)
        g_error ("cannot start %s: %s", sink, error->message);

      while (g_get_monotonic_time () < deadline)
        {
          if (is_listening (port))
            {
              server->port = port;
              g_debug ("smtp-sink listens on 127.0.0.1:%u", port);
              return server;
            }
          if (smtp_test_process_wait (server->process, POLL_INTERVAL_MS))
            break;
        }

      if (g_get_monotonic_time () >= deadline)
        g_error ("smtp-sink did not listen within %d s",
                 SMTP_TEST_WAIT_SECONDS);

      /* It exited: most likely something took the port meanwhile. */
      g_test_message ("smtp-sink exited at start (attempt %u of %u)",
                      attempt, SINK_ATTEMPTS);
      g_clear_object (&server->process);
    }

  g_error ("smtp-sink did not start (%u attempts; see its messages above)",
           SINK_ATTEMPTS);
  return NULL;
}

SmtpTestServer *
smtp_test_server_start_sink (const char *first_arg,
                             ...)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  va_list ap;

  va_start (ap, first_arg);
  add_args (args, first_arg, ap);
  va_end (ap);

  return start_sink (args, NULL);
}

guint
smtp_test_server_get_port (SmtpTestServer *server)
{
  g_return_val_if_fail (server != NULL, 0);

  return server->port;
}

static void
stop_process (SmtpTestServer *server)
{
  GOutputStream *stdin_pipe;

  if (server->process == NULL)
    return;

  stdin_pipe = g_subprocess_get_stdin_pipe (server->process);
  if (stdin_pipe != NULL)
    g_output_stream_close (stdin_pipe, NULL, NULL);

  /* The Python servers exit on end-of-file; smtp-sink needs a signal. */
  if (server->kind == SERVER_SINK)
    g_subprocess_send_signal (server->process, SIGTERM);

  if (!smtp_test_process_wait (server->process, STOP_WAIT_MS))
    {
      g_test_message ("test server did not exit within %d ms, killing it",
                      STOP_WAIT_MS);
      g_subprocess_force_exit (server->process);
      if (!smtp_test_process_wait (server->process, STOP_WAIT_MS))
        g_test_message ("test server survived SIGKILL");
    }
  else if (server->kind != SERVER_SINK
           && !g_subprocess_get_successful (server->process))
    {
      g_test_message ("test server exited with status %d",
                      g_subprocess_get_status (server->process));
    }

  g_clear_object (&server->process);
}

void
smtp_test_server_free (SmtpTestServer *server)
{
  if (server == NULL)
    return;

  stop_process (server);

  remove_tree (server->directory);
  g_free (server->directory);
  g_free (server->transcript_path);
  g_free (server->status_path);
  g_clear_pointer (&server->messages, g_ptr_array_unref);
  g_free (server);
}

/* aiosmtpd's spool */

static void
message_free (SmtpTestMessage *message)
{
  if (message == NULL)
    return;

  g_free (message->helo);
  g_free (message->mail_from);
  g_strfreev (message->mail_options);
  g_strfreev (message->rcpt_tos);
  g_strfreev (message->rcpt_options);
  g_clear_pointer (&message->content, g_bytes_unref);
  g_free (message);
}

static char *
key_file_get_text (GKeyFile   *key_file,
                   const char *path,
                   const char *key)
{
  g_autoptr(GError) error = NULL;
  char *value;

  value = g_key_file_get_string (key_file, "envelope", key, &error);
  if (value == NULL
      && g_error_matches (error, G_KEY_FILE_ERROR,
                          G_KEY_FILE_ERROR_UNKNOWN_ENCODING))
    /* Not UTF-8 (the client sent raw 8-bit octets): as written. */
    value = g_key_file_get_value (key_file, "envelope", key, NULL);

  if (value == NULL)
    g_error ("%s: no [envelope] %s: %s", path, key,
             error != NULL ? error->message : "not UTF-8");

  return value;
}

static GStrv
key_file_get_list (GKeyFile   *key_file,
                   const char *path,
                   const char *key)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *raw = NULL;
  GStrv value;

  value = g_key_file_get_string_list (key_file, "envelope", key, NULL,
                                      &error);
  if (value != NULL)
    return value;

  if (g_error_matches (error, G_KEY_FILE_ERROR,
                       G_KEY_FILE_ERROR_UNKNOWN_ENCODING))
    {
      raw = g_key_file_get_value (key_file, "envelope", key, NULL);
      if (raw != NULL)
        return g_strsplit (raw, ";", -1);
    }

  /* An empty value is an empty list. */
  raw = g_key_file_get_value (key_file, "envelope", key, NULL);
  if (raw != NULL && *raw == '\0')
    return g_new0 (char *, 1);

  g_error ("%s: no [envelope] %s: %s", path, key,
           error != NULL ? error->message : "unreadable");
  return NULL;
}

static SmtpTestMessage *
load_message (const char *env_path,
              const char *eml_path)
{
  g_autoptr(GKeyFile) key_file = g_key_file_new ();
  g_autoptr(GError) error = NULL;
  SmtpTestMessage *message;
  char *content;
  gsize length;

  if (!g_key_file_load_from_file (key_file, env_path, G_KEY_FILE_NONE,
                                  &error))
    g_error ("cannot read %s: %s", env_path, error->message);

  if (!g_file_get_contents (eml_path, &content, &length, &error))
    g_error ("cannot read %s: %s", eml_path, error->message);

  message = g_new0 (SmtpTestMessage, 1);
  message->helo = key_file_get_text (key_file, env_path, "helo");
  message->mail_from = key_file_get_text (key_file, env_path, "mail_from");
  message->mail_options = key_file_get_list (key_file, env_path,
                                             "mail_options");
  message->rcpt_tos = key_file_get_list (key_file, env_path, "rcpt_tos");
  message->rcpt_options = key_file_get_list (key_file, env_path,
                                             "rcpt_options");
  message->content = g_bytes_new_take (content, length);

  return message;
}

GPtrArray *
smtp_test_server_get_messages (SmtpTestServer *server)
{
  g_return_val_if_fail (server != NULL, NULL);
  g_return_val_if_fail (server->kind == SERVER_AIOSMTPD, NULL);

  /* N.env is renamed into place after N.eml, before the server replies to
   * the final "."; messages seen once are kept. */
  for (;;)
    {
      guint number = server->messages->len + 1;
      g_autofree char *env_name = g_strdup_printf ("%u.env", number);
      g_autofree char *eml_name = g_strdup_printf ("%u.eml", number);
      g_autofree char *env_path = NULL;
      g_autofree char *eml_path = NULL;

      env_path = g_build_filename (server->directory, env_name, NULL);
      if (!g_file_test (env_path, G_FILE_TEST_EXISTS))
        break;

      eml_path = g_build_filename (server->directory, eml_name, NULL);
      g_ptr_array_add (server->messages, load_message (env_path, eml_path));
    }

  return server->messages;
}

void
smtp_test_server_get_auth_counts (SmtpTestServer *server,
                                  guint          *succeeded,
                                  guint          *failed)
{
  g_autofree char *path = NULL;
  g_autofree char *text = NULL;
  guint ok = 0;
  guint fail = 0;

  g_return_if_fail (server != NULL);
  g_return_if_fail (server->kind == SERVER_AIOSMTPD);

  /* Written atomically before the reply to each AUTH command. */
  path = g_build_filename (server->directory, "auth.counts", NULL);
  if (g_file_get_contents (path, &text, NULL, NULL)
      && sscanf (text, "ok %u fail %u", &ok, &fail) != 2)
    g_error ("%s: unexpected contents \"%s\"", path, text);

  if (succeeded != NULL)
    *succeeded = ok;
  if (failed != NULL)
    *failed = fail;
}

/* The scripted server's transcript */

GBytes *
smtp_test_server_get_transcript (SmtpTestServer *server,
                                 gboolean       *script_ok)
{
  g_autoptr(GMainContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *status = NULL;
  gint64 deadline;
  char *transcript;
  gsize length;

  g_return_val_if_fail (server != NULL, NULL);
  g_return_val_if_fail (server->kind == SERVER_SCRIPT, NULL);

  /* The status file appears, complete, when the script has ended (or
   * failed, which includes the client closing too early).  Meanwhile the
   * client may still need its main context to send what the script
   * waits for. */
  context = g_main_context_ref_thread_default ();
  deadline = g_get_monotonic_time ()
             + SMTP_TEST_WAIT_SECONDS * G_TIME_SPAN_SECOND;
  while (!g_file_get_contents (server->status_path, &status, NULL, NULL)
         && g_get_monotonic_time () < deadline)
    {
      gboolean never = FALSE;

      iterate_until (context, &never, POLL_INTERVAL_MS);
    }

  if (status == NULL)
    g_test_message ("scripted server: the script did not end within %d s",
                    SMTP_TEST_WAIT_SECONDS);
  else if (!g_str_has_prefix (status, "SCRIPT-OK"))
    g_test_message ("scripted server: %s", g_strchomp (status));

  if (script_ok != NULL)
    *script_ok = status != NULL && g_str_has_prefix (status, "SCRIPT-OK");

  if (!g_file_get_contents (server->transcript_path, &transcript, &length,
                            &error))
    g_error ("cannot read the transcript: %s", error->message);

  return g_bytes_new_take (transcript, length);
}

/* Tasks */

typedef struct
{
  gboolean  finished;
  gboolean  succeeded;
  GError   *error;
} TaskRun;

static void
on_task_succeeded (SmtpClientTask *task,
                   GVariant       *context,
                   const char     *log,
                   gpointer        user_data)
{
  TaskRun *run = user_data;

  if (run->finished)
    return;

  run->finished = TRUE;
  run->succeeded = TRUE;
}

static void
on_task_failed (SmtpClientTask *task,
                GVariant       *context,
                const GError   *error,
                const char     *log,
                gpointer        user_data)
{
  TaskRun *run = user_data;

  if (run->finished)
    return;

  run->finished = TRUE;
  run->succeeded = FALSE;
  if (error != NULL)
    run->error = g_error_copy (error);
  else
    run->error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED,
                                      "the task failed without an error");
}

gboolean
smtp_test_run_task (SmtpClientTask  *task,
                    GError         **error)
{
  g_autoptr(GMainContext) context = NULL;
  TaskRun run = { FALSE, FALSE, NULL };
  gulong succeeded_id;
  gulong failed_id;

  g_return_val_if_fail (SMTP_CLIENT_IS_TASK (task), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  g_object_ref (task);
  context = g_main_context_ref_thread_default ();

  succeeded_id = g_signal_connect (task, "succeeded",
                                   G_CALLBACK (on_task_succeeded), &run);
  failed_id = g_signal_connect (task, "failed",
                                G_CALLBACK (on_task_failed), &run);

  smtp_client_task_send (task);

  if (!iterate_until (context, &run.finished,
                      SMTP_TEST_WAIT_SECONDS * 1000))
    {
      const char *log = smtp_client_task_get_transaction_log (task);

      g_error ("the task did not finish within %d s; its log so far:\n%s",
               SMTP_TEST_WAIT_SECONDS, log != NULL ? log : "(none)");
    }

  g_signal_handler_disconnect (task, succeeded_id);
  g_signal_handler_disconnect (task, failed_id);
  g_object_unref (task);

  if (!run.succeeded)
    {
      g_propagate_error (error, run.error);
      return FALSE;
    }

  return TRUE;
}

static void
set_task_property (SmtpClientTask *task,
                   const char     *name,
                   const GValue   *value)
{
  /* By name, so that the value is converted to the property's own type
   * (guint, gint, gdouble…). */
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (task), name) == NULL)
    g_error ("SmtpClientTask has no property \"%s\"", name);

  g_object_set_property (G_OBJECT (task), name, value);
}

SmtpClientTask *
smtp_test_task_new (guint       port,
                    const char *body)
{
  static const char * const to[] = { "rcpt@example.org", NULL };
  SmtpClientTask *task;
  GValue value = G_VALUE_INIT;

  if (body == NULL)
    body = DEFAULT_BODY;

  task = smtp_client_task_new ();

  g_value_init (&value, G_TYPE_STRING);
  g_value_set_static_string (&value, "127.0.0.1");
  set_task_property (task, "server", &value);
  g_value_set_static_string (&value, "sender@example.org");
  set_task_property (task, "from", &value);
  g_value_unset (&value);

  g_value_init (&value, G_TYPE_UINT);
  g_value_set_uint (&value, port);
  set_task_property (task, "port", &value);
  g_value_set_uint (&value, 10);
  set_task_property (task, "timeout", &value);
  /* One attempt: the tests of retries ask for them */
  g_value_set_uint (&value, 0);
  set_task_property (task, "max-retries", &value);
  /* SMTPCLIENT_TEST_DEBUG=1 G_MESSAGES_DEBUG=SmtpClient: the protocol
   * trace of every task */
  g_value_set_uint (&value, g_getenv ("SMTPCLIENT_TEST_DEBUG") != NULL);
  set_task_property (task, "debug", &value);
  g_value_unset (&value);

  g_value_init (&value, G_TYPE_STRV);
  g_value_set_static_boxed (&value, to);
  set_task_property (task, "to", &value);
  g_value_unset (&value);

  g_value_init (&value, G_TYPE_BYTES);
  g_value_take_boxed (&value, g_bytes_new (body, strlen (body)));
  set_task_property (task, "body", &value);
  g_value_unset (&value);

  return task;
}

/* smtp-sink's counters (-c) */

SmtpTestServer *
smtp_test_server_start_sink_counted (const char *first_arg,
                                     ...)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  va_list ap;

  g_ptr_array_add (args, g_strdup ("-c"));
  va_start (ap, first_arg);
  add_args (args, first_arg, ap);
  va_end (ap);

  return start_sink (args, SINK_COUNTERS_FILE);
}

/* The last complete "sess=N quit=N mesg=N" record (records end in CR) */
static gboolean
read_sink_counters (SmtpTestServer *server,
                    guint          *sessions,
                    guint          *quits,
                    guint          *messages)
{
  g_autofree char *path = g_build_filename (server->directory,
                                            SINK_COUNTERS_FILE, NULL);
  g_autofree char *text = NULL;
  char *end;
  char *start;

  *sessions = *quits = *messages = 0;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return FALSE;

  end = strrchr (text, '\r');
  if (end == NULL)
    return FALSE;
  *end = '\0';
  start = strrchr (text, '\r');
  start = start != NULL ? start + 1 : text;

  if (sscanf (start, "sess=%u quit=%u mesg=%u", sessions, quits,
              messages) != 3)
    g_error ("smtp-sink counters: unexpected record \"%s\"", start);

  return TRUE;
}

void
smtp_test_server_wait_sink_counters (SmtpTestServer *server,
                                     guint           min_sessions,
                                     guint           min_messages,
                                     guint          *sessions,
                                     guint          *quits,
                                     guint          *messages)
{
  g_autoptr(GMainContext) context = g_main_context_ref_thread_default ();
  gint64 deadline = g_get_monotonic_time ()
                    + SMTP_TEST_WAIT_SECONDS * G_TIME_SPAN_SECOND;
  guint s = 0, q = 0, m = 0;

  g_return_if_fail (server != NULL && server->kind == SERVER_SINK);

  for (;;)
    {
      gboolean never = FALSE;

      read_sink_counters (server, &s, &q, &m);
      if ((s >= min_sessions && m >= min_messages) ||
          g_get_monotonic_time () >= deadline)
        break;
      iterate_until (context, &never, POLL_INTERVAL_MS);
    }

  if (s < min_sessions || m < min_messages)
    g_test_message ("smtp-sink counters: sess=%u mesg=%u after %d s "
                    "(waited for sess>=%u mesg>=%u)", s, m,
                    SMTP_TEST_WAIT_SECONDS, min_sessions, min_messages);

  if (sessions != NULL)
    *sessions = s;
  if (quits != NULL)
    *quits = q;
  if (messages != NULL)
    *messages = m;
}

guint
smtp_test_count_connections (guint port)
{
  g_autofree char *table = NULL;
  /* 127.0.0.1 as the kernel prints it, little- or big-endian */
  g_autofree char *remote_le = g_strdup_printf ("0100007F:%04X", port);
  g_autofree char *remote_be = g_strdup_printf ("7F000001:%04X", port);
  g_auto(GStrv) lines = NULL;
  guint count = 0;

  if (!g_file_get_contents ("/proc/net/tcp", &table, NULL, NULL))
    g_error ("cannot read /proc/net/tcp");

  /* "  sl  local_address rem_address   st ..."; 01 is ESTABLISHED */
  lines = g_strsplit (table, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      char local[64];
      char rem[64];
      char state[8];

      if (sscanf (lines[i], "%*s %63s %63s %7s", local, rem, state) == 3
          && (strcmp (rem, remote_le) == 0 || strcmp (rem, remote_be) == 0)
          && strcmp (state, "01") == 0)
        count++;
    }

  return count;
}

/* Closing a session */

static void
on_session_closed (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  gboolean *closed = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (smtp_client_session_close_finish (SMTP_CLIENT_SESSION (source),
                                                   result, &error));
  g_assert_no_error (error);
  *closed = TRUE;
}

void
smtp_test_close_session (SmtpClientSession *session)
{
  gboolean closed = FALSE;

  smtp_client_session_close_async (session, NULL, on_session_closed, &closed);
  if (!iterate_until (g_main_context_get_thread_default (), &closed,
                      SMTP_TEST_WAIT_SECONDS * 1000))
    g_error ("the session did not close within %d s", SMTP_TEST_WAIT_SECONDS);
}

/* Watching a delivery */

static void
on_delivery_succeeded (SmtpClientTask *task,
                       GVariant       *context,
                       const char     *log,
                       gpointer        user_data)
{
  SmtpTestDelivery *delivery = user_data;

  delivery->succeeded++;
}

static void
on_delivery_failed (SmtpClientTask *task,
                    GVariant       *context,
                    const GError   *error,
                    const char     *log,
                    gpointer        user_data)
{
  SmtpTestDelivery *delivery = user_data;

  delivery->failed++;
}

static void
on_delivery_sent (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  SmtpTestDelivery *delivery = user_data;

  delivery->result = smtp_client_task_send_finish (SMTP_CLIENT_TASK (source),
                                                   result, &delivery->error);
  delivery->ended = g_get_monotonic_time ();
  delivery->finished = TRUE;
}

SmtpTestDelivery *
smtp_test_delivery_start (SmtpClientTask *task,
                          GCancellable   *cancellable)
{
  SmtpTestDelivery *delivery = g_new0 (SmtpTestDelivery, 1);

  delivery->task = g_object_ref (task);
  g_signal_connect (task, "succeeded", G_CALLBACK (on_delivery_succeeded),
                    delivery);
  g_signal_connect (task, "failed", G_CALLBACK (on_delivery_failed),
                    delivery);
  delivery->started = g_get_monotonic_time ();
  smtp_client_task_send_async (task, cancellable, on_delivery_sent, delivery);

  return delivery;
}

static gboolean
deliveries_finished (SmtpTestDelivery **deliveries,
                     guint              n)
{
  for (guint i = 0; i < n; i++)
    if (!deliveries[i]->finished)
      return FALSE;
  return TRUE;
}

void
smtp_test_delivery_wait (SmtpTestDelivery **deliveries,
                         guint              n)
{
  GMainContext *context = g_main_context_get_thread_default ();
  gint64 deadline = g_get_monotonic_time () +
                    SMTP_TEST_WAIT_SECONDS * G_TIME_SPAN_SECOND;
  GSource *tick = g_timeout_source_new (100);

  /* Wakes the context up to look at the clock */
  g_source_set_callback (tick, on_tick_continue, NULL, NULL);
  g_source_attach (tick, context);
  while (!deliveries_finished (deliveries, n))
    {
      if (g_get_monotonic_time () > deadline)
        g_error ("%u deliveries did not end within %d s", n,
                 SMTP_TEST_WAIT_SECONDS);
      g_main_context_iteration (context, TRUE);
    }
  g_source_destroy (tick);
  g_source_unref (tick);
}

void
smtp_test_delivery_free (SmtpTestDelivery *delivery)
{
  if (delivery == NULL)
    return;

  if (!delivery->finished)
    g_error ("a delivery is freed before it ended");
  g_signal_handlers_disconnect_by_data (delivery->task, delivery);
  g_clear_object (&delivery->task);
  g_clear_error (&delivery->error);
  g_free (delivery);
}

/* What arrived */

SmtpTestMessage *
smtp_test_only_message (SmtpTestServer *server)
{
  GPtrArray *messages = smtp_test_server_get_messages (server);

  g_assert_cmpuint (messages->len, ==, 1);
  return g_ptr_array_index (messages, 0);
}
void
smtp_test_assert_content (SmtpTestMessage *message,
                          const char      *expected)
{
  gsize size = 0;
  const char *data = g_bytes_get_data (message->content, &size);

  g_assert_cmpmem (data, size, expected, strlen (expected));
}
gboolean
smtp_test_strv_has (GStrv       strv,
                    const char *item)
{
  return strv != NULL && g_strv_contains ((const char * const *) strv, item);
}
gboolean
smtp_test_strv_has_prefix (GStrv       strv,
                           const char *prefix)
{
  for (guint i = 0; strv != NULL && strv[i] != NULL; i++)
    if (g_str_has_prefix (strv[i], prefix))
      return TRUE;

  return FALSE;
}

/* Every log line is "<- ", "-> " or a "-- " note */
void
smtp_test_assert_log_format (const char *log)
{
  g_auto(GStrv) lines = NULL;

  g_assert_nonnull (log);
  lines = g_strsplit (log, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), >, 4);
  for (guint i = 0; lines[i] != NULL; i++)
    g_assert_true (g_str_has_prefix (lines[i], "<- ") ||
                   g_str_has_prefix (lines[i], "-> ") ||
                   g_str_has_prefix (lines[i], "-- "));
}

/* The transaction log of @task as test messages ("# " lines in TAP), for
 * whoever reads the test's output */
void
smtp_test_print_log (SmtpClientTask *task)
{
  const char *log = smtp_client_task_get_transaction_log (task);
  g_auto(GStrv) lines = g_strsplit (log != NULL ? log : "", "\n", -1);

  g_test_message ("transaction log:");
  for (guint i = 0; lines[i] != NULL; i++)
    if (lines[i][0] != '\0')
      g_test_message ("  %s", lines[i]);
}

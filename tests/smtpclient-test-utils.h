/* smtpclient-test-utils.h: real SMTP servers for the tests, started and
 * stopped by the tests themselves on loopback, with bounded waits.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>
#include <smtpclient/smtpclient.h>

G_BEGIN_DECLS

/* Every wait in the tests is bounded by this many seconds. */
#define SMTP_TEST_WAIT_SECONDS 30

/* In a server script (either scripted server): a whole transaction after
 * EHLO for the default task, then QUIT */
#define SMTP_TEST_SCRIPT_DELIVERY \
  "C MAIL FROM:<sender@example.org>*\n" \
  "S 250 2.1.0 ok\n" \
  "C RCPT TO:<rcpt@example.org>*\n" \
  "S 250 2.1.5 ok\n" \
  "C DATA\n" \
  "S 354 go ahead\n" \
  "CDATA\n" \
  "S 250 2.0.0 queued as 4711\n" \
  "C QUIT\n" \
  "S 221 2.0.0 bye\n"

typedef struct _SmtpTestServer SmtpTestServer;

/* One message as the server received it (aiosmtpd). */
typedef struct
{
  char    *helo;          /* what the client said in EHLO/HELO */
  char    *mail_from;     /* the reverse path, without <> */
  GStrv    mail_options;  /* MAIL FROM parameters, e.g. "SIZE=123" */
  GStrv    rcpt_tos;      /* accepted recipients, without <> */
  GStrv    rcpt_options;  /* RCPT TO parameters of the first recipient */
  GBytes  *content;       /* DATA content after dot-unstuffing, CRLF kept,
                           * without the final ".\r\n" */
} SmtpTestMessage;

/* Start tests/servers/aiosmtpd-server.py on 127.0.0.1 (a free port) with
 * the given extra command-line arguments (NULL-terminated), e.g.
 * "--auth", "user:secret", "--size", "1000", "--smtputf8".  Waits (bounded)
 * until it listens.  Fails the test (g_error) if it does not start. */
SmtpTestServer *smtp_test_server_start_aiosmtpd (const char *first_arg,
                                                 ...);

/* Start Postfix's smtp-sink on 127.0.0.1 (a free port) with the given
 * options (NULL-terminated) placed before the address, e.g. "-f", "RCPT".
 * Nothing is added but the address and a
 * backlog of 100.  Waits (bounded) until it accepts connections. */
SmtpTestServer *smtp_test_server_start_sink (const char *first_arg,
                                             ...);

/* Start tests/servers/scripted-server.py with @script (its format is
 * documented at the top of that file).  Waits until it listens. */
SmtpTestServer *smtp_test_server_start_script (const char *script);

guint           smtp_test_server_get_port     (SmtpTestServer *server);

/* aiosmtpd only: the messages received so far, in order of arrival
 * (element-type SmtpTestMessage, owned by the server). */
GPtrArray      *smtp_test_server_get_messages (SmtpTestServer *server);

/* aiosmtpd only: the last AUTH result it saw: number of successful and
 * failed authentication attempts. */
void            smtp_test_server_get_auth_counts (SmtpTestServer *server,
                                                  guint          *succeeded,
                                                  guint          *failed);

/* scripted server only: every byte the client sent, in order (bounded
 * wait until the server has finished its script or the client closed).
 * *script_ok is TRUE when every "C:" expectation of the script matched
 * and the script ran to its end. */
GBytes         *smtp_test_server_get_transcript (SmtpTestServer *server,
                                                 gboolean       *script_ok);

/* Stop the server (bounded wait) and free everything. */
void            smtp_test_server_free (SmtpTestServer *server);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmtpTestServer, smtp_test_server_free)

/* Run the thread-default main context until @task has emitted succeeded
 * or failed (via smtp_client_task_send), bounded by
 * SMTP_TEST_WAIT_SECONDS (g_error on time-out).  Returns TRUE on success;
 * on failure returns FALSE and sets @error to a copy of the task's error. */
gboolean        smtp_test_run_task (SmtpClientTask *task,
                                    GError        **error);

/* A new task for 127.0.0.1:@port, from "sender@example.org", to "rcpt@example.org",
 * body @body (NUL-terminated; NULL: a small default message), timeout 10,
 * max-retries 0. */
SmtpClientTask *smtp_test_task_new (guint       port,
                                    const char *body);

/* Path of a file in a temporary directory that is removed when the test
 * program ends. */
char           *smtp_test_tmp_path (const char *name);

/* Postfix's smtp-sink with its running counters (-c, added here) going to
 * a file; otherwise as smtp_test_server_start_sink(). */
SmtpTestServer *smtp_test_server_start_sink_counted (const char *first_arg,
                                                     ...);

/* A sink started with smtp_test_server_start_sink_counted(): waits
 * (bounded, iterating the thread-default main context) until its counters
 * show at least @min_sessions ended sessions and @min_messages messages
 * (received "."), then returns the counters as they are.  smtp-sink counts
 * a session when it ends, a QUIT when it executes it (before answering),
 * a message when it receives the final ".". */
void            smtp_test_server_wait_sink_counters (SmtpTestServer *server,
                                                     guint           min_sessions,
                                                     guint           min_messages,
                                                     guint          *sessions,
                                                     guint          *quits,
                                                     guint          *messages);

/* How many TCP connections to 127.0.0.1:@port are established from this
 * machine right now (client ends, from /proc/net/tcp).  A connection the
 * client has closed no longer counts, whatever the server has seen. */
guint           smtp_test_count_connections (guint port);

/* One delivery, watched: its signals counted, its send_async callback
 * awaited */
typedef struct
{
  SmtpClientTask *task;
  guint           succeeded;   /* emissions of the signals */
  guint           failed;
  gboolean        finished;    /* the send_async callback came */
  gboolean        result;      /* what send_finish() returned */
  GError         *error;       /* and its error */
  gint64          started;     /* monotonic */
  gint64          ended;
} SmtpTestDelivery;

/* smtp_client_task_send_async (@task, @cancellable) */
SmtpTestDelivery *smtp_test_delivery_start (SmtpClientTask    *task,
                                            GCancellable      *cancellable);
/* Iterate the thread-default context until every one of @deliveries has
 * ended (bounded: SMTP_TEST_WAIT_SECONDS, then g_error) */
void              smtp_test_delivery_wait  (SmtpTestDelivery **deliveries,
                                            guint              n);
void              smtp_test_delivery_free  (SmtpTestDelivery  *delivery);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmtpTestDelivery, smtp_test_delivery_free)

/* Runs the thread-default main context for @ms milliseconds (as an
 * application's nested loop would: a dialog's) */
void            smtp_test_iterate_for  (guint ms);

/* How many times slower than normal the tests run: the
 * SMTPCLIENT_TEST_SLOWDOWN variable (the valgrind setup sets 3), else 1.
 * For the few tests whose timeouts must be passed, or not passed, on
 * purpose. */
guint           smtp_test_slowdown     (void);

/* What a run of a tool gave */
typedef struct
{
  int   status;  /* exit status */
  char *out;     /* standard output, "" for none */
  char *err;     /* standard error, "" for none */
} SmtpTestToolRun;

void            smtp_test_tool_run_clear (SmtpTestToolRun *run);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (SmtpTestToolRun, smtp_test_tool_run_clear)

/* The smtpclient-send under test: $SMTPCLIENT_SEND (meson sets it;
 * g_error when it is not) */
const char     *smtp_test_send_tool      (void);

/* Runs @argv (@argv[0] the program) with standard input from a file that
 * holds @input (NULL: /dev/null; a file, not a pipe, so that a tool that
 * exits before reading does not fail the test's write), with
 * SMTPCLIENT_PASSWORD set to @password (NULL: unset), SMTPCLIENT_SEND set
 * (for shell pipelines) and LC_ALL=C (English messages); waits at most
 * SMTP_TEST_WAIT_SECONDS (then g_error), iterating the thread-default
 * main context (a server the tool talks to may live there), and asserts
 * that the program exited rather than died of a signal (a crash, a
 * sanitizer abort). */
void            smtp_test_run_tool       (SmtpTestToolRun    *run,
                                          const char * const *argv,
                                          const char         *password,
                                          const char         *input);
/* The same, waiting at most @timeout_s seconds */
void            smtp_test_run_tool_full  (SmtpTestToolRun    *run,
                                          const char * const *argv,
                                          const char         *password,
                                          const char         *input,
                                          guint               timeout_s);

/* Waits at most @timeout_ms (on a private main context) for @process to
 * exit.  Returns TRUE if it has. */
gboolean        smtp_test_process_wait (GSubprocess *process,
                                        guint        timeout_ms);

/* The next line @process writes to its standard output (a pipe), read
 * within @timeout_ms on a private main context; NULL with @error set
 * when it wrote none in time (G_IO_ERROR_TIMED_OUT) or exited first
 * (G_IO_ERROR_CLOSED).  Free with g_free(). */
char           *smtp_test_read_line    (GSubprocess  *process,
                                        guint         timeout_ms,
                                        GError      **error);

/* A TCP port on 127.0.0.1 that was free a moment ago (nobody listens) */
guint           smtp_test_free_port (void);

/* close_async, waiting (bounded, iterating the thread-default context)
 * until it has finished; fails the test if it reports an error */
void            smtp_test_close_session (SmtpClientSession *session);

/* aiosmtpd: its one message (fails the test if there is not exactly
 * one) */
SmtpTestMessage *smtp_test_only_message     (SmtpTestServer  *server);
/* @message's content is @expected, byte for byte */
void             smtp_test_assert_content   (SmtpTestMessage *message,
                                             const char      *expected);
gboolean         smtp_test_strv_has         (GStrv            strv,
                                             const char      *item);
gboolean         smtp_test_strv_has_prefix  (GStrv            strv,
                                             const char      *prefix);
/* Every line of a transaction log is "<- ", "-> " or a "-- " note */
void             smtp_test_assert_log_format (const char     *log);
void             smtp_test_print_log         (SmtpClientTask *task);

G_END_DECLS

/* smtpclient-task.c: one message, one delivery
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "smtpclient-enum-types.h"
#include "smtpclient-error.h"
#include "smtpclient-private.h"
#include "smtpclient-task-object-private.h"
#include "smtpclient-task.h"

/**
 * SmtpClientTask:
 *
 * One mail transaction: the envelope, the content, where to send it, and
 * the outcome.
 *
 * Set the properties (or pass them to g_object_new()), connect to
 * [signal@SmtpClient.Task::succeeded] and [signal@SmtpClient.Task::failed],
 * then call [method@SmtpClient.Task.send] (or the GIO-style
 * [method@SmtpClient.Task.send_async]).  The delivery runs on the
 * thread-default main context without blocking it; exactly one of the two
 * signals is emitted, once.
 *
 * ```c
 * g_autoptr(SmtpClientTask) task = smtp_client_task_new ();
 * const char *to[] = { "bob@example.org", NULL };
 *
 * g_object_set (task,
 *               "server", "mail.example.org",
 *               "from", "alice@example.org",
 *               "to", to,
 *               "body", body_bytes,
 *               NULL);
 * g_signal_connect (task, "succeeded", G_CALLBACK (on_sent), NULL);
 * g_signal_connect (task, "failed", G_CALLBACK (on_failed), NULL);
 * smtp_client_task_send (task);
 * ```
 *
 * Since: 1.0
 */

GParamSpec *smtp_client_task_properties[N_PROPS];
guint smtp_client_task_signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (SmtpClientTask, smtp_client_task, G_TYPE_OBJECT)

/**
 * smtp_client_task_new:
 *
 * Creates a task with every property at its default: from `root@localhost`
 * to `root@localhost` through `localhost:25`, with an empty body.
 *
 * Returns: (transfer full): a new #SmtpClientTask
 *
 * Since: 1.0
 */
SmtpClientTask *
smtp_client_task_new (void)
{
  return g_object_new (SMTP_CLIENT_TYPE_TASK, NULL);
}

/* ---------------------------------------------------------------------- */
/* Getters */

/**
 * smtp_client_task_get_reply_code:
 * @task: a #SmtpClientTask
 *
 * Gets the code of the reply that decided the outcome: the server's 250
 * to the message after success, or the 4yz (try again later) or 5yz
 * (permanent) reply that failed it.  What happens afterwards (`RSET`,
 * `QUIT`, the server closing the connection) does not change it.
 *
 * Returns: the reply code, or 0 if no reply decided the outcome (a
 *   timeout, a lost connection, a cancellation, a bad setting)
 *
 * Since: 1.0
 */
guint
smtp_client_task_get_reply_code (SmtpClientTask *self)
{
  g_return_val_if_fail (SMTP_CLIENT_IS_TASK (self), 0);

  return self->reply_code;
}

/**
 * smtp_client_task_get_reply:
 * @task: a #SmtpClientTask
 *
 * Gets the reply that decided the outcome, as it was on the wire (lines
 * joined with `\n`, control characters escaped).  After success, it is
 * the server's reply to the message, which usually carries the queue id.
 *
 * Returns: (nullable): the reply, or %NULL if no reply decided the
 *   outcome
 *
 * Since: 1.0
 */
const char *
smtp_client_task_get_reply (SmtpClientTask *self)
{
  g_return_val_if_fail (SMTP_CLIENT_IS_TASK (self), NULL);

  return self->reply;
}

/**
 * smtp_client_task_get_refused_recipients:
 * @task: a #SmtpClientTask
 *
 * Gets the recipients the server refused: to `RCPT`, or with LMTP
 * (see [property@SmtpClient.Task:protocol]) after the end of the message.
 *
 * Returns: (transfer none) (array zero-terminated=1) (nullable): the
 *   refused addresses, or %NULL before the task has been sent
 *
 * Since: 1.0
 */
const char * const *
smtp_client_task_get_refused_recipients (SmtpClientTask *self)
{
  g_return_val_if_fail (SMTP_CLIENT_IS_TASK (self), NULL);

  return (const char * const *) self->refused;
}

/**
 * smtp_client_task_get_transaction_log:
 * @task: a #SmtpClientTask
 *
 * Gets the transaction log: one line per line on the wire, `<- ` for what
 * the server sent, `-> ` for what the client sent, joined with `\n`.
 * Credentials are redacted and the message content is summarised in one
 * line.
 *
 * Returns: (nullable): the log, or %NULL unless
 *   [property@SmtpClient.Task:transaction-log] is %TRUE
 *
 * Since: 1.0
 */
const char *
smtp_client_task_get_transaction_log (SmtpClientTask *self)
{
  g_return_val_if_fail (SMTP_CLIENT_IS_TASK (self), NULL);

  return self->transaction_log ? smtp_client_task_log_text (self) : NULL;
}

/**
 * smtp_client_task_get_delivery_state:
 * @task: a #SmtpClientTask
 *
 * Gets whether the server has the message: see
 * [property@SmtpClient.Task:delivery-state].
 *
 * Returns: the delivery state
 *
 * Since: 1.0
 */
SmtpClientDeliveryState
smtp_client_task_get_delivery_state (SmtpClientTask *self)
{
  g_return_val_if_fail (SMTP_CLIENT_IS_TASK (self),
                        SMTP_CLIENT_DELIVERY_STATE_PENDING);

  return self->delivery_state;
}

/**
 * smtp_client_task_get_attempts:
 * @task: a #SmtpClientTask
 *
 * Gets how many attempts the delivery took: 1 when it went (or failed) at
 * the first try, more when it was tried again (see
 * [property@SmtpClient.Task:max-retries]), 0 when it never reached a
 * connection.
 *
 * Returns: the number of attempts
 *
 * Since: 1.0
 */
guint
smtp_client_task_get_attempts (SmtpClientTask *self)
{
  g_return_val_if_fail (SMTP_CLIENT_IS_TASK (self), 0);

  return self->attempts;
}

/**
 * smtp_client_task_get_timings:
 * @task: a #SmtpClientTask
 *
 * Gets where the time of the delivery went, in seconds, as an `a{sd}`
 * dictionary: `connect` (the TCP connection), `tls` (`STARTTLS` and the
 * TLS handshake), `auth` (authentication), `envelope` (from `MAIL` to the
 * server's go-ahead for the content), `data` (the content and the reply
 * to its end), summed over every attempt, and `total` (from
 * [method@SmtpClient.Task.send_async] to the signal).  `connect`, `tls`
 * and `auth` are those of the connections the task opened: a task that
 * went on a connection another task opened spent no time there.  Every
 * value is 0 before the task has ended.
 *
 * Returns: (transfer full): the timings, an `a{sd}` #GVariant
 *
 * Since: 1.0
 */
GVariant *
smtp_client_task_get_timings (SmtpClientTask *self)
{
  static const char * const names[SMTP_CLIENT_N_TIMINGS] = {
    [SMTP_CLIENT_TIMING_CONNECT] = "connect",
    [SMTP_CLIENT_TIMING_TLS] = "tls",
    [SMTP_CLIENT_TIMING_AUTH] = "auth",
    [SMTP_CLIENT_TIMING_ENVELOPE] = "envelope",
    [SMTP_CLIENT_TIMING_DATA] = "data",
  };
  GVariantBuilder builder;

  g_return_val_if_fail (SMTP_CLIENT_IS_TASK (self), NULL);

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{sd}"));
  for (guint i = 0; i < SMTP_CLIENT_N_TIMINGS; i++)
    g_variant_builder_add (&builder, "{sd}", names[i], self->timings[i]);
  g_variant_builder_add (&builder, "{sd}", "total", self->total);

  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

static gint
find_recipient (SmtpClientTask *self,
                const char     *address)
{
  if (self->recipients == NULL || address == NULL)
    return -1;

  for (guint i = 0; self->recipients[i] != NULL; i++)
    if (g_ascii_strcasecmp (self->recipients[i], address) == 0)
      return (gint) i;

  return -1;
}

/**
 * smtp_client_task_get_recipient_reply_code:
 * @task: a #SmtpClientTask
 * @address: one of the task's recipients
 *
 * Gets the code of the server's reply to @address's `RCPT` command in the
 * last attempt, for example 250 when it was accepted, 550 when the
 * mailbox does not exist.  With LMTP (see
 * [property@SmtpClient.Task:protocol]), for a recipient accepted to
 * `RCPT` it is the server's reply for that recipient after the end of the
 * message: 250 when the message is in the mailbox.
 *
 * Returns: the reply code, or 0 when @address is not a recipient of the
 *   task or got no reply
 *
 * Since: 1.0
 */
guint
smtp_client_task_get_recipient_reply_code (SmtpClientTask *self,
                                           const char     *address)
{
  gint index;

  g_return_val_if_fail (SMTP_CLIENT_IS_TASK (self), 0);
  g_return_val_if_fail (address != NULL, 0);

  index = find_recipient (self, address);
  return index >= 0 ? self->recipient_codes[index] : 0;
}

/**
 * smtp_client_task_get_recipient_reply:
 * @task: a #SmtpClientTask
 * @address: one of the task's recipients
 *
 * Gets the server's reply to @address's `RCPT` command in the last
 * attempt, as on the wire (lines joined with `\n`, control characters
 * escaped, as [method@SmtpClient.Task.get_reply] gives its reply); with
 * LMTP, for a recipient accepted to `RCPT`, the reply for it after the
 * end of the message (see
 * [method@SmtpClient.Task.get_recipient_reply_code]).
 *
 * Returns: (nullable): the reply, or %NULL when @address is not a
 *   recipient of the task or got no reply
 *
 * Since: 1.0
 */
const char *
smtp_client_task_get_recipient_reply (SmtpClientTask *self,
                                      const char     *address)
{
  gint index;

  g_return_val_if_fail (SMTP_CLIENT_IS_TASK (self), NULL);
  g_return_val_if_fail (address != NULL, NULL);

  index = find_recipient (self, address);
  if (index < 0 || self->recipient_replies[index][0] == '\0')
    return NULL;

  return self->recipient_replies[index];
}

/* ---------------------------------------------------------------------- */
/* GObject */

static void
smtp_client_task_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  SmtpClientTask *self = SMTP_CLIENT_TASK (object);

  if (prop_id >= PROP_FIRST_SETTING && prop_id < N_PROPS)
    {
      smtp_client_settings_get_property (smtp_client_task_settings (self),
                                         prop_id - PROP_FIRST_SETTING, value);
      return;
    }

  switch (prop_id)
    {
    case PROP_FROM:
      g_value_set_string (value, self->from);
      break;
    case PROP_TO:
      g_value_set_boxed (value, self->to);
      break;
    case PROP_BODY:
      g_value_set_boxed (value, self->body);
      break;
    case PROP_DEBUG:
      g_value_set_uint (value, self->debug);
      break;
    case PROP_ALIAS:
      g_value_set_string (value, self->alias);
      break;
    case PROP_CONTEXT:
      g_value_set_variant (value, self->context);
      break;
    case PROP_MESSAGE_FILE:
      g_value_set_object (value, self->message_file);
      break;
    case PROP_INPUT_STREAM:
      g_value_set_object (value, self->input_stream);
      break;
    case PROP_TRANSACTION_LOG:
      g_value_set_boolean (value, self->transaction_log);
      break;
    case PROP_ALLOW_REFUSED_RECIPIENTS:
      g_value_set_boolean (value, self->allow_refused_recipients);
      break;
    case PROP_BINARY_MIME:
      g_value_set_boolean (value, self->binary_mime);
      break;
    case PROP_REQUIRE_TLS:
      g_value_set_boolean (value, self->require_tls);
      break;
    case PROP_DSN_NOTIFY:
      g_value_set_flags (value, self->dsn_notify);
      break;
    case PROP_DSN_RETURN:
      g_value_set_enum (value, self->dsn_return);
      break;
    case PROP_DSN_ENVELOPE_ID:
      g_value_set_string (value, self->dsn_envelope_id);
      break;
    case PROP_SESSION:
      g_value_set_object (value, self->session);
      break;
    case PROP_DELIVERY_STATE:
      g_value_set_enum (value, self->delivery_state);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static gboolean
set_string (char       **field,
            const GValue *value)
{
  const char *text = g_value_get_string (value);

  if (g_strcmp0 (*field, text) == 0)
    return FALSE;

  g_free (*field);
  *field = g_strdup (text);
  return TRUE;
}

static gboolean
set_strv (GStrv        *field,
          const GValue *value)
{
  const char * const *strv = g_value_get_boxed (value);

  if (*field != NULL && strv != NULL &&
      g_strv_equal ((const char * const *) *field, strv))
    return FALSE;

  g_strfreev (*field);
  *field = g_strdupv ((char **) strv);
  return TRUE;
}

static void
smtp_client_task_set_property (GObject      *object,
                               guint         prop_id,
                               const GValue *value,
                               GParamSpec   *pspec)
{
  SmtpClientTask *self = SMTP_CLIENT_TASK (object);
  gboolean changed = FALSE;

  if (prop_id >= PROP_FIRST_SETTING && prop_id < N_PROPS)
    {
      if (smtp_client_settings_set_property (smtp_client_task_settings (self),
                                             prop_id - PROP_FIRST_SETTING,
                                             value))
        g_object_notify_by_pspec (object, pspec);
      return;
    }

  switch (prop_id)
    {
    case PROP_FROM:
      changed = set_string (&self->from, value);
      break;
    case PROP_TO:
      changed = set_strv (&self->to, value);
      break;
    case PROP_BODY:
      {
        GBytes *body = g_value_get_boxed (value);

        if (body != self->body)
          {
            g_clear_pointer (&self->body, g_bytes_unref);
            self->body = body != NULL ? g_bytes_ref (body) : NULL;
            changed = TRUE;
          }
      }
      break;
    case PROP_DEBUG:
      if (self->debug != g_value_get_uint (value))
        {
          self->debug = g_value_get_uint (value);
          changed = TRUE;
        }
      break;
    case PROP_ALIAS:
      changed = set_string (&self->alias, value);
      break;
    case PROP_CONTEXT:
      {
        GVariant *context = g_value_get_variant (value);

        if (context != self->context)
          {
            g_clear_pointer (&self->context, g_variant_unref);
            self->context = context != NULL ? g_variant_ref_sink (context) : NULL;
            changed = TRUE;
          }
      }
      break;
    case PROP_MESSAGE_FILE:
      changed = g_set_object (&self->message_file, g_value_get_object (value));
      break;
    case PROP_INPUT_STREAM:
      changed = g_set_object (&self->input_stream, g_value_get_object (value));
      break;
    case PROP_TRANSACTION_LOG:
      if (self->transaction_log != g_value_get_boolean (value))
        {
          self->transaction_log = g_value_get_boolean (value);
          changed = TRUE;
        }
      break;
    case PROP_ALLOW_REFUSED_RECIPIENTS:
      if (self->allow_refused_recipients != g_value_get_boolean (value))
        {
          self->allow_refused_recipients = g_value_get_boolean (value);
          changed = TRUE;
        }
      break;
    case PROP_BINARY_MIME:
      if (self->binary_mime != g_value_get_boolean (value))
        {
          self->binary_mime = g_value_get_boolean (value);
          changed = TRUE;
        }
      break;
    case PROP_REQUIRE_TLS:
      if (self->require_tls != g_value_get_boolean (value))
        {
          self->require_tls = g_value_get_boolean (value);
          changed = TRUE;
        }
      break;
    case PROP_DSN_NOTIFY:
      if (self->dsn_notify != g_value_get_flags (value))
        {
          self->dsn_notify = g_value_get_flags (value);
          changed = TRUE;
        }
      break;
    case PROP_DSN_RETURN:
      if (self->dsn_return != (SmtpClientDsnReturn) g_value_get_enum (value))
        {
          self->dsn_return = g_value_get_enum (value);
          changed = TRUE;
        }
      break;
    case PROP_DSN_ENVELOPE_ID:
      changed = set_string (&self->dsn_envelope_id, value);
      break;
    case PROP_SESSION:
      changed = g_set_object (&self->session, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      return;
    }

  if (changed)
    g_object_notify_by_pspec (object, pspec);
}

static void
smtp_client_task_dispose (GObject *object)
{
  SmtpClientTask *self = SMTP_CLIENT_TASK (object);

  /* A delivery in flight holds a reference on the task, so there is
   * nothing in flight here to cancel. */
  g_clear_object (&self->message_file);
  g_clear_object (&self->input_stream);
  g_clear_object (&self->session);

  G_OBJECT_CLASS (smtp_client_task_parent_class)->dispose (object);
}

static void
smtp_client_task_finalize (GObject *object)
{
  SmtpClientTask *self = SMTP_CLIENT_TASK (object);

  g_clear_pointer (&self->settings, smtp_client_settings_unref);
  g_clear_pointer (&self->from, g_free);
  g_clear_pointer (&self->to, g_strfreev);
  g_clear_pointer (&self->body, g_bytes_unref);
  g_clear_pointer (&self->context, g_variant_unref);
  g_clear_pointer (&self->dsn_envelope_id, g_free);
  if (self->log != NULL)
    g_string_free (self->log, TRUE);
  g_clear_pointer (&self->reply, g_free);
  g_clear_pointer (&self->refused, g_strfreev);
  g_clear_pointer (&self->alias, g_free);
  g_clear_pointer (&self->recipients, g_strfreev);
  g_clear_pointer (&self->recipient_codes, g_free);
  g_clear_pointer (&self->recipient_replies, g_strfreev);

  G_OBJECT_CLASS (smtp_client_task_parent_class)->finalize (object);
}

static void
smtp_client_task_class_init (SmtpClientTaskClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags flags = G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY |
                            G_PARAM_STATIC_STRINGS;

  object_class->get_property = smtp_client_task_get_property;
  object_class->set_property = smtp_client_task_set_property;
  object_class->dispose = smtp_client_task_dispose;
  object_class->finalize = smtp_client_task_finalize;

  /**
   * SmtpClientTask:from:
   *
   * The sender's bare address (the envelope's reverse path, the seed's
   * `From`), without `<>`.  An empty string sends the null reverse path
   * `<>`, as bounces do.
   *
   * Since: 1.0
   */
  smtp_client_task_properties[PROP_FROM] =
    g_param_spec_string ("from", NULL, NULL, "root@localhost", flags);

  /**
   * SmtpClientTask:to:
   *
   * The recipients' bare addresses (the seed's `To`).
   *
   * Since: 1.0
   */
  smtp_client_task_properties[PROP_TO] =
    g_param_spec_boxed ("to", NULL, NULL, G_TYPE_STRV, flags);

  /**
   * SmtpClientTask:body:
   *
   * The message (headers and body, as in RFC 5322), used when neither
   * [property@SmtpClient.Task:input-stream] nor
   * [property@SmtpClient.Task:message-file] is set.  Line ends may be LF or
   * CRLF: they are sent as CRLF, and lines starting with `.` are
   * dot-stuffed.
   *
   * Since: 1.0
   */
  smtp_client_task_properties[PROP_BODY] =
    g_param_spec_boxed ("body", NULL, NULL, G_TYPE_BYTES, flags);

  /**
   * SmtpClientTask:debug:
   *
   * When greater than 0, the task logs its progress and the protocol
   * trace (credentials redacted) with g_debug() under the `SmtpClient` log
   * domain, tagged with [property@SmtpClient.Task:alias]; run with
   * `G_MESSAGES_DEBUG=SmtpClient` to see it.
   *
   * Since: 1.0
   */
  smtp_client_task_properties[PROP_DEBUG] =
    g_param_spec_uint ("debug", NULL, NULL, 0, G_MAXUINT, 0, flags);

  /**
   * SmtpClientTask:alias:
   *
   * A name for the task in debug output.
   *
   * Since: 1.0
   */
  smtp_client_task_properties[PROP_ALIAS] =
    g_param_spec_string ("alias", NULL, NULL, NULL, flags);

  /**
   * SmtpClientTask:context:
   *
   * Any value the application wants back in the signals (the seed's
   * `Context`).
   *
   * Since: 1.0
   */
  smtp_client_task_properties[PROP_CONTEXT] =
    g_param_spec_variant ("context", NULL, NULL, G_VARIANT_TYPE_ANY, NULL,
                          flags);

  /**
   * SmtpClientTask:message-file:
   *
   * A file holding the message, streamed (never read whole into memory).
   * Takes precedence over [property@SmtpClient.Task:body].  If it cannot be
   * opened or read, the task fails with %SMTP_CLIENT_ERROR_MESSAGE_FILE.
   *
   * Since: 1.0
   */
  smtp_client_task_properties[PROP_MESSAGE_FILE] =
    g_param_spec_object ("message-file", NULL, NULL, G_TYPE_FILE, flags);

  /**
   * SmtpClientTask:input-stream:
   *
   * A stream the message is read from, streamed (the seed's
   * `FileHandle`).  Takes precedence over
   * [property@SmtpClient.Task:message-file] and
   * [property@SmtpClient.Task:body].
   *
   * Since: 1.0
   */
  smtp_client_task_properties[PROP_INPUT_STREAM] =
    g_param_spec_object ("input-stream", NULL, NULL, G_TYPE_INPUT_STREAM,
                         flags);

  /**
   * SmtpClientTask:transaction-log:
   *
   * Whether to keep the transaction log and pass it to the signals; see
   * [method@SmtpClient.Task.get_transaction_log].
   *
   * Since: 1.0
   */
  smtp_client_task_properties[PROP_TRANSACTION_LOG] =
    g_param_spec_boolean ("transaction-log", NULL, NULL, FALSE, flags);

  /**
   * SmtpClientTask:allow-refused-recipients:
   *
   * When %FALSE (the default), one refused recipient fails the task and
   * nothing is delivered to anyone.  When %TRUE, the message goes to the
   * accepted recipients if there is at least one, and the task succeeds;
   * [method@SmtpClient.Task.get_refused_recipients] lists the others.
   *
   * Since: 1.0
   */
  smtp_client_task_properties[PROP_ALLOW_REFUSED_RECIPIENTS] =
    g_param_spec_boolean ("allow-refused-recipients", NULL, NULL, FALSE, flags);

  /**
   * SmtpClientTask:binary-mime:
   *
   * Send the content byte for byte, as `BODY=BINARYMIME` with `BDAT`
   * (RFC 3030): no line ends are changed, any byte may appear, lines may
   * be of any length.  For MIME messages with binary parts.  A server that
   * does not offer `BINARYMIME` and `CHUNKING` fails the task with
   * %SMTP_CLIENT_ERROR_NOT_SUPPORTED before `MAIL` (nothing is sent).
   * With it, `BDAT` is used even when [property@SmtpClient.Task:chunking]
   * is %FALSE.
   *
   * Since: 1.0
   */
  smtp_client_task_properties[PROP_BINARY_MIME] =
    g_param_spec_boolean ("binary-mime", NULL, NULL, FALSE, flags);

  /**
   * SmtpClientTask:require-tls:
   *
   * Ask that the message travel over TLS all the way to its recipients
   * (RFC 8689): `MAIL FROM` carries `REQUIRETLS`, and every server on the
   * way must keep to it or return the message.  The task fails with
   * %SMTP_CLIENT_ERROR_NOT_SUPPORTED before `MAIL` (nothing is sent)
   * unless the connection is encrypted and the server offers
   * `REQUIRETLS`.
   *
   * Since: 1.0
   */
  smtp_client_task_properties[PROP_REQUIRE_TLS] =
    g_param_spec_boolean ("require-tls", NULL, NULL, FALSE, flags);

  /**
   * SmtpClientTask:dsn-notify:
   *
   * When delivery status notifications are requested for every recipient
   * (RFC 3461 `NOTIFY`); 0 requests nothing.  Sent only when the server
   * offers DSN; otherwise left out, with a line in the transaction log.
   *
   * Since: 1.0
   */
  smtp_client_task_properties[PROP_DSN_NOTIFY] =
    g_param_spec_flags ("dsn-notify", NULL, NULL, SMTP_CLIENT_TYPE_DSN_NOTIFY,
                        0, flags);

  /**
   * SmtpClientTask:dsn-return:
   *
   * What notifications return of the message (RFC 3461 `RET`).
   *
   * Since: 1.0
   */
  smtp_client_task_properties[PROP_DSN_RETURN] =
    g_param_spec_enum ("dsn-return", NULL, NULL, SMTP_CLIENT_TYPE_DSN_RETURN,
                       SMTP_CLIENT_DSN_RETURN_DEFAULT, flags);

  /**
   * SmtpClientTask:dsn-envelope-id:
   *
   * An envelope identifier returned in notifications (RFC 3461 `ENVID`,
   * xtext-encoded on the wire); printable ASCII.
   *
   * Since: 1.0
   */
  smtp_client_task_properties[PROP_DSN_ENVELOPE_ID] =
    g_param_spec_string ("dsn-envelope-id", NULL, NULL, NULL, flags);

  /**
   * SmtpClientTask:session:
   *
   * A session to deliver through.  When set, the session's connection
   * settings are used and the task's own are ignored.
   *
   * Since: 1.0
   */
  smtp_client_task_properties[PROP_SESSION] =
    g_param_spec_object ("session", NULL, NULL, SMTP_CLIENT_TYPE_SESSION,
                         flags);

  /**
   * SmtpClientTask:delivery-state:
   *
   * Whether the server has the message: %SMTP_CLIENT_DELIVERY_STATE_PENDING
   * until the delivery ends, then %SMTP_CLIENT_DELIVERY_STATE_ACCEPTED, or,
   * for a failure, whether sending it again could duplicate it:
   * %SMTP_CLIENT_DELIVERY_STATE_NOT_SENT (it cannot),
   * %SMTP_CLIENT_DELIVERY_STATE_REFUSED (the server refused it; the reply
   * code says whether for now or for good) or
   * %SMTP_CLIENT_DELIVERY_STATE_UNCERTAIN (the end of the message was sent
   * and no reply came).  It is set, and notified, before the signal is
   * emitted.
   *
   * Since: 1.0
   */
  smtp_client_task_properties[PROP_DELIVERY_STATE] =
    g_param_spec_enum ("delivery-state", NULL, NULL,
                       SMTP_CLIENT_TYPE_DELIVERY_STATE,
                       SMTP_CLIENT_DELIVERY_STATE_PENDING,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY |
                       G_PARAM_STATIC_STRINGS);

  for (guint i = PROP_FROM; i < PROP_FIRST_SETTING; i++)
    g_object_class_install_property (object_class, i, smtp_client_task_properties[i]);
  smtp_client_settings_install_properties (object_class, PROP_FIRST_SETTING,
                                           &smtp_client_task_properties[PROP_FIRST_SETTING]);

  /**
   * SmtpClientTask::succeeded:
   * @task: the task
   * @context: (nullable): the [property@SmtpClient.Task:context]
   * @log: (nullable): the transaction log, or %NULL unless
   *   [property@SmtpClient.Task:transaction-log] is %TRUE
   *
   * Emitted once when the server has accepted the message (the seed's
   * `SMTP_Success`).  [method@SmtpClient.Task.get_reply] then returns the
   * server's reply, which usually carries the queue id.
   *
   * Since: 1.0
   */
  smtp_client_task_signals[SIGNAL_SUCCEEDED] =
    g_signal_new ("succeeded", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2,
                  G_TYPE_VARIANT, G_TYPE_STRING);

  /**
   * SmtpClientTask::failed:
   * @task: the task
   * @context: (nullable): the [property@SmtpClient.Task:context]
   * @error: what failed: a %SMTP_CLIENT_ERROR, or GIO's own error for
   *   network and TLS failures; `error->message` is a one-line description
   * @log: (nullable): the transaction log, or %NULL unless
   *   [property@SmtpClient.Task:transaction-log] is %TRUE
   *
   * Emitted once when the delivery failed (the seed's `SMTP_Failure`).
   *
   * Since: 1.0
   */
  smtp_client_task_signals[SIGNAL_FAILED] =
    g_signal_new ("failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 3,
                  G_TYPE_VARIANT, G_TYPE_ERROR, G_TYPE_STRING);

  /**
   * SmtpClientTask::progress:
   * @task: the task
   * @bytes_sent: bytes of the message uploaded so far
   * @bytes_total: the size of the message, or 0 when it is not known
   *
   * Emitted while the message content is uploaded, at most about ten
   * times a second, and once at the end.
   *
   * Since: 1.0
   */
  smtp_client_task_signals[SIGNAL_PROGRESS] =
    g_signal_new ("progress", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2,
                  G_TYPE_UINT64, G_TYPE_UINT64);

  /**
   * SmtpClientTask::accept-certificate:
   * @task: the task
   * @certificate: the server's certificate
   * @errors: the problems found with it
   *
   * Emitted during the TLS handshake when the server's certificate did not
   * verify, as [signal@Gio.TlsConnection::accept-certificate] is.  Return
   * %TRUE to accept it anyway (after asking the user, or because it matches
   * a pinned certificate); otherwise the task fails with the %G_TLS_ERROR.
   *
   * Returns: %TRUE to accept the certificate
   *
   * Since: 1.0
   */
  smtp_client_task_signals[SIGNAL_ACCEPT_CERTIFICATE] =
    g_signal_new ("accept-certificate", G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST, 0, g_signal_accumulator_true_handled,
                  NULL, NULL, G_TYPE_BOOLEAN, 2,
                  G_TYPE_TLS_CERTIFICATE, G_TYPE_TLS_CERTIFICATE_FLAGS);
}

static void
smtp_client_task_init (SmtpClientTask *self)
{
  static const char * const default_to[] = { "root@localhost", NULL };

  self->from = g_strdup ("root@localhost");
  self->to = g_strdupv ((char **) default_to);
}

SmtpClientSettings *
smtp_client_task_settings (SmtpClientTask *self)
{
  if (self->settings == NULL)
    self->settings = smtp_client_settings_new ();
  return self->settings;
}

const char *
smtp_client_task_log_text (SmtpClientTask *self)
{
  return self->log != NULL ? self->log->str : "";
}

/* smtpclient-task-object-private.h: the task's instance, shared by the
 * two halves of SmtpClientTask
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * smtpclient-task.c holds the object (properties, signals, getters),
 * smtpclient-task-delivery.c the sending (content, the delivery through a
 * session, the outcome).  Nothing else includes this: the session knows
 * transactions, never tasks.
 */

#pragma once

#include "smtpclient-enums.h"
#include "smtpclient-session.h"
#include "smtpclient-settings-private.h"
#include "smtpclient-task.h"
#include "smtpclient-transaction-private.h"

G_BEGIN_DECLS

struct _SmtpClientTask
{
  GObject                  parent_instance;

  /* Properties */
  SmtpClientSettings      *settings;     /* server, port, ...; NULL until
                                          * set or read: smtp_client_task_settings() */
  char                    *from;
  GStrv                    to;
  GBytes                  *body;
  guint                    debug;
  char                    *alias;
  GVariant                *context;
  GFile                   *message_file;
  GInputStream            *input_stream;
  gboolean                 transaction_log;
  gboolean                 allow_refused_recipients;
  gboolean                 binary_mime;
  gboolean                 require_tls;
  SmtpClientDsnNotify      dsn_notify;
  SmtpClientDsnReturn      dsn_return;
  char                    *dsn_envelope_id;
  SmtpClientSession       *session;

  /* Outcome */
  gboolean                 sent;
  GString                 *log;          /* NULL until a line is logged */
  guint                    reply_code;
  char                    *reply;
  GStrv                    refused;
  SmtpClientDeliveryState  delivery_state;
  guint                    attempts;
  GStrv                    recipients;        /* as sent */
  guint                   *recipient_codes;
  GStrv                    recipient_replies; /* "" for none */
  gint64                   started;           /* monotonic, send_async */
  gdouble                  timings[SMTP_CLIENT_N_TIMINGS];
  gdouble                  total;             /* seconds to the signal */
};

enum {
  PROP_0,
  PROP_FROM,
  PROP_TO,
  PROP_BODY,
  PROP_DEBUG,
  PROP_ALIAS,
  PROP_CONTEXT,
  PROP_MESSAGE_FILE,
  PROP_INPUT_STREAM,
  PROP_TRANSACTION_LOG,
  PROP_ALLOW_REFUSED_RECIPIENTS,
  PROP_BINARY_MIME,
  PROP_REQUIRE_TLS,
  PROP_DSN_NOTIFY,
  PROP_DSN_RETURN,
  PROP_DSN_ENVELOPE_ID,
  PROP_SESSION,
  PROP_DELIVERY_STATE,
  PROP_FIRST_SETTING,
  N_PROPS = PROP_FIRST_SETTING + N_SETTINGS_PROPS
};

enum {
  SIGNAL_SUCCEEDED,
  SIGNAL_FAILED,
  SIGNAL_PROGRESS,
  SIGNAL_ACCEPT_CERTIFICATE,
  N_SIGNALS
};

extern GParamSpec *smtp_client_task_properties[N_PROPS];
extern guint smtp_client_task_signals[N_SIGNALS];


/* The task's own connection settings, made with their defaults on
 * first use (a task sent through a session never needs them) */
SmtpClientSettings *smtp_client_task_settings (SmtpClientTask *self);

/* The transaction log so far: "" before any line */
const char         *smtp_client_task_log_text (SmtpClientTask *self);

G_END_DECLS

/* smtpclient-task.h: one message, one delivery
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(__SMTPCLIENT_INSIDE__) && !defined(SMTP_CLIENT_COMPILATION)
#error "Only <smtpclient/smtpclient.h> can be included directly."
#endif

#include <gio/gio.h>
#include "smtpclient-enums.h"
#include "smtpclient-version-macros.h"

G_BEGIN_DECLS

#define SMTP_CLIENT_TYPE_TASK (smtp_client_task_get_type ())

SMTP_CLIENT_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (SmtpClientTask, smtp_client_task, SMTP_CLIENT, TASK, GObject)

SMTP_CLIENT_AVAILABLE_IN_ALL
SmtpClientTask     *smtp_client_task_new                   (void);

SMTP_CLIENT_AVAILABLE_IN_ALL
void                smtp_client_task_send                  (SmtpClientTask      *task);

SMTP_CLIENT_AVAILABLE_IN_ALL
void                smtp_client_task_send_async            (SmtpClientTask      *task,
                                                            GCancellable        *cancellable,
                                                            GAsyncReadyCallback  callback,
                                                            gpointer             user_data);

SMTP_CLIENT_AVAILABLE_IN_ALL
gboolean            smtp_client_task_send_finish           (SmtpClientTask      *task,
                                                            GAsyncResult        *result,
                                                            GError             **error);

SMTP_CLIENT_AVAILABLE_IN_ALL
guint               smtp_client_task_get_reply_code        (SmtpClientTask      *task);

SMTP_CLIENT_AVAILABLE_IN_ALL
const char         *smtp_client_task_get_reply             (SmtpClientTask      *task);

SMTP_CLIENT_AVAILABLE_IN_ALL
const char * const *smtp_client_task_get_refused_recipients (SmtpClientTask     *task);

SMTP_CLIENT_AVAILABLE_IN_ALL
const char         *smtp_client_task_get_transaction_log   (SmtpClientTask      *task);

SMTP_CLIENT_AVAILABLE_IN_ALL
SmtpClientDeliveryState smtp_client_task_get_delivery_state (SmtpClientTask     *task);

SMTP_CLIENT_AVAILABLE_IN_ALL
guint               smtp_client_task_get_attempts          (SmtpClientTask      *task);

SMTP_CLIENT_AVAILABLE_IN_ALL
guint               smtp_client_task_get_recipient_reply_code (SmtpClientTask   *task,
                                                               const char       *address);

SMTP_CLIENT_AVAILABLE_IN_ALL
const char         *smtp_client_task_get_recipient_reply   (SmtpClientTask      *task,
                                                            const char          *address);

SMTP_CLIENT_AVAILABLE_IN_ALL
GVariant           *smtp_client_task_get_timings           (SmtpClientTask      *task);

G_END_DECLS

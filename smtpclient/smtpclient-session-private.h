/* smtpclient-session-private.h: what a task needs of its session
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "smtpclient-connection-private.h"
#include "smtpclient-session.h"

G_BEGIN_DECLS

/* A copy of the session's connection settings */
SmtpClientSettings *smtp_client_session_dup_settings (SmtpClientSession *session);

/* Queue @gtask (a task's send GTask, source object the SmtpClientTask)
 * for delivery of @transaction over one of the session's connections;
 * the session ends it with smtp_client_task_complete(). */
void     smtp_client_session_submit (SmtpClientSession     *session,
                                     GTask                 *gtask,
                                     SmtpClientTransaction *transaction);

/* Emit the session's accept-certificate signal */
gboolean smtp_client_session_accept_certificate (SmtpClientSession    *session,
                                                 GTlsCertificate      *certificate,
                                                 GTlsCertificateFlags  errors);

G_END_DECLS

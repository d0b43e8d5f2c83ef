/* smtpclient-task-private.h: what the session needs of a task
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "smtpclient-connection-private.h"
#include "smtpclient-task.h"

G_BEGIN_DECLS

/* Route @connection's log and certificate questions to the task */
void smtp_client_task_attach_connection (SmtpClientTask       *task,
                                         SmtpClientConnection *connection);

/* End a delivery the session ran: emit the signal and return the GTask
 * (the one smtp_client_session_submit() was given).  @error: transfer
 * full, NULL for success. */
void smtp_client_task_complete (GTask  *gtask,
                                GError *error);

G_END_DECLS

/* smtpclient-session.h: many messages over reused connections
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(__SMTPCLIENT_INSIDE__) && !defined(SMTP_CLIENT_COMPILATION)
#error "Only <smtpclient/smtpclient.h> can be included directly."
#endif

#include <gio/gio.h>
#include "smtpclient-version-macros.h"

G_BEGIN_DECLS

#define SMTP_CLIENT_TYPE_SESSION (smtp_client_session_get_type ())

SMTP_CLIENT_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (SmtpClientSession, smtp_client_session, SMTP_CLIENT, SESSION, GObject)

SMTP_CLIENT_AVAILABLE_IN_ALL
SmtpClientSession *smtp_client_session_new          (void);

SMTP_CLIENT_AVAILABLE_IN_ALL
void               smtp_client_session_new_for_domain_async  (const char          *domain,
                                                              GCancellable        *cancellable,
                                                              GAsyncReadyCallback  callback,
                                                              gpointer             user_data);

SMTP_CLIENT_AVAILABLE_IN_ALL
SmtpClientSession *smtp_client_session_new_for_domain_finish (GAsyncResult        *result,
                                                              GError             **error);

SMTP_CLIENT_AVAILABLE_IN_ALL
GVariant          *smtp_client_session_get_statistics (SmtpClientSession *session);

SMTP_CLIENT_AVAILABLE_IN_ALL
void               smtp_client_session_close_async  (SmtpClientSession   *session,
                                                     GCancellable        *cancellable,
                                                     GAsyncReadyCallback  callback,
                                                     gpointer             user_data);

SMTP_CLIENT_AVAILABLE_IN_ALL
gboolean           smtp_client_session_close_finish (SmtpClientSession   *session,
                                                     GAsyncResult        *result,
                                                     GError             **error);

G_END_DECLS

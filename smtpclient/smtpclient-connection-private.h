/* smtpclient-connection-private.h: the SMTP protocol engine on one socket
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A connection is opened once (connect, greeting, EHLO/HELO, STARTTLS,
 * AUTH), carries any number of transactions (MAIL, RCPT..., DATA, content)
 * one after the other, and is closed with QUIT.  Everything runs on the
 * thread-default main context of the caller, with GIO's async calls only.
 */

#pragma once

#include <gio/gio.h>

#include "smtpclient-enums.h"
#include "smtpclient-reply-private.h"

G_BEGIN_DECLS

/* Connection settings, shared by the task and the session (same property
 * names).  Immutable once handed to a connection: copied with _ref. */
typedef struct
{
  gatomicrefcount     ref_count;
  char               *server;
  guint               port;           /* 0: the default for @security */
  guint               timeout;        /* seconds, 0: none */
  char               *my_hostname;
  char               *bind_address;
  guint               bind_port;
  SmtpClientSecurity  security;
  gboolean            allow_insecure_auth;
  char               *auth_mechanism;
  char               *auth_user;
  char               *auth_password;
  GTlsDatabase       *tls_database;
  GTlsCertificate    *tls_certificate;
  GProxyResolver     *proxy_resolver;
  guint               debug;
  char               *alias;
} SmtpClientSettings;

SmtpClientSettings *smtp_client_settings_new   (void);
SmtpClientSettings *smtp_client_settings_ref   (SmtpClientSettings *settings);
SmtpClientSettings *smtp_client_settings_copy  (const SmtpClientSettings *settings);
void                smtp_client_settings_unref (SmtpClientSettings *settings);
guint               smtp_client_settings_get_port (const SmtpClientSettings *settings);
/* Checks what can be checked before connecting (mechanism known, user with
 * password, no credentials over plain TCP unless allowed).  */
gboolean            smtp_client_settings_validate (const SmtpClientSettings *settings,
                                                   GError                  **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmtpClientSettings, smtp_client_settings_unref)

/* The connection properties shared by SmtpClientTask and SmtpClientSession:
 * installed with ids first_prop_id + SETTINGS_PROP_*. */
typedef enum
{
  SETTINGS_PROP_SERVER,
  SETTINGS_PROP_PORT,
  SETTINGS_PROP_TIMEOUT,
  SETTINGS_PROP_MY_HOSTNAME,
  SETTINGS_PROP_BIND_ADDRESS,
  SETTINGS_PROP_BIND_PORT,
  SETTINGS_PROP_SECURITY,
  SETTINGS_PROP_ALLOW_INSECURE_AUTH,
  SETTINGS_PROP_AUTH_MECHANISM,
  SETTINGS_PROP_AUTH_USER,
  SETTINGS_PROP_AUTH_PASSWORD,
  SETTINGS_PROP_TLS_DATABASE,
  SETTINGS_PROP_TLS_CERTIFICATE,
  SETTINGS_PROP_PROXY_RESOLVER,
  N_SETTINGS_PROPS
} SmtpClientSettingsProp;

void     smtp_client_settings_install_properties (GObjectClass  *klass,
                                                  guint          first_prop_id,
                                                  GParamSpec   **pspecs);
/* TRUE if the value changed (the caller notifies) */
gboolean smtp_client_settings_set_property (SmtpClientSettings *settings,
                                            guint               index,
                                            const GValue       *value);
void     smtp_client_settings_get_property (const SmtpClientSettings *settings,
                                            guint                     index,
                                            GValue                   *value);

/* Called from the TLS handshake when the server's certificate did not
 * verify: TRUE to accept it anyway. */
typedef gboolean (*SmtpClientAcceptCertificateFunc) (GTlsCertificate      *certificate,
                                                     GTlsCertificateFlags  errors,
                                                     gpointer              user_data);

/* Reports what is said on the wire, one line at a time, already redacted:
 * "<- 250 ok", "-> MAIL FROM:<a@b>", "-> [message: 12 bytes]". */
typedef void (*SmtpClientLogFunc) (const char *line,
                                   gpointer    user_data);

/* Reports content upload: input bytes consumed so far, total (0 unknown). */
typedef void (*SmtpClientProgressFunc) (guint64  bytes_sent,
                                        guint64  bytes_total,
                                        gpointer user_data);

/* One mail transaction. */
typedef struct
{
  /* in */
  const char             *from;          /* "" for the null reverse path */
  const char * const     *recipients;
  GInputStream           *content;
  guint64                 content_size;  /* 0 when unknown; else the
                                          * content ends there */
  gboolean                content_is_7bit; /* known to have no 8-bit byte */
  gboolean                allow_refused_recipients;
  guint                   dsn_notify;    /* SmtpClientDsnNotify */
  guint                   dsn_return;    /* SmtpClientDsnReturn */
  const char             *dsn_envelope_id;
  SmtpClientProgressFunc  progress_func;
  gpointer                progress_data;
  /* out */
  guint                   reply_code;    /* last reply's code */
  char                   *reply;         /* last reply, as on the wire */
  GPtrArray              *refused;       /* of char*, refused recipients */
  /* Set on failure when the server answered none of its commands and the
   * end of its data never went out, because the connection was lost (or
   * was already closed): nothing can have been delivered, so it may be
   * tried again over another connection. */
  gboolean                may_retry;
  /* Some of its commands went out (FALSE: it never left the queue) */
  gboolean                started;
} SmtpClientTransaction;

void smtp_client_transaction_clear (SmtpClientTransaction *transaction);

#define SMTP_CLIENT_TYPE_CONNECTION (smtp_client_connection_get_type ())
G_DECLARE_FINAL_TYPE (SmtpClientConnection, smtp_client_connection,
                      SMTP_CLIENT, CONNECTION, GObject)

SmtpClientConnection *smtp_client_connection_new (SmtpClientSettings *settings);

void     smtp_client_connection_set_log_func (SmtpClientConnection *self,
                                              SmtpClientLogFunc     func,
                                              gpointer              user_data);
void     smtp_client_connection_set_accept_certificate_func (SmtpClientConnection            *self,
                                                             SmtpClientAcceptCertificateFunc  func,
                                                             gpointer                         user_data);

/* The last reply seen on this connection (code 0 when none). */
guint       smtp_client_connection_get_reply_code (SmtpClientConnection *self);
const char *smtp_client_connection_get_reply      (SmtpClientConnection *self);

/* TRUE while the connection is open, idle (no operation and no
 * transaction in progress) and healthy (no timeout, no broken reply, no
 * abort). */
gboolean smtp_client_connection_is_reusable (SmtpClientConnection *self);

/* Connect, read the greeting, EHLO (HELO fallback), STARTTLS and EHLO again
 * when the settings ask for it, AUTH when credentials are set. */
void     smtp_client_connection_open_async  (SmtpClientConnection *self,
                                             GCancellable         *cancellable,
                                             GAsyncReadyCallback   callback,
                                             gpointer              user_data);
gboolean smtp_client_connection_open_finish (SmtpClientConnection *self,
                                             GAsyncResult         *result,
                                             GError              **error);

/* How many transactions a connection carries at once with PIPELINING: the
 * one on the wire; the next one, whose envelope went out in the same write
 * as the end of the first one's content (RFC 2920 §3.1); and one more,
 * ready to go out with the end of the next one's content while the caller
 * is still being told about the first.  Without PIPELINING, one. */
#define SMTP_CLIENT_CONNECTION_MAX_TRANSACTIONS 3

/* TRUE when the connection is open and healthy, no open or QUIT is in
 * progress, and it takes another transaction now: it has none, or fewer
 * than SMTP_CLIENT_CONNECTION_MAX_TRANSACTIONS and the server offers
 * PIPELINING. */
gboolean smtp_client_connection_can_transact (SmtpClientConnection *self);

/* MAIL, RCPT..., DATA, the content and the final reply.  @transaction must
 * stay valid until the callback; its out fields are filled in either way.
 * After a failure that leaves the server mid-transaction but the
 * connection healthy, the transaction is reset with RSET.
 *
 * Transactions may be handed over while earlier ones are in progress (see
 * smtp_client_connection_can_transact()); they are carried out in order,
 * each completing with its own callback.  Each one's lines go to the log
 * function set when it was handed over.  When the connection fails, every
 * transaction on it fails: the oldest with the error, the others with
 * G_IO_ERROR_CONNECTION_CLOSED (see may_retry).  Cancelling @cancellable
 * takes a transaction that has sent nothing out of the queue; one already
 * on the wire is abandoned by closing the connection. */
void     smtp_client_connection_transact_async  (SmtpClientConnection  *self,
                                                 SmtpClientTransaction *transaction,
                                                 GCancellable          *cancellable,
                                                 GAsyncReadyCallback    callback,
                                                 gpointer               user_data);
gboolean smtp_client_connection_transact_finish (SmtpClientConnection *self,
                                                 GAsyncResult         *result,
                                                 GError              **error);

/* Send QUIT, read its reply (errors ignored) and close. */
void     smtp_client_connection_quit_async  (SmtpClientConnection *self,
                                             GCancellable         *cancellable,
                                             GAsyncReadyCallback   callback,
                                             gpointer              user_data);
gboolean smtp_client_connection_quit_finish (SmtpClientConnection *self,
                                             GAsyncResult         *result,
                                             GError              **error);

/* Close the socket at once, no QUIT (aborts a transaction in progress). */
void     smtp_client_connection_abort (SmtpClientConnection *self);

G_END_DECLS

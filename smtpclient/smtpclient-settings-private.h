/* smtpclient-settings-private.h: connection settings shared by the task and
 * the session
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

#include "smtpclient-enums.h"

G_BEGIN_DECLS

/* Connection settings, shared by the task and the session (same property
 * names).  Immutable once handed to a connection: shared with _ref. */
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
  char               *auth_password;  /* wiped when freed or replaced */
  GTlsDatabase       *tls_database;
  GTlsCertificate    *tls_certificate;
  GProxyResolver     *proxy_resolver;
  guint               max_retries;
  guint               retry_delay;    /* milliseconds */
  SmtpClientProtocol  protocol;
  gboolean            chunking;       /* BDAT when offered */
  /* Not a property: the name the server's certificate must match when it
   * is not the server's (SRV discovery, RFC 6186 §6); NULL: the server */
  char               *tls_name;
} SmtpClientSettings;

SmtpClientSettings *smtp_client_settings_new   (void);
SmtpClientSettings *smtp_client_settings_ref   (SmtpClientSettings *settings);
SmtpClientSettings *smtp_client_settings_copy  (const SmtpClientSettings *settings);
void                smtp_client_settings_unref (SmtpClientSettings *settings);
guint               smtp_client_settings_get_port (const SmtpClientSettings *settings);
/* TRUE when the server is an absolute path: a Unix domain socket */
gboolean            smtp_client_settings_is_unix_socket (const SmtpClientSettings *settings);
/* Checks what can be checked before connecting (mechanism known, user with
 * password, no credentials over plain TCP unless allowed). */
gboolean            smtp_client_settings_validate (const SmtpClientSettings  *settings,
                                                   GError                   **error);

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
  SETTINGS_PROP_MAX_RETRIES,
  SETTINGS_PROP_RETRY_DELAY,
  SETTINGS_PROP_PROTOCOL,
  SETTINGS_PROP_CHUNKING,
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

G_END_DECLS

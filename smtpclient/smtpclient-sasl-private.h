/* smtpclient-sasl-private.h: SASL client mechanisms (pure, no sockets)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Mechanisms: PLAIN (RFC 4616), LOGIN, CRAM-MD5 (RFC 2195), XOAUTH2,
 * OAUTHBEARER (RFC 7628), SCRAM-SHA-1 (RFC 5802), SCRAM-SHA-256 (RFC 7677)
 * and their -PLUS forms with channel binding (RFC 5929, RFC 9266).
 * Built on GLib only (GChecksum, GHmac, g_base64_*).  Challenges and
 * responses are exchanged base64-encoded, as they are on the SMTP wire
 * (RFC 4954).
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _SmtpClientSasl SmtpClientSasl;

/* Secrets: overwritten before they are freed, in a way the compiler does
 * not optimise away.  Used for credentials and every buffer that held
 * them, here and in the engine. */
void            smtp_client_secret_wipe        (gpointer  data,
                                                gsize     length);
/* Wipe up to the NUL and free; NULL is fine */
void            smtp_client_secret_free        (char     *text);
/* Wipe the whole allocation and free */
void            smtp_client_secret_free_string (GString  *string);

/* TRUE if @mechanism (any case) is one we implement */
gboolean        smtp_client_sasl_is_supported (const char *mechanism);

/* Choose the strongest of @offered (server's AUTH list) that fits the
 * credentials, or NULL.  Order: SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5,
 * PLAIN, LOGIN.  XOAUTH2 and OAUTHBEARER take an access token rather than
 * a password, so they are never chosen automatically. */
const char     *smtp_client_sasl_choose (const char *const *offered);
/* The same, preferring SCRAM-SHA-256-PLUS and SCRAM-SHA-1-PLUS when
 * @can_bind (a TLS connection whose channel binding data is at hand) */
const char     *smtp_client_sasl_choose_bound (const char *const *offered,
                                               gboolean           can_bind);

/* @mechanism: one that smtp_client_sasl_is_supported() accepts;
 * @user, @password: UTF-8, non-NULL (for XOAUTH2/OAUTHBEARER the password
 * is the access token); @host, @port: the server, for OAUTHBEARER's
 * host/port fields.  Returns NULL with SMTP_CLIENT_ERROR_CONFIGURE if the
 * mechanism is unknown or the credentials cannot be used with it (for
 * example a NUL or a byte sequence that is not UTF-8). */
SmtpClientSasl *smtp_client_sasl_new (const char  *mechanism,
                                      const char  *user,
                                      const char  *password,
                                      const char  *host,
                                      guint        port,
                                      GError     **error);
void            smtp_client_sasl_free (SmtpClientSasl *sasl);

/* The TLS connection's channel binding (@type: "tls-exporter" or
 * "tls-server-end-point", with its data): a -PLUS mechanism needs it;
 * with it, the other SCRAM mechanisms say "y" (could bind, the server
 * offered no -PLUS) */
void            smtp_client_sasl_set_channel_binding (SmtpClientSasl *sasl,
                                                      const char     *type,
                                                      GBytes         *data);

/* The mechanism's canonical (upper-case) name */
const char     *smtp_client_sasl_get_mechanism (SmtpClientSasl *sasl);

/* The initial response for "AUTH MECH <initial-response>", base64, newly
 * allocated; "=" for an empty initial response; NULL when the mechanism
 * starts without one (LOGIN, CRAM-MD5). */
char           *smtp_client_sasl_get_initial_response (SmtpClientSasl *sasl);

/* Answer a 334 challenge (@challenge: the base64 text after "334 ",
 * possibly empty).  On success *@response is the base64 response to send
 * (possibly "" for an empty response).  Returns FALSE with
 * SMTP_CLIENT_ERROR_AUTH_FAILED when the challenge is malformed or proves
 * the server wrong (SCRAM: bad nonce, forged server signature, iteration
 * count too low; XOAUTH2/OAUTHBEARER: an error JSON, in which case
 * *@response is still set to the response the RFC requires — "" for
 * XOAUTH2, "AQ==" (a single 0x01) for OAUTHBEARER — and the error message
 * names the server's status). */
gboolean        smtp_client_sasl_step (SmtpClientSasl *sasl,
                                       const char     *challenge,
                                       char          **response,
                                       GError        **error);

/* Called when the server says 235: FALSE with SMTP_CLIENT_ERROR_AUTH_FAILED
 * if the mechanism has not authenticated the server yet (SCRAM without a
 * verified server signature). */
gboolean        smtp_client_sasl_check_success (SmtpClientSasl *sasl,
                                                GError        **error);

/* For tests only: the client nonce SCRAM uses (base64-ish printable, no
 * ','); by default 24 random bytes from g_random. */
void            smtp_client_sasl_set_nonce (SmtpClientSasl *sasl,
                                            const char     *nonce);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmtpClientSasl, smtp_client_sasl_free)

G_END_DECLS

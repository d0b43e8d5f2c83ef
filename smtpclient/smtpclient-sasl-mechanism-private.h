/* smtpclient-sasl-mechanism-private.h: what the SASL mechanism families
 * share (smtpclient-sasl*.c only)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * smtpclient-sasl.c holds the table of mechanisms, the entry points and
 * the simple mechanisms (PLAIN, LOGIN, CRAM-MD5); smtpclient-sasl-scram.c
 * the SCRAM family, smtpclient-sasl-oauth.c XOAUTH2 and OAUTHBEARER.
 */

#pragma once

#include "smtpclient-sasl-private.h"

G_BEGIN_DECLS

/* PBKDF2 work a server may ask of us (RFC 5802 iteration count) */
#define SCRAM_MIN_ITERATIONS 1
#define SCRAM_MAX_ITERATIONS 1000000

#define SCRAM_NONCE_BYTES 24

/* The longest digest we use: SHA-256 */
#define MAX_DIGEST_LENGTH 32

/* Longest piece of server text (status, error) quoted in a message */
#define MAX_QUOTED_LENGTH 64

typedef enum
{
  MECHANISM_SCRAM_SHA_256_PLUS,
  MECHANISM_SCRAM_SHA_1_PLUS,
  MECHANISM_SCRAM_SHA_256,
  MECHANISM_SCRAM_SHA_1,
  MECHANISM_CRAM_MD5,
  MECHANISM_PLAIN,
  MECHANISM_LOGIN,
  MECHANISM_XOAUTH2,
  MECHANISM_OAUTHBEARER,
} Mechanism;

struct _SmtpClientSasl
{
  Mechanism mechanism;
  char     *user;
  char     *password;      /* the access token for XOAUTH2/OAUTHBEARER */
  char     *host;          /* nullable */
  guint     port;

  guint     n_challenges;  /* challenges answered (successfully) so far */
  gboolean  failed;        /* a step failed: the exchange is over */

  /* SCRAM */
  char     *nonce;               /* client nonce */
  char     *client_first_bare;   /* "n=user,r=nonce", once sent */
  gboolean  awaiting_final;      /* client-final sent */
  guint8    server_signature[MAX_DIGEST_LENGTH];
  gboolean  server_verified;     /* server-final matched server_signature */
  /* Channel binding (RFC 5929, RFC 9266): the type's name and the TLS
   * connection's data; NULL when the connection is not TLS */
  char     *binding_type;
  GBytes   *binding_data;
};

/* Shared helpers (smtpclient-sasl.c) */
gboolean sasl_is_printable_no_comma    (const char *text,
                                        gsize       length);
char    *sasl_quote_text               (const char *text,
                                        gsize       length);
void     sasl_append_saslname          (GString    *out,
                                        const char *name);
char    *sasl_encode_base64            (const char *data,
                                        gsize       length);
void     sasl_set_malformed_error      (GError    **error);
void     sasl_set_unexpected_error     (GError    **error);
guint8  *sasl_decode_challenge         (const char *challenge,
                                        gsize      *length);
char    *sasl_decode_challenge_text    (const char *challenge,
                                        gsize      *length,
                                        GError    **error);
gboolean sasl_is_empty_challenge       (const char *challenge);

/* SCRAM (smtpclient-sasl-scram.c) */
gboolean sasl_is_scram                 (Mechanism   mechanism);
gboolean sasl_is_scram_plus            (Mechanism   mechanism);
char    *sasl_scram_client_first       (SmtpClientSasl  *sasl);
gboolean sasl_scram_step               (SmtpClientSasl  *sasl,
                                        const char      *challenge,
                                        char           **response,
                                        GError         **error);

/* XOAUTH2, OAUTHBEARER (smtpclient-sasl-oauth.c) */
char    *sasl_xoauth2_initial_response     (SmtpClientSasl  *sasl);
char    *sasl_oauthbearer_initial_response (SmtpClientSasl  *sasl);
gboolean sasl_oauth_step                   (SmtpClientSasl  *sasl,
                                            const char      *challenge,
                                            char           **response,
                                            GError         **error);
/* The "status" member of an RFC 7628 §3.2.2 error object, quoted for a
 * message; NULL when there is none (exposed for the fuzzer) */
char    *sasl_oauth_find_status            (const char      *json,
                                            gsize            length);

G_END_DECLS

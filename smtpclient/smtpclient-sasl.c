/* smtpclient-sasl.c: SASL client mechanisms (pure, no sockets)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each mechanism is a small state machine driven by smtp_client_sasl_step()
 * with the server's 334 challenges; challenges and responses are base64
 * text, as on the wire (RFC 4954).
 *
 * The mechanisms that speak first (PLAIN, XOAUTH2, OAUTHBEARER, SCRAM) give
 * their first message as the initial response; if the caller does not send
 * it, the server answers "AUTH MECH" with an empty challenge, and the first
 * empty challenge is answered with that same message.
 *
 * SCRAM (RFC 5802, RFC 7677) uses the password as its UTF-8 bytes: SASLprep
 * (RFC 4013) is not applied, so only passwords that SASLprep leaves as they
 * are (for example printable ASCII) are guaranteed to authenticate against
 * every server.  The client nonce comes from g_random.
 *
 * Secrets (the password, the salted password, the keys, and every buffer
 * that held them) are overwritten before they are freed.  Copies that GLib
 * makes inside GHmac and GChecksum are out of our reach.  Nothing here
 * logs.
 */

#include "config.h"

#include <string.h>

#include "smtpclient-private.h"
#include "smtpclient-error.h"
#include "smtpclient-sasl-private.h"

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
  MECHANISM_SCRAM_SHA_256,
  MECHANISM_SCRAM_SHA_1,
  MECHANISM_CRAM_MD5,
  MECHANISM_PLAIN,
  MECHANISM_LOGIN,
  MECHANISM_XOAUTH2,
  MECHANISM_OAUTHBEARER,
} Mechanism;

/* In order of preference for smtp_client_sasl_choose() */
static const struct
{
  const char *name;
  gboolean    uses_password;
} mechanisms[] = {
  [MECHANISM_SCRAM_SHA_256] = { "SCRAM-SHA-256", TRUE },
  [MECHANISM_SCRAM_SHA_1] = { "SCRAM-SHA-1", TRUE },
  [MECHANISM_CRAM_MD5] = { "CRAM-MD5", TRUE },
  [MECHANISM_PLAIN] = { "PLAIN", TRUE },
  [MECHANISM_LOGIN] = { "LOGIN", TRUE },
  [MECHANISM_XOAUTH2] = { "XOAUTH2", FALSE },
  [MECHANISM_OAUTHBEARER] = { "OAUTHBEARER", FALSE },
};

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
};

/* memset through a volatile pointer: a plain memset right before free()
 * is a dead store the compiler may remove. */
static void *(*const volatile wipe_memset) (void *, int, size_t) = memset;

static void
wipe (void  *data,
      gsize  length)
{
  if (data != NULL && length > 0)
    wipe_memset (data, 0, length);
}

static void
wipe_and_free (char *text)
{
  if (text != NULL)
    {
      wipe (text, strlen (text));
      g_free (text);
    }
}

static void
wipe_string (GString *string)
{
  wipe (string->str, string->allocated_len);
  g_string_free (string, TRUE);
}

static gboolean
lookup_mechanism (const char *name,
                  Mechanism  *mechanism)
{
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (mechanisms); i++)
    {
      if (g_ascii_strcasecmp (name, mechanisms[i].name) == 0)
        {
          *mechanism = (Mechanism) i;
          return TRUE;
        }
    }
  return FALSE;
}

static gboolean
is_scram (Mechanism mechanism)
{
  return mechanism == MECHANISM_SCRAM_SHA_1
         || mechanism == MECHANISM_SCRAM_SHA_256;
}

static gboolean
has_control_character (const char *text)
{
  for (; *text != '\0'; text++)
    {
      if ((guchar) *text < 0x20 || *text == 0x7f)
        return TRUE;
    }
  return FALSE;
}

/* RFC 5802 printable, as a nonce must be: %x21-2B / %x2D-7E */
static gboolean
is_printable_no_comma (const char *text,
                       gsize       length)
{
  gsize i;

  for (i = 0; i < length; i++)
    {
      if (text[i] < 0x21 || text[i] > 0x7e || text[i] == ',')
        return FALSE;
    }
  return TRUE;
}

/* Text (usually the server's) made safe to quote in an error message:
 * printable ASCII only, bounded length. */
static char *
quote_text (const char *text,
                   gsize       length)
{
  GString *quoted = g_string_sized_new (MIN (length, MAX_QUOTED_LENGTH) + 3);
  gsize i;

  for (i = 0; i < length && i < MAX_QUOTED_LENGTH; i++)
    {
      char c = text[i];

      g_string_append_c (quoted, (c >= 0x20 && c <= 0x7e) ? c : '?');
    }
  if (length > MAX_QUOTED_LENGTH)
    g_string_append (quoted, "...");

  return g_string_free (quoted, FALSE);
}

/* RFC 5802 saslname (also the authzid of RFC 5801): ',' and '=' escaped */
static void
append_saslname (GString    *out,
                 const char *name)
{
  for (; *name != '\0'; name++)
    {
      if (*name == ',')
        g_string_append (out, "=2C");
      else if (*name == '=')
        g_string_append (out, "=3D");
      else
        g_string_append_c (out, *name);
    }
}

static char *
encode_base64 (const char *data,
               gsize       length)
{
  if (length == 0)
    return g_strdup ("");
  return g_base64_encode ((const guchar *) data, length);
}

static void
set_malformed_error (GError **error)
{
  g_set_error_literal (error, SMTP_CLIENT_ERROR,
                       SMTP_CLIENT_ERROR_AUTH_FAILED,
                       _("The server sent a malformed authentication "
                         "challenge"));
}

static void
set_unexpected_error (GError **error)
{
  g_set_error_literal (error, SMTP_CLIENT_ERROR,
                       SMTP_CLIENT_ERROR_AUTH_FAILED,
                       _("The server sent an unexpected authentication "
                         "challenge"));
}

/* Strict base64 (RFC 4648 §4 alphabet, padded) of @challenge, surrounding
 * blanks ignored, decoded and NUL-terminated.  NULL if malformed. */
static guint8 *
decode_challenge (const char *challenge,
                  gsize      *length)
{
  const char *start = challenge;
  const char *end = challenge + strlen (challenge);
  gsize n;
  gsize i;
  gsize padding = 0;
  gint state = 0;
  guint save = 0;
  guint8 *decoded;

  while (start < end && g_ascii_isspace (*start))
    start++;
  while (end > start && g_ascii_isspace (end[-1]))
    end--;
  n = (gsize) (end - start);

  if (n % 4 != 0)
    return NULL;
  for (i = 0; i < n; i++)
    {
      char c = start[i];

      if (c == '=')
        {
          if (i + 2 < n)
            return NULL;
          padding++;
        }
      else if (padding > 0
               || !(g_ascii_isalnum (c) || c == '+' || c == '/'))
        {
          return NULL;
        }
    }

  decoded = g_malloc (n / 4 * 3 + 1);
  *length = g_base64_decode_step (start, n, decoded, &state, &save);
  decoded[*length] = '\0';

  return decoded;
}

/* The challenge decoded as text: no NUL inside */
static char *
decode_challenge_text (const char *challenge,
                       gsize      *length,
                       GError    **error)
{
  guint8 *decoded = decode_challenge (challenge, length);

  if (decoded == NULL || memchr (decoded, '\0', *length) != NULL)
    {
      g_free (decoded);
      set_malformed_error (error);
      return NULL;
    }
  return (char *) decoded;
}

static gboolean
is_empty_challenge (const char *challenge)
{
  for (; *challenge != '\0'; challenge++)
    {
      if (!g_ascii_isspace (*challenge))
        return FALSE;
    }
  return TRUE;
}

gboolean
smtp_client_sasl_is_supported (const char *mechanism)
{
  Mechanism unused;

  g_return_val_if_fail (mechanism != NULL, FALSE);

  return lookup_mechanism (mechanism, &unused);
}

const char *
smtp_client_sasl_choose (const char *const *offered)
{
  gsize i;

  if (offered == NULL)
    return NULL;

  for (i = 0; i < G_N_ELEMENTS (mechanisms); i++)
    {
      gsize j;

      if (!mechanisms[i].uses_password)
        continue;

      for (j = 0; offered[j] != NULL; j++)
        {
          if (g_ascii_strcasecmp (offered[j], mechanisms[i].name) == 0)
            return mechanisms[i].name;
        }
    }
  return NULL;
}

SmtpClientSasl *
smtp_client_sasl_new (const char  *mechanism,
                      const char  *user,
                      const char  *password,
                      const char  *host,
                      guint        port,
                      GError     **error)
{
  SmtpClientSasl *sasl;
  Mechanism id;

  g_return_val_if_fail (mechanism != NULL, NULL);
  g_return_val_if_fail (user != NULL, NULL);
  g_return_val_if_fail (password != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  smtp_client_init_i18n ();

  if (!lookup_mechanism (mechanism, &id))
    {
      g_autofree char *quoted = quote_text (mechanism, strlen (mechanism));

      g_set_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE,
                   _("Unsupported authentication mechanism “%s”"), quoted);
      return NULL;
    }

  if (!g_utf8_validate (user, -1, NULL)
      || !g_utf8_validate (password, -1, NULL))
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR,
                           SMTP_CLIENT_ERROR_CONFIGURE,
                           _("The user name and the password must be "
                             "valid UTF-8"));
      return NULL;
    }

  if (*user == '\0' || *password == '\0')
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR,
                           SMTP_CLIENT_ERROR_CONFIGURE,
                           _("The user name and the password must not be "
                             "empty"));
      return NULL;
    }

  /* The OAuth mechanisms separate their fields with control characters */
  if (!mechanisms[id].uses_password
      && (has_control_character (user) || has_control_character (password)
          || (host != NULL && has_control_character (host))))
    {
      g_set_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE,
                   _("The user name, the access token and the host name "
                     "cannot contain control characters for %s"),
                   mechanisms[id].name);
      return NULL;
    }

  sasl = g_new0 (SmtpClientSasl, 1);
  sasl->mechanism = id;
  sasl->user = g_strdup (user);
  sasl->password = g_strdup (password);
  sasl->host = g_strdup (host);
  sasl->port = port;

  return sasl;
}

void
smtp_client_sasl_free (SmtpClientSasl *sasl)
{
  if (sasl == NULL)
    return;

  wipe_and_free (sasl->user);
  wipe_and_free (sasl->password);
  g_free (sasl->host);
  wipe_and_free (sasl->nonce);
  wipe_and_free (sasl->client_first_bare);
  wipe (sasl, sizeof *sasl);
  g_free (sasl);
}

const char *
smtp_client_sasl_get_mechanism (SmtpClientSasl *sasl)
{
  g_return_val_if_fail (sasl != NULL, NULL);

  return mechanisms[sasl->mechanism].name;
}

void
smtp_client_sasl_set_nonce (SmtpClientSasl *sasl,
                            const char     *nonce)
{
  g_return_if_fail (sasl != NULL);
  g_return_if_fail (nonce != NULL && *nonce != '\0');
  g_return_if_fail (is_printable_no_comma (nonce, strlen (nonce)));
  g_return_if_fail (sasl->client_first_bare == NULL);

  g_free (sasl->nonce);
  sasl->nonce = g_strdup (nonce);
}

/* --- PLAIN, XOAUTH2, OAUTHBEARER: one message from the client --- */

static char *
plain_initial_response (SmtpClientSasl *sasl)
{
  /* RFC 4616: authzid (empty) NUL authcid NUL passwd */
  GString *message = g_string_new (NULL);
  char *response;

  g_string_append_c (message, '\0');
  g_string_append (message, sasl->user);
  g_string_append_c (message, '\0');
  g_string_append (message, sasl->password);

  response = encode_base64 (message->str, message->len);
  wipe_string (message);
  return response;
}

static char *
xoauth2_initial_response (SmtpClientSasl *sasl)
{
  GString *message = g_string_new ("user=");
  char *response;

  g_string_append (message, sasl->user);
  g_string_append (message, "\001auth=Bearer ");
  g_string_append (message, sasl->password);
  g_string_append (message, "\001\001");

  response = encode_base64 (message->str, message->len);
  wipe_string (message);
  return response;
}

static char *
oauthbearer_initial_response (SmtpClientSasl *sasl)
{
  /* RFC 7628 §3.1: gs2-header with the authzid, then key=value pairs */
  GString *message = g_string_new ("n,a=");
  char *response;

  append_saslname (message, sasl->user);
  g_string_append_c (message, ',');
  if (sasl->host != NULL && *sasl->host != '\0')
    g_string_append_printf (message, "\001host=%s", sasl->host);
  if (sasl->port != 0)
    g_string_append_printf (message, "\001port=%u", sasl->port);
  g_string_append (message, "\001auth=Bearer ");
  g_string_append (message, sasl->password);
  g_string_append (message, "\001\001");

  response = encode_base64 (message->str, message->len);
  wipe_string (message);
  return response;
}

/* Skip a JSON string starting at the quote @p; returns the position after
 * the closing quote, or NULL if it does not end. */
static const char *
json_skip_string (const char *p,
                  const char *end)
{
  for (p++; p < end; p++)
    {
      if (*p == '\\')
        p++;
      else if (*p == '"')
        return p + 1;
    }
  return NULL;
}

static const char *
json_skip_blanks (const char *p,
                  const char *end)
{
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    p++;
  return p;
}

/* Skip any JSON value at @p (string, object, array, number, literal);
 * NULL if malformed. */
static const char *
json_skip_value (const char *p,
                 const char *end)
{
  gsize depth = 0;

  do
    {
      if (p >= end)
        return NULL;
      if (*p == '"')
        {
          p = json_skip_string (p, end);
          if (p == NULL)
            return NULL;
          continue;
        }
      if (*p == '{' || *p == '[')
        depth++;
      else if (*p == '}' || *p == ']')
        {
          if (depth == 0)
            return NULL;
          depth--;
        }
      else if (depth == 0 && (*p == ',' || *p == ' ' || *p == '\t'
                              || *p == '\r' || *p == '\n'))
        {
          return p;
        }
      p++;
    }
  while (depth > 0 || (p < end && *p != ',' && *p != '}'));

  return p;
}

/* The value of the top-level "status" member of the error object of
 * RFC 7628 §3.2.2 (XOAUTH2 sends the same shape), quoted for a message;
 * NULL if there is none.  A lenient reader: it only has to find one
 * member of a small object. */
static char *
json_find_status (const char *json,
                  gsize       length)
{
  const char *end = json + length;
  const char *p = json_skip_blanks (json, end);

  if (p >= end || *p != '{')
    return NULL;
  p++;

  for (;;)
    {
      const char *key;
      const char *value;
      gboolean is_status;

      p = json_skip_blanks (p, end);
      if (p >= end || *p != '"')
        return NULL;
      key = p;
      p = json_skip_string (p, end);
      if (p == NULL)
        return NULL;
      is_status = (p - key == 8 && memcmp (key, "\"status\"", 8) == 0);

      p = json_skip_blanks (p, end);
      if (p >= end || *p != ':')
        return NULL;
      p = json_skip_blanks (p + 1, end);
      value = p;
      p = json_skip_value (p, end);
      if (p == NULL)
        return NULL;

      if (is_status)
        {
          if (*value == '"' && p - value >= 2)
            return quote_text (value + 1, (gsize) (p - value - 2));
          return quote_text (value, (gsize) (p - value));
        }

      p = json_skip_blanks (p, end);
      if (p >= end || *p != ',')
        return NULL;
      p++;
    }
}

/* XOAUTH2 / OAUTHBEARER: any challenge after the initial response is the
 * server's error report; the answer that ends the exchange is fixed. */
static gboolean
oauth_step_error (SmtpClientSasl  *sasl,
                  const char      *challenge,
                  char           **response,
                  GError         **error)
{
  g_autofree char *json = NULL;
  g_autofree char *status = NULL;
  gsize length = 0;

  json = (char *) decode_challenge (challenge, &length);
  if (json != NULL)
    status = json_find_status (json, length);

  if (sasl->mechanism == MECHANISM_OAUTHBEARER)
    *response = g_strdup ("AQ==");   /* RFC 7628 §3.2.3: %x01 */
  else
    *response = g_strdup ("");

  if (status != NULL)
    g_set_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_AUTH_FAILED,
                 _("The server rejected the access token (status “%s”)"),
                 status);
  else
    g_set_error_literal (error, SMTP_CLIENT_ERROR,
                         SMTP_CLIENT_ERROR_AUTH_FAILED,
                         _("The server rejected the access token"));
  return FALSE;
}

/* --- LOGIN --- */

static gboolean
login_step (SmtpClientSasl  *sasl,
            const char      *challenge,
            char           **response,
            GError         **error)
{
  /* The prompts ("Username:", "Password:") vary between servers and are
   * not standardised: answer by position. */
  const char *answer;

  if (sasl->n_challenges == 0)
    answer = sasl->user;
  else if (sasl->n_challenges == 1)
    answer = sasl->password;
  else
    {
      set_unexpected_error (error);
      return FALSE;
    }

  *response = encode_base64 (answer, strlen (answer));
  return TRUE;
}

/* --- CRAM-MD5 (RFC 2195) --- */

static gboolean
cram_md5_step (SmtpClientSasl  *sasl,
               const char      *challenge,
               char           **response,
               GError         **error)
{
  g_autofree guint8 *decoded = NULL;
  g_autofree char *digest = NULL;
  GHmac *hmac;
  gsize length = 0;
  GString *message;

  if (sasl->n_challenges > 0)
    {
      set_unexpected_error (error);
      return FALSE;
    }

  decoded = decode_challenge (challenge, &length);
  if (decoded == NULL || length == 0)
    {
      set_malformed_error (error);
      return FALSE;
    }

  hmac = g_hmac_new (G_CHECKSUM_MD5, (const guchar *) sasl->password,
                     strlen (sasl->password));
  g_hmac_update (hmac, decoded, (gssize) length);
  digest = g_strdup (g_hmac_get_string (hmac));   /* lower-case hex */
  g_hmac_unref (hmac);

  message = g_string_new (sasl->user);
  g_string_append_c (message, ' ');
  g_string_append (message, digest);
  *response = encode_base64 (message->str, message->len);
  wipe_string (message);

  return TRUE;
}

/* --- SCRAM-SHA-1, SCRAM-SHA-256 (RFC 5802, RFC 7677) --- */

static GChecksumType
scram_checksum_type (SmtpClientSasl *sasl)
{
  return sasl->mechanism == MECHANISM_SCRAM_SHA_1 ? G_CHECKSUM_SHA1
                                                  : G_CHECKSUM_SHA256;
}

static gsize
scram_digest_length (SmtpClientSasl *sasl)
{
  return sasl->mechanism == MECHANISM_SCRAM_SHA_1 ? 20 : 32;
}

static void
hmac_digest (GChecksumType  type,
             const guint8  *key,
             gsize          key_length,
             const guint8  *data,
             gsize          data_length,
             guint8        *digest,
             gsize          digest_length)
{
  GHmac *hmac = g_hmac_new (type, key, key_length);
  gsize length = digest_length;

  g_hmac_update (hmac, data, (gssize) data_length);
  g_hmac_get_digest (hmac, digest, &length);
  g_hmac_unref (hmac);
}

/* RFC 5802 Hi(): PBKDF2 (RFC 8018) with HMAC as the PRF and one block of
 * output, which is all SCRAM needs. */
static void
scram_hi (GChecksumType  type,
          const char    *password,
          const guint8  *salt,
          gsize          salt_length,
          guint          iterations,
          guint8        *result,
          gsize          digest_length)
{
  static const guint8 first_block[4] = { 0, 0, 0, 1 };
  GHmac *keyed = g_hmac_new (type, (const guchar *) password,
                             strlen (password));
  guint8 u[MAX_DIGEST_LENGTH];
  GHmac *hmac;
  gsize length;
  guint i;
  gsize k;

  /* U1 = HMAC (password, salt || INT (1)) */
  hmac = g_hmac_copy (keyed);
  g_hmac_update (hmac, salt, (gssize) salt_length);
  g_hmac_update (hmac, first_block, sizeof first_block);
  length = digest_length;
  g_hmac_get_digest (hmac, u, &length);
  g_hmac_unref (hmac);
  memcpy (result, u, digest_length);

  /* Ui = HMAC (password, Ui-1); result = U1 ^ U2 ^ ... ^ Ui */
  for (i = 1; i < iterations; i++)
    {
      hmac = g_hmac_copy (keyed);
      g_hmac_update (hmac, u, (gssize) digest_length);
      length = digest_length;
      g_hmac_get_digest (hmac, u, &length);
      g_hmac_unref (hmac);
      for (k = 0; k < digest_length; k++)
        result[k] ^= u[k];
    }

  g_hmac_unref (keyed);
  wipe (u, sizeof u);
}

static gboolean
constant_time_equal (const guint8 *a,
                     const guint8 *b,
                     gsize         length)
{
  guint8 difference = 0;
  gsize i;

  for (i = 0; i < length; i++)
    difference |= a[i] ^ b[i];
  return difference == 0;
}

/* The client-first-message, "n,," gs2-header and client-first-bare,
 * created on first use */
static char *
scram_client_first (SmtpClientSasl *sasl)
{
  g_autofree char *message = NULL;

  if (sasl->client_first_bare == NULL)
    {
      GString *bare = g_string_new ("n=");

      if (sasl->nonce == NULL)
        {
          guint8 random[SCRAM_NONCE_BYTES];
          gsize i;

          for (i = 0; i < sizeof random; i++)
            random[i] = (guint8) g_random_int_range (0, 256);
          sasl->nonce = g_base64_encode (random, sizeof random);
          wipe (random, sizeof random);
        }

      append_saslname (bare, sasl->user);
      g_string_append (bare, ",r=");
      g_string_append (bare, sasl->nonce);
      sasl->client_first_bare = g_string_free (bare, FALSE);
    }

  message = g_strconcat ("n,,", sasl->client_first_bare, NULL);
  return encode_base64 (message, strlen (message));
}

/* Match "@name=value" at *@p up to ',' or the end, and move past it */
static gboolean
scram_attribute (const char **p,
                 char         name,
                 const char **value,
                 gsize       *value_length)
{
  const char *start = *p;
  const char *comma;

  if (start[0] != name || start[1] != '=')
    return FALSE;

  *value = start + 2;
  comma = strchr (*value, ',');
  *value_length = comma != NULL ? (gsize) (comma - *value) : strlen (*value);
  *p = comma != NULL ? comma + 1 : *value + *value_length;
  return TRUE;
}

static gboolean
scram_server_error (const char  *message,
                    GError     **error)
{
  const char *p = message;
  const char *value;
  gsize length;
  g_autofree char *quoted = NULL;

  if (!scram_attribute (&p, 'e', &value, &length))
    return FALSE;

  quoted = quote_text (value, length);
  g_set_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_AUTH_FAILED,
               _("The server refused the authentication: %s"), quoted);
  return TRUE;
}

static gboolean
scram_parse_iterations (const char *text,
                        gsize       length,
                        guint      *iterations)
{
  guint64 value = 0;
  gsize i;

  if (length == 0 || length > 10)
    return FALSE;
  for (i = 0; i < length; i++)
    {
      if (!g_ascii_isdigit (text[i]))
        return FALSE;
      value = value * 10 + (guint64) (text[i] - '0');
    }
  if (value > G_MAXUINT)
    value = G_MAXUINT;
  *iterations = (guint) value;
  return TRUE;
}

/* server-first-message → client-final-message */
static gboolean
scram_step_server_first (SmtpClientSasl  *sasl,
                         const char      *challenge,
                         char           **response,
                         GError         **error)
{
  GChecksumType type = scram_checksum_type (sasl);
  gsize digest_length = scram_digest_length (sasl);
  g_autofree char *server_first = NULL;
  g_autofree guint8 *salt = NULL;
  g_autofree char *salt_base64 = NULL;
  g_autofree char *proof_base64 = NULL;
  char *auth_message;
  GString *client_final;
  const char *p;
  const char *nonce;
  const char *value;
  gsize nonce_length;
  gsize value_length;
  gsize salt_length = 0;
  gsize length;
  guint iterations = 0;
  guint8 salted_password[MAX_DIGEST_LENGTH];
  guint8 client_key[MAX_DIGEST_LENGTH];
  guint8 stored_key[MAX_DIGEST_LENGTH];
  guint8 client_signature[MAX_DIGEST_LENGTH];
  guint8 server_key[MAX_DIGEST_LENGTH];
  GChecksum *checksum;
  gsize k;

  server_first = decode_challenge_text (challenge, &length, error);
  if (server_first == NULL)
    return FALSE;

  if (scram_server_error (server_first, error))
    return FALSE;

  p = server_first;
  if (p[0] == 'm' && p[1] == '=')
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR,
                           SMTP_CLIENT_ERROR_AUTH_FAILED,
                           _("The server requires a SCRAM extension that is "
                             "not supported"));
      return FALSE;
    }

  if (!scram_attribute (&p, 'r', &nonce, &nonce_length)
      || !scram_attribute (&p, 's', &value, &value_length))
    {
      set_malformed_error (error);
      return FALSE;
    }

  /* The combined nonce: ours, then the server's part (RFC 5802 §5.1) */
  if (nonce_length <= strlen (sasl->nonce)
      || strncmp (nonce, sasl->nonce, strlen (sasl->nonce)) != 0
      || !is_printable_no_comma (nonce, nonce_length))
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR,
                           SMTP_CLIENT_ERROR_AUTH_FAILED,
                           _("The server’s SCRAM nonce does not extend the "
                             "client’s: the server may be an impostor"));
      return FALSE;
    }

  salt_base64 = g_strndup (value, value_length);
  salt = decode_challenge (salt_base64, &salt_length);
  if (salt == NULL || salt_length == 0
      || !scram_attribute (&p, 'i', &value, &value_length)
      || !scram_parse_iterations (value, value_length, &iterations))
    {
      set_malformed_error (error);
      return FALSE;
    }

  if (iterations < SCRAM_MIN_ITERATIONS || iterations > SCRAM_MAX_ITERATIONS)
    {
      g_set_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_AUTH_FAILED,
                   _("The server asked for a SCRAM iteration count of %u, "
                     "outside the accepted range %u to %u"),
                   iterations, SCRAM_MIN_ITERATIONS, SCRAM_MAX_ITERATIONS);
      return FALSE;
    }

  /* client-final-message-without-proof: channel binding "biws" is the
   * base64 of the gs2-header "n,," (no channel binding) */
  client_final = g_string_new ("c=biws,r=");
  g_string_append_len (client_final, nonce, (gssize) nonce_length);

  auth_message = g_strconcat (sasl->client_first_bare, ",", server_first,
                              ",", client_final->str, NULL);

  /* SaltedPassword  := Hi (Normalize (password), salt, i)
   * ClientKey       := HMAC (SaltedPassword, "Client Key")
   * StoredKey       := H (ClientKey)
   * ClientSignature := HMAC (StoredKey, AuthMessage)
   * ClientProof     := ClientKey XOR ClientSignature
   * ServerKey       := HMAC (SaltedPassword, "Server Key")
   * ServerSignature := HMAC (ServerKey, AuthMessage) */
  scram_hi (type, sasl->password, salt, salt_length, iterations,
            salted_password, digest_length);
  hmac_digest (type, salted_password, digest_length,
               (const guint8 *) "Client Key", 10, client_key, digest_length);

  checksum = g_checksum_new (type);
  g_checksum_update (checksum, client_key, (gssize) digest_length);
  length = digest_length;
  g_checksum_get_digest (checksum, stored_key, &length);
  g_checksum_free (checksum);

  hmac_digest (type, stored_key, digest_length,
               (const guint8 *) auth_message, strlen (auth_message),
               client_signature, digest_length);
  for (k = 0; k < digest_length; k++)
    client_signature[k] ^= client_key[k];   /* now the ClientProof */

  hmac_digest (type, salted_password, digest_length,
               (const guint8 *) "Server Key", 10, server_key, digest_length);
  hmac_digest (type, server_key, digest_length,
               (const guint8 *) auth_message, strlen (auth_message),
               sasl->server_signature, digest_length);

  proof_base64 = g_base64_encode (client_signature, digest_length);
  g_string_append (client_final, ",p=");
  g_string_append (client_final, proof_base64);
  *response = encode_base64 (client_final->str, client_final->len);

  wipe (salted_password, sizeof salted_password);
  wipe (client_key, sizeof client_key);
  wipe (stored_key, sizeof stored_key);
  wipe (client_signature, sizeof client_signature);
  wipe (server_key, sizeof server_key);
  wipe (proof_base64, strlen (proof_base64));
  wipe_and_free (auth_message);
  wipe_string (client_final);

  sasl->awaiting_final = TRUE;
  return TRUE;
}

/* server-final-message: check the ServerSignature */
static gboolean
scram_step_server_final (SmtpClientSasl  *sasl,
                         const char      *challenge,
                         char           **response,
                         GError         **error)
{
  gsize digest_length = scram_digest_length (sasl);
  g_autofree char *server_final = NULL;
  g_autofree char *signature_base64 = NULL;
  g_autofree guint8 *signature = NULL;
  const char *p;
  const char *value;
  gsize value_length;
  gsize length;

  server_final = decode_challenge_text (challenge, &length, error);
  if (server_final == NULL)
    return FALSE;

  if (scram_server_error (server_final, error))
    return FALSE;

  p = server_final;
  if (!scram_attribute (&p, 'v', &value, &value_length))
    {
      set_malformed_error (error);
      return FALSE;
    }

  signature_base64 = g_strndup (value, value_length);
  signature = decode_challenge (signature_base64, &length);
  if (signature == NULL || length != digest_length
      || !constant_time_equal (signature, sasl->server_signature,
                               digest_length))
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR,
                           SMTP_CLIENT_ERROR_AUTH_FAILED,
                           _("The server’s SCRAM signature is wrong: the "
                             "server may be an impostor"));
      return FALSE;
    }

  sasl->server_verified = TRUE;
  *response = g_strdup ("");
  return TRUE;
}

static gboolean
scram_step (SmtpClientSasl  *sasl,
            const char      *challenge,
            char           **response,
            GError         **error)
{
  if (sasl->server_verified)
    {
      set_unexpected_error (error);
      return FALSE;
    }
  if (sasl->awaiting_final)
    return scram_step_server_final (sasl, challenge, response, error);
  if (sasl->client_first_bare == NULL)
    {
      /* The client-first-message must come before any server data */
      set_unexpected_error (error);
      return FALSE;
    }
  return scram_step_server_first (sasl, challenge, response, error);
}

/* --- The mechanism-independent entry points --- */

char *
smtp_client_sasl_get_initial_response (SmtpClientSasl *sasl)
{
  g_return_val_if_fail (sasl != NULL, NULL);

  switch (sasl->mechanism)
    {
    case MECHANISM_PLAIN:
      return plain_initial_response (sasl);
    case MECHANISM_XOAUTH2:
      return xoauth2_initial_response (sasl);
    case MECHANISM_OAUTHBEARER:
      return oauthbearer_initial_response (sasl);
    case MECHANISM_SCRAM_SHA_1:
    case MECHANISM_SCRAM_SHA_256:
      return scram_client_first (sasl);
    case MECHANISM_LOGIN:
    case MECHANISM_CRAM_MD5:
      break;
    }
  return NULL;
}

gboolean
smtp_client_sasl_step (SmtpClientSasl  *sasl,
                       const char      *challenge,
                       char           **response,
                       GError         **error)
{
  gboolean ok = FALSE;

  g_return_val_if_fail (sasl != NULL, FALSE);
  g_return_val_if_fail (challenge != NULL, FALSE);
  g_return_val_if_fail (response != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  *response = NULL;

  if (sasl->failed)
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR,
                           SMTP_CLIENT_ERROR_AUTH_FAILED,
                           _("The authentication exchange has already "
                             "failed"));
      return FALSE;
    }

  /* "AUTH MECH" sent without the initial response: the server asks for
   * it with an empty challenge. */
  if (sasl->n_challenges == 0 && is_empty_challenge (challenge)
      && !sasl->awaiting_final)
    {
      *response = smtp_client_sasl_get_initial_response (sasl);
      if (*response != NULL)
        {
          sasl->n_challenges++;
          return TRUE;
        }
    }

  switch (sasl->mechanism)
    {
    case MECHANISM_PLAIN:
      set_unexpected_error (error);
      ok = FALSE;
      break;
    case MECHANISM_LOGIN:
      ok = login_step (sasl, challenge, response, error);
      break;
    case MECHANISM_CRAM_MD5:
      ok = cram_md5_step (sasl, challenge, response, error);
      break;
    case MECHANISM_XOAUTH2:
    case MECHANISM_OAUTHBEARER:
      ok = oauth_step_error (sasl, challenge, response, error);
      break;
    case MECHANISM_SCRAM_SHA_1:
    case MECHANISM_SCRAM_SHA_256:
      ok = scram_step (sasl, challenge, response, error);
      break;
    }

  if (ok)
    sasl->n_challenges++;
  else
    sasl->failed = TRUE;

  return ok;
}

gboolean
smtp_client_sasl_check_success (SmtpClientSasl  *sasl,
                                GError         **error)
{
  g_return_val_if_fail (sasl != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (sasl->failed)
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR,
                           SMTP_CLIENT_ERROR_AUTH_FAILED,
                           _("The authentication exchange has already "
                             "failed"));
      return FALSE;
    }

  if (is_scram (sasl->mechanism) && !sasl->server_verified)
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR,
                           SMTP_CLIENT_ERROR_AUTH_FAILED,
                           _("The server accepted the authentication "
                             "without proving that it knows the password: "
                             "it may be an impostor"));
      return FALSE;
    }

  return TRUE;
}

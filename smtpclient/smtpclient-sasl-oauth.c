/* smtpclient-sasl-oauth.c: XOAUTH2 and OAUTHBEARER (RFC 7628)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Both send the access token in one message; any challenge after it is
 * the server's error report, a small JSON object, answered with the fixed
 * response that ends the exchange.
 */

#include "config.h"

#include <string.h>

#include "smtpclient-private.h"
#include "smtpclient-error.h"
#include "smtpclient-sasl-mechanism-private.h"

char *
sasl_xoauth2_initial_response (SmtpClientSasl *sasl)
{
  GString *message = g_string_new ("user=");
  char *response;

  g_string_append (message, sasl->user);
  g_string_append (message, "\001auth=Bearer ");
  g_string_append (message, sasl->password);
  g_string_append (message, "\001\001");

  response = sasl_encode_base64 (message->str, message->len);
  smtp_client_secret_free_string (message);
  return response;
}

char *
sasl_oauthbearer_initial_response (SmtpClientSasl *sasl)
{
  /* RFC 7628 §3.1: gs2-header with the authzid, then key=value pairs */
  GString *message = g_string_new ("n,a=");
  char *response;

  sasl_append_saslname (message, sasl->user);
  g_string_append_c (message, ',');
  if (sasl->host != NULL && *sasl->host != '\0')
    g_string_append_printf (message, "\001host=%s", sasl->host);
  if (sasl->port != 0)
    g_string_append_printf (message, "\001port=%u", sasl->port);
  g_string_append (message, "\001auth=Bearer ");
  g_string_append (message, sasl->password);
  g_string_append (message, "\001\001");

  response = sasl_encode_base64 (message->str, message->len);
  smtp_client_secret_free_string (message);
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
char *
sasl_oauth_find_status (const char *json,
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
            return sasl_quote_text (value + 1, (gsize) (p - value - 2));
          return sasl_quote_text (value, (gsize) (p - value));
        }

      p = json_skip_blanks (p, end);
      if (p >= end || *p != ',')
        return NULL;
      p++;
    }
}

/* XOAUTH2 / OAUTHBEARER: any challenge after the initial response is the
 * server's error report; the answer that ends the exchange is fixed. */
gboolean
sasl_oauth_step (SmtpClientSasl  *sasl,
                 const char      *challenge,
                 char           **response,
                 GError         **error)
{
  g_autofree char *json = NULL;
  g_autofree char *status = NULL;
  gsize length = 0;

  json = (char *) sasl_decode_challenge (challenge, &length);
  if (json != NULL)
    status = sasl_oauth_find_status (json, length);

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


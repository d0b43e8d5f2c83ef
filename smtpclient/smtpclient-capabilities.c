/* smtpclient-capabilities.c: what a server offers, from its EHLO reply
 * (pure, no sockets)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "smtpclient-private.h"

#include <string.h>

#include "smtpclient-reply-private.h"

/* RFC 4422 §3.1: a SASL mechanism name has 1 to 20 characters. */
#define MECHANISM_NAME_MAX 20

/* Most AUTH mechanisms remembered; further ones are ignored, so a hostile
 * server cannot make the capabilities much bigger than a real list. */
#define MECHANISMS_MAX 64

struct _SmtpClientCapabilities
{
  GHashTable *extensions;       /* upper-cased keyword -> parameters */
  GPtrArray  *auth_mechanisms;  /* upper-cased, unique, in offered order */
  guint64     size_limit;
};

static gboolean
is_mechanism_char (char c)
{
  return g_ascii_isupper (c) || g_ascii_isdigit (c) || c == '-' || c == '_';
}

static gboolean
has_mechanism (const SmtpClientCapabilities *caps,
               const char                   *name)
{
  for (guint i = 0; i < caps->auth_mechanisms->len; i++)
    {
      if (strcmp (g_ptr_array_index (caps->auth_mechanisms, i), name) == 0)
        return TRUE;
    }

  return FALSE;
}

/* Adds the mechanisms named in @parameters (separated by spaces or tabs).
 * Names are upper-cased; those that are not RFC 4422 mechanism names
 * (1..20 of A-Z 0-9 - _) are ignored, and so are duplicates. */
static void
add_auth_mechanisms (SmtpClientCapabilities *caps,
                     const char             *parameters)
{
  const char *p = parameters;

  while (*p != '\0')
    {
      g_autofree char *name = NULL;
      const char *start;
      gsize length;
      gboolean is_valid = TRUE;

      while (*p == ' ' || *p == '\t')
        p++;
      if (*p == '\0')
        break;

      start = p;
      while (*p != '\0' && *p != ' ' && *p != '\t')
        p++;
      length = (gsize) (p - start);

      if (caps->auth_mechanisms->len >= MECHANISMS_MAX)
        return;
      if (length > MECHANISM_NAME_MAX)
        continue;

      name = g_ascii_strup (start, (gssize) length);
      for (const char *c = name; *c != '\0'; c++)
        is_valid = is_valid && is_mechanism_char (*c);

      if (is_valid && !has_mechanism (caps, name))
        g_ptr_array_add (caps->auth_mechanisms, g_steal_pointer (&name));
    }
}

/* Parses one EHLO line (RFC 5321 §4.1.1.1):
 *   ehlo-line = ehlo-keyword *( SP ehlo-param )
 *   ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
 * also accepting tabs, leading blanks, and the obsolete "AUTH=LOGIN" form
 * (any keyword followed by "="). Returns FALSE for lines that are not
 * EHLO lines, which are ignored. */
static gboolean
parse_ehlo_line (const char  *text,
                 char       **out_keyword,
                 char       **out_parameters,
                 gboolean    *out_is_obsolete_form)
{
  const char *p = text;
  const char *keyword;
  gsize keyword_length;

  while (*p == ' ' || *p == '\t')
    p++;

  if (!g_ascii_isalnum (*p))
    return FALSE;

  keyword = p;
  while (g_ascii_isalnum (*p) || *p == '-')
    p++;
  keyword_length = (gsize) (p - keyword);

  if (*p != '\0' && *p != ' ' && *p != '\t' && *p != '=')
    return FALSE;

  *out_is_obsolete_form = (*p == '=');
  if (*p != '\0')
    p++;

  *out_keyword = g_ascii_strup (keyword, (gssize) keyword_length);
  *out_parameters = g_strstrip (g_strdup (p));
  return TRUE;
}

/* SIZE's parameter (RFC 1870): the whole of it must be a decimal number
 * that fits in 64 bits.  Anything else (garbage, a sign, an overflowing
 * number) is treated like SIZE without a number: 0, no known limit, so a
 * bad announcement never stops a message the server might accept. */
static guint64
parse_size_limit (const char *parameters)
{
  guint64 value = 0;

  if (parameters == NULL)
    return 0;

  for (const char *p = parameters; *p != '\0'; p++)
    {
      guint digit;

      if (!g_ascii_isdigit (*p))
        return 0;

      digit = (guint) (*p - '0');
      if (value > (G_MAXUINT64 - digit) / 10)
        return 0;
      value = value * 10 + digit;
    }

  return value;
}

/* The first line is the greeting and is skipped.  A keyword listed twice
 * keeps the parameters of its first standard ("KEYWORD params") line, or
 * of its first obsolete ("KEYWORD=params") line when there is no standard
 * one.  AUTH mechanisms are gathered from every AUTH line of either form,
 * standard lines first.  The reply code is not checked: that is the
 * caller's business. */
SmtpClientCapabilities *
smtp_client_capabilities_new_from_ehlo (const SmtpClientReply *reply)
{
  SmtpClientCapabilities *caps;

  g_return_val_if_fail (reply != NULL, NULL);
  g_return_val_if_fail (reply->lines != NULL, NULL);

  caps = g_new0 (SmtpClientCapabilities, 1);
  caps->extensions = g_hash_table_new_full (g_str_hash, g_str_equal,
                                            g_free, g_free);
  caps->auth_mechanisms = g_ptr_array_new_with_free_func (g_free);

  /* Pass 0 takes the standard lines, pass 1 the obsolete ones. */
  for (guint pass = 0; pass < 2; pass++)
    {
      for (guint i = 1; i < reply->lines->len; i++)
        {
          g_autofree char *keyword = NULL;
          g_autofree char *parameters = NULL;
          gboolean is_obsolete_form;

          if (!parse_ehlo_line (g_ptr_array_index (reply->lines, i),
                                &keyword, &parameters, &is_obsolete_form))
            continue;
          if (is_obsolete_form != (pass == 1))
            continue;

          if (strcmp (keyword, "AUTH") == 0)
            add_auth_mechanisms (caps, parameters);

          if (!g_hash_table_contains (caps->extensions, keyword))
            g_hash_table_insert (caps->extensions,
                                 g_steal_pointer (&keyword),
                                 g_steal_pointer (&parameters));
        }
    }

  caps->size_limit =
    parse_size_limit (g_hash_table_lookup (caps->extensions, "SIZE"));

  return caps;
}

void
smtp_client_capabilities_free (SmtpClientCapabilities *caps)
{
  if (caps == NULL)
    return;

  g_clear_pointer (&caps->extensions, g_hash_table_unref);
  g_clear_pointer (&caps->auth_mechanisms, g_ptr_array_unref);
  g_free (caps);
}

gboolean
smtp_client_capabilities_has_extension (const SmtpClientCapabilities *caps,
                                        const char                   *keyword)
{
  return smtp_client_capabilities_get_parameters (caps, keyword) != NULL;
}

const char *
smtp_client_capabilities_get_parameters (const SmtpClientCapabilities *caps,
                                         const char                   *keyword)
{
  g_autofree char *key = NULL;

  g_return_val_if_fail (caps != NULL, NULL);
  g_return_val_if_fail (keyword != NULL, NULL);

  key = g_ascii_strup (keyword, -1);
  return g_hash_table_lookup (caps->extensions, key);
}

guint64
smtp_client_capabilities_get_size_limit (const SmtpClientCapabilities *caps)
{
  g_return_val_if_fail (caps != NULL, 0);

  return caps->size_limit;
}

GStrv
smtp_client_capabilities_get_auth_mechanisms (
  const SmtpClientCapabilities *caps)
{
  g_autoptr(GStrvBuilder) builder = NULL;

  g_return_val_if_fail (caps != NULL, NULL);

  builder = g_strv_builder_new ();
  for (guint i = 0; i < caps->auth_mechanisms->len; i++)
    g_strv_builder_add (builder, g_ptr_array_index (caps->auth_mechanisms, i));

  return g_strv_builder_end (builder);
}

SmtpClientExtensions
smtp_client_capabilities_get_extensions (const SmtpClientCapabilities *caps)
{
  static const struct
  {
    const char           *keyword;
    SmtpClientExtensions  flag;
  } table[] = {
    { "PIPELINING", SMTP_CLIENT_EXTENSION_PIPELINING },
    { "SIZE", SMTP_CLIENT_EXTENSION_SIZE },
    { "8BITMIME", SMTP_CLIENT_EXTENSION_8BITMIME },
    { "SMTPUTF8", SMTP_CLIENT_EXTENSION_SMTPUTF8 },
    { "DSN", SMTP_CLIENT_EXTENSION_DSN },
    { "STARTTLS", SMTP_CLIENT_EXTENSION_STARTTLS },
    { "AUTH", SMTP_CLIENT_EXTENSION_AUTH },
    { "ENHANCEDSTATUSCODES", SMTP_CLIENT_EXTENSION_ENHANCEDSTATUSCODES },
    { "CHUNKING", SMTP_CLIENT_EXTENSION_CHUNKING },
    { "BINARYMIME", SMTP_CLIENT_EXTENSION_BINARYMIME },
    { "REQUIRETLS", SMTP_CLIENT_EXTENSION_REQUIRETLS },
  };
  SmtpClientExtensions extensions = 0;

  if (caps == NULL)
    return 0;

  for (gsize i = 0; i < G_N_ELEMENTS (table); i++)
    if (smtp_client_capabilities_has_extension (caps, table[i].keyword))
      extensions |= table[i].flag;

  /* The obsolete "AUTH=PLAIN LOGIN" form counts too */
  if (caps->auth_mechanisms->len > 0)
    extensions |= SMTP_CLIENT_EXTENSION_AUTH;

  return extensions;
}

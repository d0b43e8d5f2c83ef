/* test-envelope.c: the MAIL and RCPT commands and their parameters, the
 * checks before MAIL, xtext, address validation (pure: no sockets)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "smtpclient-envelope-private.h"
#include "smtpclient-error.h"

static const char * const one_rcpt[] = { "rcpt@example.org", NULL };

#define ALL_EXTENSIONS (SMTP_CLIENT_EXTENSION_SIZE | \
                        SMTP_CLIENT_EXTENSION_8BITMIME | \
                        SMTP_CLIENT_EXTENSION_SMTPUTF8 | \
                        SMTP_CLIENT_EXTENSION_DSN)

typedef struct
{
  const char           *name;
  SmtpClientEnvelope    envelope;
  SmtpClientExtensions  offered;
  const char           *mail;
  gboolean              dsn_left_out;
} MailCase;

static const MailCase mail_cases[] = {
  { "bare", { "a@example.org", one_rcpt, 0, TRUE }, 0,
    "MAIL FROM:<a@example.org>", FALSE },
  { "null-path", { "", one_rcpt, 0, TRUE }, 0, "MAIL FROM:<>", FALSE },
  { "size", { "a@example.org", one_rcpt, 1234, TRUE },
    SMTP_CLIENT_EXTENSION_SIZE, "MAIL FROM:<a@example.org> SIZE=1234", FALSE },
  { "size-unknown", { "a@example.org", one_rcpt, 0, TRUE },
    SMTP_CLIENT_EXTENSION_SIZE, "MAIL FROM:<a@example.org>", FALSE },
  { "size-not-offered", { "a@example.org", one_rcpt, 1234, TRUE }, 0,
    "MAIL FROM:<a@example.org>", FALSE },
  { "8bit", { "a@example.org", one_rcpt, 0, FALSE },
    SMTP_CLIENT_EXTENSION_8BITMIME, "MAIL FROM:<a@example.org> BODY=8BITMIME",
    FALSE },
  { "7bit", { "a@example.org", one_rcpt, 0, TRUE },
    SMTP_CLIENT_EXTENSION_8BITMIME, "MAIL FROM:<a@example.org>", FALSE },
  { "8bit-not-offered", { "a@example.org", one_rcpt, 0, FALSE }, 0,
    "MAIL FROM:<a@example.org>", FALSE },
  { "smtputf8", { "ü@example.org", one_rcpt, 0, TRUE }, ALL_EXTENSIONS,
    "MAIL FROM:<ü@example.org> BODY=8BITMIME SMTPUTF8", FALSE },
  { "dsn", { "a@example.org", one_rcpt, 0, TRUE,
             SMTP_CLIENT_DSN_NOTIFY_FAILURE, SMTP_CLIENT_DSN_RETURN_HEADERS,
             "id+1=2 3" },
    SMTP_CLIENT_EXTENSION_DSN,
    "MAIL FROM:<a@example.org> RET=HDRS ENVID=id+2B1+3D2+203", FALSE },
  { "dsn-full", { "a@example.org", one_rcpt, 0, TRUE, 0,
                  SMTP_CLIENT_DSN_RETURN_FULL, NULL },
    SMTP_CLIENT_EXTENSION_DSN, "MAIL FROM:<a@example.org> RET=FULL", FALSE },
  { "dsn-not-offered", { "a@example.org", one_rcpt, 0, TRUE,
                         SMTP_CLIENT_DSN_NOTIFY_SUCCESS,
                         SMTP_CLIENT_DSN_RETURN_FULL, "x" }, 0,
    "MAIL FROM:<a@example.org>", TRUE },
  { "everything", { "a@example.org", one_rcpt, 99, FALSE,
                    SMTP_CLIENT_DSN_NOTIFY_DELAY, SMTP_CLIENT_DSN_RETURN_FULL,
                    "e" }, ALL_EXTENSIONS,
    "MAIL FROM:<a@example.org> SIZE=99 BODY=8BITMIME RET=FULL ENVID=e", FALSE },
};

static void
test_mail (gconstpointer data)
{
  const MailCase *c = data;
  gboolean dsn_left_out = !c->dsn_left_out;
  g_autofree char *mail = smtp_client_envelope_build_mail (&c->envelope,
                                                           c->offered,
                                                           &dsn_left_out);

  g_assert_cmpstr (mail, ==, c->mail);
  g_assert_cmpint (dsn_left_out, ==, c->dsn_left_out);
}

typedef struct
{
  const char           *name;
  SmtpClientDsnNotify   notify;
  SmtpClientExtensions  offered;
  const char           *rcpt;
} RcptCase;

static const RcptCase rcpt_cases[] = {
  { "bare", 0, ALL_EXTENSIONS, "RCPT TO:<rcpt@example.org>" },
  { "never", SMTP_CLIENT_DSN_NOTIFY_NEVER, SMTP_CLIENT_EXTENSION_DSN,
    "RCPT TO:<rcpt@example.org> NOTIFY=NEVER" },
  { "success-failure",
    SMTP_CLIENT_DSN_NOTIFY_SUCCESS | SMTP_CLIENT_DSN_NOTIFY_FAILURE,
    SMTP_CLIENT_EXTENSION_DSN,
    "RCPT TO:<rcpt@example.org> NOTIFY=SUCCESS,FAILURE" },
  { "all",
    SMTP_CLIENT_DSN_NOTIFY_SUCCESS | SMTP_CLIENT_DSN_NOTIFY_FAILURE |
    SMTP_CLIENT_DSN_NOTIFY_DELAY, SMTP_CLIENT_EXTENSION_DSN,
    "RCPT TO:<rcpt@example.org> NOTIFY=SUCCESS,FAILURE,DELAY" },
  { "not-offered", SMTP_CLIENT_DSN_NOTIFY_DELAY, 0,
    "RCPT TO:<rcpt@example.org>" },
};

static void
test_rcpt (gconstpointer data)
{
  const RcptCase *c = data;
  SmtpClientEnvelope envelope = { "a@example.org", one_rcpt, 0, TRUE,
                                  c->notify };
  g_autofree char *rcpt = smtp_client_envelope_build_rcpt (&envelope, 0,
                                                           c->offered);

  g_assert_cmpstr (rcpt, ==, c->rcpt);
}

static void
test_check (void)
{
  const char * const utf8_rcpt[] = { "b@example.org", "ä@example.org", NULL };
  SmtpClientEnvelope ascii = { "a@example.org", one_rcpt, 2000, TRUE };
  SmtpClientEnvelope utf8 = { "a@example.org", utf8_rcpt, 0, TRUE };
  g_autoptr(GError) error = NULL;

  g_test_summary ("What is refused before MAIL: a non-ASCII address "
                  "without SMTPUTF8, a message larger than SIZE");

  g_assert_true (smtp_client_envelope_check (&ascii, 0, 0, &error));
  g_assert_true (smtp_client_envelope_check (&ascii, SMTP_CLIENT_EXTENSION_SIZE,
                                             0, &error));
  g_assert_true (smtp_client_envelope_check (&ascii, SMTP_CLIENT_EXTENSION_SIZE,
                                             2000, &error));
  /* SIZE=1000 declared only matters when SIZE is offered */
  g_assert_true (smtp_client_envelope_check (&ascii, 0, 1000, &error));
  g_assert_no_error (error);
  g_assert_false (smtp_client_envelope_check (&ascii, SMTP_CLIENT_EXTENSION_SIZE,
                                              1999, &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_MESSAGE_TOO_LARGE);
  g_clear_error (&error);

  g_assert_true (smtp_client_envelope_needs_smtputf8 (&utf8));
  g_assert_false (smtp_client_envelope_needs_smtputf8 (&ascii));
  g_assert_false (smtp_client_envelope_check (&utf8, ALL_EXTENSIONS &
                                              ~SMTP_CLIENT_EXTENSION_SMTPUTF8,
                                              0, &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_NOT_SUPPORTED);
  g_clear_error (&error);
  g_assert_true (smtp_client_envelope_check (&utf8, ALL_EXTENSIONS, 0, &error));
  g_assert_no_error (error);
}

static void
test_xtext (void)
{
  static const struct { const char *in, *out; } cases[] = {
    { "", "" },
    { "plain", "plain" },
    { "a+b=c", "a+2Bb+3Dc" },
    { "sp ace", "sp+20ace" },
    { "\x01\x7f", "+01+7F" },
    { "caf\xc3\xa9", "caf+C3+A9" },
    { "!~", "!~" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *xtext = smtp_client_xtext_encode (cases[i].in);

      g_assert_cmpstr (xtext, ==, cases[i].out);
    }
}

static void
test_address (void)
{
  static const struct { const char *address; gboolean may_be_empty, ok; } cases[] = {
    { "user@example.org", FALSE, TRUE },
    { "ü@bücher.example", FALSE, TRUE },
    { "", TRUE, TRUE },
    { "", FALSE, FALSE },
    { "user@example.org\r\nDATA", FALSE, FALSE },
    { "<user@example.org>", FALSE, FALSE },
    { "user @example.org", FALSE, FALSE },
    { "user\x7f@example.org", FALSE, FALSE },
    { "user\xff@example.org", FALSE, FALSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_cmpint (smtp_client_address_validate (cases[i].address,
                                                     cases[i].may_be_empty,
                                                     &error), ==, cases[i].ok);
      if (!cases[i].ok)
        g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE);
    }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (mail_cases); i++)
    {
      g_autofree char *path = g_strconcat ("/smtpclient/envelope/mail/",
                                           mail_cases[i].name, NULL);

      g_test_add_data_func (path, &mail_cases[i], test_mail);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (rcpt_cases); i++)
    {
      g_autofree char *path = g_strconcat ("/smtpclient/envelope/rcpt/",
                                           rcpt_cases[i].name, NULL);

      g_test_add_data_func (path, &rcpt_cases[i], test_rcpt);
    }
  g_test_add_func ("/smtpclient/envelope/check", test_check);
  g_test_add_func ("/smtpclient/envelope/xtext", test_xtext);
  g_test_add_func ("/smtpclient/envelope/address", test_address);

  return g_test_run ();
}

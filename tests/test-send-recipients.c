/* test-send-recipients.c: smtpclient-send -t, the recipients from the
 * header (pure: memory streams, no server)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "smtpclient-send-private.h"

typedef struct
{
  const char *name;
  const char *value;
  const char *expected[5];
} ListCase;

static const ListCase list_cases[] = {
  { "bare", "a@example.org", { "a@example.org" } },
  { "several", "a@example.org, b@example.org,c@example.org",
    { "a@example.org", "b@example.org", "c@example.org" } },
  { "display-names", "Alice <a@example.org>, \"Bob, Jr.\" <b@example.org>",
    { "a@example.org", "b@example.org" } },
  { "comments", "a@example.org (Alice, at work), (x) b@example.org",
    { "a@example.org", "b@example.org" } },
  { "nested-comment", "a@example.org (one (two) three)", { "a@example.org" } },
  { "group", "friends: a@example.org, b@example.org;, c@example.org",
    { "a@example.org", "b@example.org", "c@example.org" } },
  { "empty-group", "undisclosed-recipients:;", { NULL } },
  { "quoted-local", "\"odd,local\"@example.org", { "\"odd,local\"@example.org" } },
  { "source-route", "<@relay.example:a@example.org>", { "a@example.org" } },
  { "duplicates", "a@example.org, A <a@example.org>", { "a@example.org" } },
  { "folding-white-space", " a @ example.org ", { "a@example.org" } },
};

static void
test_address_list (gconstpointer data)
{
  const ListCase *c = data;
  g_autoptr(GPtrArray) recipients = g_ptr_array_new_with_free_func (g_free);
  guint n = 0;

  smtp_client_send_add_address_list (c->value, recipients);
  while (c->expected[n] != NULL)
    n++;
  g_assert_cmpuint (recipients->len, ==, n);
  for (guint i = 0; i < n; i++)
    g_assert_cmpstr (g_ptr_array_index (recipients, i), ==, c->expected[i]);
}

static char *
read_all (GInputStream *stream)
{
  g_autoptr(GByteArray) all = g_byte_array_new ();
  guint8 buffer[7];
  gssize n;

  /* Small reads: the seam between the two parts is crossed too */
  while ((n = g_input_stream_read (stream, buffer, sizeof buffer, NULL,
                                   NULL)) > 0)
    g_byte_array_append (all, buffer, n);
  g_assert_cmpint (n, ==, 0);
  g_byte_array_append (all, (const guint8 *) "", 1);
  return (char *) g_byte_array_free (g_steal_pointer (&all), FALSE);
}

typedef struct
{
  const char *name;
  const char *message;
  const char *expected[5];
  const char *sent;
} HeaderCase;

static const HeaderCase header_cases[] = {
  { "to-cc-bcc",
    "From: me@example.org\nTo: a@example.org\nCc: B <b@example.org>\n"
    "Bcc: c@example.org\nSubject: hi\n\nbody\n",
    { "a@example.org", "b@example.org", "c@example.org" },
    "From: me@example.org\nTo: a@example.org\nCc: B <b@example.org>\n"
    "Subject: hi\n\nbody\n" },
  { "folded",
    "To: a@example.org,\r\n b@example.org\r\nBcc: c@example.org,\r\n\t"
    "d@example.org\r\nSubject: x\r\n\r\nbody\r\n",
    { "a@example.org", "b@example.org", "c@example.org", "d@example.org" },
    "To: a@example.org,\r\n b@example.org\r\nSubject: x\r\n\r\nbody\r\n" },
  { "case-insensitive", "tO: a@example.org\nBCC: b@example.org\n\nx\n",
    { "a@example.org", "b@example.org" }, "tO: a@example.org\n\nx\n" },
  { "header-only", "To: a@example.org\nSubject: x\n",
    { "a@example.org" }, "To: a@example.org\nSubject: x\n" },
  { "no-header", "just a body line\nand another\n", { NULL },
    "just a body line\nand another\n" },
  { "to-in-body", "Subject: x\n\nTo: not@example.org\n", { NULL },
    "Subject: x\n\nTo: not@example.org\n" },
};

static void
test_header (gconstpointer data)
{
  const HeaderCase *c = data;
  g_autoptr(GPtrArray) recipients = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GInputStream) input = NULL;
  g_autoptr(GInputStream) message = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *sent = NULL;
  guint n = 0;

  g_test_summary ("-t: To, Cc and Bcc give the recipients, unfolded; the "
                  "Bcc field is not sent; the rest of the message is sent "
                  "as it was");

  input = g_memory_input_stream_new_from_data (c->message, -1, NULL);
  message = smtp_client_send_read_recipients (input, recipients, &error);
  g_assert_no_error (error);
  g_assert_nonnull (message);

  while (c->expected[n] != NULL)
    n++;
  g_assert_cmpuint (recipients->len, ==, n);
  for (guint i = 0; i < n; i++)
    g_assert_cmpstr (g_ptr_array_index (recipients, i), ==, c->expected[i]);

  sent = read_all (message);
  g_assert_cmpstr (sent, ==, c->sent);
}

static void
test_header_too_large (void)
{
  g_autoptr(GString) header = g_string_new ("Subject: x\n");
  g_autoptr(GPtrArray) recipients = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GInputStream) input = NULL;
  g_autoptr(GInputStream) message = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("A header block larger than the limit is refused: only "
                  "the header is ever held in memory");

  while (header->len <= SMTP_CLIENT_SEND_HEADER_LIMIT)
    g_string_append (header, "X-Filler: 0123456789012345678901234567890123\n");
  input = g_memory_input_stream_new_from_data (header->str, header->len, NULL);
  message = smtp_client_send_read_recipients (input, recipients, &error);
  g_assert_null (message);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (list_cases); i++)
    {
      g_autofree char *path = g_strconcat ("/smtpclient/send/address-list/",
                                           list_cases[i].name, NULL);

      g_test_add_data_func (path, &list_cases[i], test_address_list);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (header_cases); i++)
    {
      g_autofree char *path = g_strconcat ("/smtpclient/send/header/",
                                           header_cases[i].name, NULL);

      g_test_add_data_func (path, &header_cases[i], test_header);
    }
  g_test_add_func ("/smtpclient/send/header/too-large", test_header_too_large);

  return g_test_run ();
}

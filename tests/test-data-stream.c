/* test-data-stream.c: the DATA content encoder
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Every table case is encoded in one chunk, split at every position, split
 * at every pair of positions, and one byte at a time; the wire bytes must
 * be the same each time.  Every call gets an output buffer of exactly
 * SMTP_CLIENT_DATA_ENCODER_MAX_OUTPUT bytes followed by a guard area that
 * must stay untouched.
 */

#include "config.h"

#include <string.h>

#include "smtpclient/smtpclient-data-stream-private.h"
#include "smtpclient/smtpclient-error.h"

#define GUARD_SIZE 16
#define GUARD_BYTE 0xA5

typedef struct
{
  const char *name;
  const char *input;
  gsize       input_length;
  const char *wire;
  gsize       wire_length;
} EncodeCase;

#define CASE(name, input, wire) \
  { name, input, sizeof (input) - 1, wire, sizeof (wire) - 1 }

static const EncodeCase encode_cases[] = {
  CASE ("empty", "", ".\r\n"),
  CASE ("one-byte", "a", "a\r\n.\r\n"),
  CASE ("crlf-line", "a\r\n", "a\r\n.\r\n"),
  CASE ("lf-line", "a\n", "a\r\n.\r\n"),
  CASE ("cr-line", "a\r", "a\r\n.\r\n"),
  CASE ("lone-cr", "\r", "\r\n.\r\n"),
  CASE ("lone-lf", "\n", "\r\n.\r\n"),
  CASE ("lone-crlf", "\r\n", "\r\n.\r\n"),
  CASE ("cr-inside", "a\rb", "a\r\nb\r\n.\r\n"),
  CASE ("lf-inside", "a\nb", "a\r\nb\r\n.\r\n"),
  CASE ("cr-cr-lf", "a\r\r\nb", "a\r\n\r\nb\r\n.\r\n"),
  CASE ("lf-cr", "a\n\rb", "a\r\n\r\nb\r\n.\r\n"),
  CASE ("cr-cr", "\r\r", "\r\n\r\n.\r\n"),
  CASE ("lf-lf", "\n\n", "\r\n\r\n.\r\n"),
  CASE ("crlf-cr-at-end", "a\r\n\r", "a\r\n\r\n.\r\n"),
  CASE ("no-final-newline", "line one\r\nline two",
        "line one\r\nline two\r\n.\r\n"),
  CASE ("dot", ".", "..\r\n.\r\n"),
  CASE ("dot-line", ".\r\n", "..\r\n.\r\n"),
  CASE ("dot-dot", "..", "...\r\n.\r\n"),
  CASE ("dot-dot-line", "..\n", "...\r\n.\r\n"),
  CASE ("dots-line", "...\n", "....\r\n.\r\n"),
  CASE ("dot-lines", ".\r\n.\r\n", "..\r\n..\r\n.\r\n"),
  CASE ("dot-after-lf", "a\n.\nb\n", "a\r\n..\r\nb\r\n.\r\n"),
  CASE ("dot-after-cr", "a\r.b", "a\r\n..b\r\n.\r\n"),
  CASE ("dot-after-crlf", "\r\n.", "\r\n..\r\n.\r\n"),
  CASE ("dot-then-cr", "\r\n.\r", "\r\n..\r\n.\r\n"),
  CASE ("dot-mid-line", "a.b\n. .\n", "a.b\r\n.. .\r\n.\r\n"),
  CASE ("space-dot", " .x\n", " .x\r\n.\r\n"),
  CASE ("terminator-in-body", "a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n.\r\n"),
  CASE ("8bit", "caf\xc3\xa9\n\xff\r\n", "caf\xc3\xa9\r\n\xff\r\n.\r\n"),
  CASE ("8bit-dot", ".\x80\n", "..\x80\r\n.\r\n"),
  CASE ("nul", "a\0b\n", "a\0b\r\n.\r\n"),
  CASE ("mixed", "H: v\r\n\r\nx\ny\rz\r\n..\n.",
        "H: v\r\n\r\nx\r\ny\r\nz\r\n...\r\n..\r\n.\r\n"),
};

/* Encode @input in the chunks that @cuts (sorted offsets) delimit, with a
 * zero-length call in front of every chunk, checking every output bound.
 * Returns the complete wire form including the terminator. */
static GByteArray *
encode_chunked (const guint8 *input,
                gsize         length,
                const gsize  *cuts,
                gsize         n_cuts,
                gboolean      expect_8bit)
{
  SmtpClientDataEncoder encoder;
  GByteArray *wire = g_byte_array_new ();
  gsize start = 0;
  gsize i;
  guint8 finish[SMTP_CLIENT_DATA_ENCODER_MAX_FINISH + GUARD_SIZE];
  gsize written;

  smtp_client_data_encoder_init (&encoder);

  for (i = 0; i <= n_cuts; i++)
    {
      gsize stop = i < n_cuts ? cuts[i] : length;
      gsize chunk = stop - start;
      gsize room = SMTP_CLIENT_DATA_ENCODER_MAX_OUTPUT (chunk);
      g_autofree guint8 *out = g_malloc (room + GUARD_SIZE);
      gsize k;

      g_assert_cmpuint (stop, >=, start);
      memset (out, GUARD_BYTE, room + GUARD_SIZE);

      g_assert_cmpuint (smtp_client_data_encoder_encode (&encoder,
                                                         input + start, 0,
                                                         out), ==, 0);

      written = smtp_client_data_encoder_encode (&encoder, input + start,
                                                 chunk, out);
      g_assert_cmpuint (written, <=, room);
      for (k = room; k < room + GUARD_SIZE; k++)
        g_assert_cmphex (out[k], ==, GUARD_BYTE);

      g_byte_array_append (wire, out, (guint) written);
      start = stop;
    }

  memset (finish, GUARD_BYTE, sizeof finish);
  written = smtp_client_data_encoder_finish (&encoder, finish);
  g_assert_cmpuint (written, <=, SMTP_CLIENT_DATA_ENCODER_MAX_FINISH);
  for (i = SMTP_CLIENT_DATA_ENCODER_MAX_FINISH; i < sizeof finish; i++)
    g_assert_cmphex (finish[i], ==, GUARD_BYTE);
  g_byte_array_append (wire, finish, (guint) written);

  g_assert_cmpuint (encoder.bytes_in, ==, length);
  g_assert_cmpuint (encoder.bytes_out, ==, wire->len);
  g_assert_cmpint (encoder.has_8bit, ==, expect_8bit);

  return wire;
}

static gboolean
reference_has_8bit (const guint8 *data,
                    gsize         length)
{
  gsize i;

  for (i = 0; i < length; i++)
    {
      if (data[i] >= 0x80)
        return TRUE;
    }
  return FALSE;
}

static void
assert_wire (GByteArray   *wire,
             const guint8 *expected,
             gsize         expected_length)
{
  g_assert_cmpmem (wire->data, wire->len, expected, expected_length);
}

static void
test_encode_case (gconstpointer data)
{
  const EncodeCase *c = data;
  const guint8 *input = (const guint8 *) c->input;
  const guint8 *wire = (const guint8 *) c->wire;
  gsize n = c->input_length;
  gboolean is_8bit = reference_has_8bit (input, n);
  g_autofree gsize *cuts = g_new0 (gsize, n + 2);
  gsize i;
  gsize j;

  g_test_summary ("One input gives the same exact wire bytes in one chunk, "
                  "in two or three chunks split anywhere, and byte by byte");

  /* One chunk */
  {
    g_autoptr(GByteArray) out = encode_chunked (input, n, NULL, 0, is_8bit);
    assert_wire (out, wire, c->wire_length);
  }

  /* Two chunks, split at every position (including the ends) */
  for (i = 0; i <= n; i++)
    {
      g_autoptr(GByteArray) out = NULL;

      cuts[0] = i;
      out = encode_chunked (input, n, cuts, 1, is_8bit);
      assert_wire (out, wire, c->wire_length);
    }

  /* Three chunks, split at every pair of positions */
  for (i = 0; i <= n; i++)
    for (j = i; j <= n; j++)
      {
        g_autoptr(GByteArray) out = NULL;

        cuts[0] = i;
        cuts[1] = j;
        out = encode_chunked (input, n, cuts, 2, is_8bit);
        assert_wire (out, wire, c->wire_length);
      }

  /* One byte at a time */
  for (i = 0; i + 1 < n; i++)
    cuts[i] = i + 1;
  {
    g_autoptr(GByteArray) out = NULL;

    out = encode_chunked (input, n, cuts, n > 0 ? n - 1 : 0, is_8bit);
    assert_wire (out, wire, c->wire_length);
  }

  g_assert_cmpint (smtp_client_data_has_8bit (input, n), ==, is_8bit);
}

static void
test_encoder_init (void)
{
  SmtpClientDataEncoder encoder;
  guint8 out[SMTP_CLIENT_DATA_ENCODER_MAX_FINISH];

  g_test_summary ("A new encoder is at a line start with nothing counted");

  memset (&encoder, 0xff, sizeof encoder);
  smtp_client_data_encoder_init (&encoder);
  g_assert_true (encoder.at_line_start);
  g_assert_false (encoder.pending_cr);
  g_assert_false (encoder.has_8bit);
  g_assert_cmpuint (encoder.bytes_in, ==, 0);
  g_assert_cmpuint (encoder.bytes_out, ==, 0);

  g_assert_cmpuint (smtp_client_data_encoder_finish (&encoder, out), ==, 3);
  g_assert_cmpmem (out, 3, ".\r\n", 3);
  g_assert_cmpuint (encoder.bytes_out, ==, 3);
}

static void
test_encoder_state (void)
{
  SmtpClientDataEncoder encoder;
  guint8 out[SMTP_CLIENT_DATA_ENCODER_MAX_OUTPUT (8)];
  gsize n;

  g_test_summary ("The state between chunks: a pending CR and a line start");

  smtp_client_data_encoder_init (&encoder);

  n = smtp_client_data_encoder_encode (&encoder, (const guint8 *) "ab\r", 3,
                                       out);
  g_assert_cmpmem (out, n, "ab", 2);
  g_assert_true (encoder.pending_cr);

  /* The LF completes the pending CR: one line break, then a line start */
  n = smtp_client_data_encoder_encode (&encoder, (const guint8 *) "\n", 1,
                                       out);
  g_assert_cmpmem (out, n, "\r\n", 2);
  g_assert_false (encoder.pending_cr);
  g_assert_true (encoder.at_line_start);

  n = smtp_client_data_encoder_encode (&encoder, (const guint8 *) ".", 1,
                                       out);
  g_assert_cmpmem (out, n, "..", 2);
  g_assert_false (encoder.at_line_start);

  g_assert_cmpuint (encoder.bytes_in, ==, 5);
  g_assert_cmpuint (encoder.bytes_out, ==, 6);
  g_assert_false (encoder.has_8bit);

  n = smtp_client_data_encoder_encode (&encoder, (const guint8 *) "\xe9", 1,
                                       out);
  g_assert_cmpmem (out, n, "\xe9", 1);
  g_assert_true (encoder.has_8bit);
}

static void
test_max_output (void)
{
  SmtpClientDataEncoder encoder;
  gsize length = 64 * 1024;
  g_autofree guint8 *input = g_malloc (length);
  g_autofree guint8 *out = NULL;
  guint8 small[SMTP_CLIENT_DATA_ENCODER_MAX_OUTPUT (1)];
  guint8 finish[SMTP_CLIENT_DATA_ENCODER_MAX_FINISH];
  gsize n;
  gsize i;

  g_test_summary ("The worst cases reach, and never pass, the documented "
                  "output bounds");

  /* "\n." doubles every byte */
  for (i = 0; i < length; i += 2)
    {
      input[i] = '\n';
      input[i + 1] = '.';
    }
  out = g_malloc (SMTP_CLIENT_DATA_ENCODER_MAX_OUTPUT (length));
  smtp_client_data_encoder_init (&encoder);
  n = smtp_client_data_encoder_encode (&encoder, input, length, out);
  g_assert_cmpuint (n, ==, 2 * length);
  g_assert_cmpuint (n, <=, SMTP_CLIENT_DATA_ENCODER_MAX_OUTPUT (length));

  /* All dots after line breaks, one byte per call */
  smtp_client_data_encoder_init (&encoder);
  for (i = 0; i < 1000; i++)
    {
      n = smtp_client_data_encoder_encode (&encoder, input + (i % 2), 1,
                                           small);
      g_assert_cmpuint (n, <=, sizeof small);
    }

  /* A pending CR followed by a dot: 4 bytes out for 1 byte in */
  smtp_client_data_encoder_init (&encoder);
  n = smtp_client_data_encoder_encode (&encoder, (const guint8 *) "\r", 1,
                                       small);
  g_assert_cmpuint (n, ==, 0);
  n = smtp_client_data_encoder_encode (&encoder, (const guint8 *) ".", 1,
                                       small);
  g_assert_cmpuint (n, ==, SMTP_CLIENT_DATA_ENCODER_MAX_OUTPUT (1));
  g_assert_cmpmem (small, n, "\r\n..", 4);

  /* _finish after a pending CR, and after an unterminated line */
  n = smtp_client_data_encoder_encode (&encoder, (const guint8 *) "\r", 1,
                                       small);
  g_assert_cmpuint (n, ==, 0);
  n = smtp_client_data_encoder_finish (&encoder, finish);
  g_assert_cmpuint (n, ==, SMTP_CLIENT_DATA_ENCODER_MAX_FINISH);
  g_assert_cmpmem (finish, n, "\r\n.\r\n", 5);

  smtp_client_data_encoder_init (&encoder);
  n = smtp_client_data_encoder_encode (&encoder, (const guint8 *) "x", 1,
                                       small);
  n = smtp_client_data_encoder_finish (&encoder, finish);
  g_assert_cmpuint (n, ==, SMTP_CLIENT_DATA_ENCODER_MAX_FINISH);
}

static void
test_has_8bit (void)
{
  guint8 buffer[300];
  gsize length;
  gsize i;

  g_test_summary ("smtp_client_data_has_8bit() finds a high byte anywhere");

  g_assert_false (smtp_client_data_has_8bit (NULL, 0));

  memset (buffer, 0x7f, sizeof buffer);
  for (length = 0; length <= sizeof buffer; length++)
    g_assert_false (smtp_client_data_has_8bit (buffer, length));

  for (length = 1; length <= sizeof buffer; length += 7)
    for (i = 0; i < length; i++)
      {
        buffer[i] = 0x80;
        g_assert_true (smtp_client_data_has_8bit (buffer, length));
        g_assert_false (smtp_client_data_has_8bit (buffer, i));
        g_assert_false (smtp_client_data_has_8bit (buffer + i + 1,
                                                   length - i - 1));
        buffer[i] = 0x7f;
      }
}

/* The encoder written the obvious way, on the whole input at once:
 * normalise line breaks, then stuff dots, then terminate. */
static GByteArray *
reference_encode (const guint8 *input,
                  gsize         length)
{
  g_autoptr(GByteArray) lines = g_byte_array_new ();
  GByteArray *wire = g_byte_array_new ();
  gsize i;

  for (i = 0; i < length; i++)
    {
      if (input[i] == '\r' || input[i] == '\n')
        {
          if (input[i] == '\r' && i + 1 < length && input[i + 1] == '\n')
            i++;
          g_byte_array_append (lines, (const guint8 *) "\r\n", 2);
        }
      else
        {
          g_byte_array_append (lines, input + i, 1);
        }
    }

  for (i = 0; i < lines->len; i++)
    {
      gboolean line_start = i == 0 || (lines->data[i - 1] == '\n'
                                       && lines->data[i - 2] == '\r');

      if (line_start && lines->data[i] == '.')
        g_byte_array_append (wire, (const guint8 *) ".", 1);
      g_byte_array_append (wire, lines->data + i, 1);
    }

  if (wire->len > 0 && (wire->len < 2
                        || memcmp (wire->data + wire->len - 2, "\r\n", 2)))
    g_byte_array_append (wire, (const guint8 *) "\r\n", 2);
  g_byte_array_append (wire, (const guint8 *) ".\r\n", 3);

  return wire;
}

static void
fill_random (guint8 *buffer,
             gsize   length)
{
  /* Line-structure bytes are frequent so every state gets exercised */
  static const guint8 alphabet[] = "\r\n.\r\n.ab \x80\xc3\xff";
  gboolean ascii_only = g_test_rand_bit ();
  gsize i;

  for (i = 0; i < length; i++)
    {
      gint32 top = ascii_only ? 9 : (gint32) sizeof alphabet - 1;

      buffer[i] = alphabet[g_test_rand_int_range (0, top)];
    }
}

static GPtrArray *
random_cuts (gsize length,
             gsize max_chunk)
{
  GPtrArray *cuts = g_ptr_array_new ();
  gsize at = 0;

  while (at < length)
    {
      at += (gsize) g_test_rand_int_range (0, (gint32) max_chunk + 1);
      at = MIN (at, length);
      g_ptr_array_add (cuts, GSIZE_TO_POINTER (at));
    }
  return cuts;
}

static void
check_random (gsize length,
              gsize max_chunk)
{
  g_autofree guint8 *input = g_malloc (MAX (length, 1));
  g_autoptr(GPtrArray) cut_list = NULL;
  g_autofree gsize *cuts = NULL;
  g_autoptr(GByteArray) expected = NULL;
  g_autoptr(GByteArray) wire = NULL;
  guint i;

  fill_random (input, length);
  expected = reference_encode (input, length);

  cut_list = random_cuts (length, max_chunk);
  cuts = g_new0 (gsize, cut_list->len + 1);
  for (i = 0; i < cut_list->len; i++)
    cuts[i] = GPOINTER_TO_SIZE (cut_list->pdata[i]);

  wire = encode_chunked (input, length, cuts, cut_list->len,
                         reference_has_8bit (input, length));
  g_assert_cmpmem (wire->data, wire->len, expected->data, expected->len);
}

static void
test_random_small (void)
{
  guint round;

  g_test_summary ("Random short inputs in random chunks match a simple "
                  "reference encoder");

  for (round = 0; round < 2000; round++)
    {
      gsize length = (gsize) g_test_rand_int_range (0, 200);

      check_random (length, (gsize) g_test_rand_int_range (1, 20));
    }
}

static void
test_random_large (void)
{
  /* Bigger with -m slow; small enough for valgrind otherwise */
  gint32 max_length = g_test_slow () ? 1 << 24 : 1 << 20;
  guint round;

  g_test_summary ("Random large inputs in random chunks match a simple "
                  "reference encoder");

  for (round = 0; round < 3; round++)
    check_random ((gsize) g_test_rand_int_range (max_length / 4, max_length),
                  (gsize) g_test_rand_int_range (1, 1 << 16));
}

int
main (int    argc,
      char **argv)
{
  gsize i;

  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/smtpclient/data-stream/init", test_encoder_init);
  g_test_add_func ("/smtpclient/data-stream/state", test_encoder_state);
  for (i = 0; i < G_N_ELEMENTS (encode_cases); i++)
    {
      g_autofree char *path = NULL;

      path = g_strdup_printf ("/smtpclient/data-stream/encode/%s",
                              encode_cases[i].name);
      g_test_add_data_func (path, &encode_cases[i], test_encode_case);
    }
  g_test_add_func ("/smtpclient/data-stream/max-output", test_max_output);
  g_test_add_func ("/smtpclient/data-stream/has-8bit", test_has_8bit);
  g_test_add_func ("/smtpclient/data-stream/random/small", test_random_small);
  g_test_add_func ("/smtpclient/data-stream/random/large", test_random_large);

  return g_test_run ();
}

/* fuzz-data-stream.c: libFuzzer target for the content encoder, as a
 * round-trip property
 *
 * The first byte seeds the chunk boundaries, the rest is the content.  The
 * content is encoded in those chunks; the output must have only CR LF line
 * ends and end with ".\r\n", and un-stuffing it must give back the content
 * normalised (every bare CR, bare LF and CR LF one CR LF; a final CR LF
 * added when missing), whatever the boundaries.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <stdint.h>
#include <string.h>

#include "smtpclient/smtpclient-data-stream-private.h"

int LLVMFuzzerTestOneInput (const uint8_t *data,
                            size_t         size);

/* What the content must become */
static GByteArray *
normalise (const uint8_t *data,
           size_t         size)
{
  GByteArray *out = g_byte_array_sized_new (size + 2);

  for (size_t i = 0; i < size; i++)
    {
      if (data[i] == '\r')
        {
          g_byte_array_append (out, (const guint8 *) "\r\n", 2);
          if (i + 1 < size && data[i + 1] == '\n')
            i++;
        }
      else if (data[i] == '\n')
        g_byte_array_append (out, (const guint8 *) "\r\n", 2);
      else
        g_byte_array_append (out, &data[i], 1);
    }

  if (out->len > 0 &&
      !(out->len >= 2 && out->data[out->len - 2] == '\r' &&
        out->data[out->len - 1] == '\n'))
    g_byte_array_append (out, (const guint8 *) "\r\n", 2);

  return out;
}

/* The wire form back to content: lines un-stuffed, the final "." gone */
static GByteArray *
unstuff (const guint8 *wire,
         gsize         length)
{
  GByteArray *out = g_byte_array_sized_new (length);
  gsize start = 0;

  g_assert_cmpuint (length, >=, 3);
  g_assert_cmpmem (wire + length - 3, 3, ".\r\n", 3);

  for (gsize i = 0; i + 1 < length; i++)
    {
      /* Only CR LF line ends */
      if (wire[i] == '\n')
        g_assert_true (i > 0 && wire[i - 1] == '\r');
      if (wire[i] == '\r')
        g_assert_true (wire[i + 1] == '\n');

      if (wire[i] == '\r' && wire[i + 1] == '\n')
        {
          const guint8 *line = wire + start;
          gsize line_length = i - start;

          if (i + 2 == length)
            {
              /* The final line is the lone "." */
              g_assert_cmpuint (line_length, ==, 1);
              g_assert_cmpint (line[0], ==, '.');
              break;
            }
          if (line_length > 0 && line[0] == '.')
            {
              /* A stuffed line: it had its own dot */
              g_assert_cmpuint (line_length, >=, 2);
              g_assert_cmpint (line[1], ==, '.');
              line++;
              line_length--;
            }
          g_byte_array_append (out, line, line_length);
          g_byte_array_append (out, (const guint8 *) "\r\n", 2);
          start = i + 2;
          i++;
        }
    }

  return out;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  SmtpClientDataEncoder encoder;
  g_autoptr(GByteArray) wire = NULL;
  g_autoptr(GByteArray) expected = NULL;
  g_autoptr(GByteArray) back = NULL;
  GRand *rand;
  size_t offset = 1;
  gsize length;

  if (size < 1)
    return 0;

  rand = g_rand_new_with_seed (data[0]);
  wire = g_byte_array_new ();
  smtp_client_data_encoder_init (&encoder);

  while (offset < size)
    {
      /* (Not inside MIN (): it would draw twice) */
      size_t draw = (size_t) g_rand_int_range (rand, 1, 9);
      size_t chunk = MIN (draw, size - offset);

      length = wire->len;
      g_byte_array_set_size (wire, length + SMTP_CLIENT_DATA_ENCODER_MAX_OUTPUT (chunk));
      length += smtp_client_data_encoder_encode (&encoder, data + offset, chunk,
                                                 wire->data + length);
      g_byte_array_set_size (wire, length);
      offset += chunk;
    }
  length = wire->len;
  g_byte_array_set_size (wire, length + SMTP_CLIENT_DATA_ENCODER_MAX_FINISH);
  length += smtp_client_data_encoder_finish (&encoder, wire->data + length);
  g_byte_array_set_size (wire, length);
  g_rand_free (rand);

  g_assert_cmpuint (encoder.bytes_in, ==, size - 1);
  g_assert_cmpint (encoder.has_8bit, ==,
                   smtp_client_data_has_8bit (data + 1, size - 1));

  expected = normalise (data + 1, size - 1);
  back = unstuff (wire->data, wire->len);
  g_assert_cmpmem (back->data, back->len, expected->data, expected->len);

  return 0;
}

/* smtpclient-data-stream.c: message content to the DATA wire form
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * This is the hot path of a delivery: every byte of the message passes
 * through smtp_client_data_encoder_encode().  The loop therefore never
 * looks at ordinary bytes one by one: memchr() finds the next CR and the
 * next LF (each position is remembered until it has been passed, so every
 * byte is scanned at most once per character), and the run of ordinary
 * bytes before it is copied with one memcpy().  A '.' needs stuffing only
 * as the first byte of a line, and a line only starts right after a line
 * break, so it is checked there and nowhere else.
 *
 * State carried from one chunk to the next:
 *  - pending_cr: the chunk ended with CR; whether it is a CR LF or a bare
 *    CR is decided by the first byte of the next chunk (or by _finish).
 *    Either way it becomes one CR LF.
 *  - at_line_start: the next byte is the first of a line, so a '.' there
 *    gets doubled.
 */

#include "config.h"

#include <string.h>

#include "smtpclient-data-stream-private.h"

void
smtp_client_data_encoder_init_mode (SmtpClientDataEncoder *encoder,
                                    SmtpClientDataMode     mode)
{
  g_return_if_fail (encoder != NULL);

  memset (encoder, 0, sizeof *encoder);
  encoder->mode = mode;
  encoder->at_line_start = TRUE;
}

void
smtp_client_data_encoder_init (SmtpClientDataEncoder *encoder)
{
  smtp_client_data_encoder_init_mode (encoder, SMTP_CLIENT_DATA_MODE_DATA);
}

/* The first @byte in [@from, @end), or @end if there is none */
static inline const guint8 *
find_byte (const guint8 *from,
           const guint8 *end,
           guint8        byte)
{
  const guint8 *found = memchr (from, byte, (gsize) (end - from));

  return found != NULL ? found : end;
}

gsize
smtp_client_data_encoder_encode (SmtpClientDataEncoder *encoder,
                                 const guint8          *input,
                                 gsize                  length,
                                 guint8                *output)
{
  const guint8 *p = input;
  const guint8 *end;
  const guint8 *next_cr;
  const guint8 *next_lf;
  guint8 *out = output;
  gboolean at_line_start;

  g_return_val_if_fail (encoder != NULL, 0);
  g_return_val_if_fail (input != NULL || length == 0, 0);
  g_return_val_if_fail (output != NULL || length == 0, 0);

  if (length == 0)
    return 0;

  end = input + length;
  encoder->bytes_in += length;
  if (!encoder->has_8bit)
    encoder->has_8bit = smtp_client_data_has_8bit (input, length);

  if (encoder->mode == SMTP_CLIENT_DATA_MODE_BINARY)
    {
      memcpy (out, input, length);
      encoder->bytes_out += length;
      return length;
    }

  at_line_start = encoder->at_line_start;

  /* A CR at the end of the previous chunk: one line break, whether or not
   * this chunk starts with its LF. */
  if (encoder->pending_cr)
    {
      encoder->pending_cr = FALSE;
      *out++ = '\r';
      *out++ = '\n';
      if (*p == '\n')
        p++;
      at_line_start = TRUE;
    }

  next_cr = find_byte (p, end, '\r');
  next_lf = find_byte (p, end, '\n');

  while (p < end)
    {
      const guint8 *stop;
      gsize run;

      if (at_line_start)
        {
          if (*p == '.' && encoder->mode == SMTP_CLIENT_DATA_MODE_DATA)
            *out++ = '.';
          at_line_start = FALSE;
        }

      if (next_cr < p)
        next_cr = find_byte (p, end, '\r');
      if (next_lf < p)
        next_lf = find_byte (p, end, '\n');
      stop = MIN (next_cr, next_lf);

      run = (gsize) (stop - p);
      memcpy (out, p, run);
      out += run;
      p = stop;

      if (p == end)
        break;

      if (*p == '\r')
        {
          p++;
          if (p == end)
            {
              /* Decided by the next chunk or by _finish */
              encoder->pending_cr = TRUE;
              break;
            }
          if (*p == '\n')
            p++;
        }
      else
        {
          p++;
        }

      *out++ = '\r';
      *out++ = '\n';
      at_line_start = TRUE;
    }

  encoder->at_line_start = at_line_start;
  encoder->bytes_out += (guint64) (out - output);

  return (gsize) (out - output);
}

gsize
smtp_client_data_encoder_finish (SmtpClientDataEncoder *encoder,
                                 guint8                *output)
{
  guint8 *out = output;

  g_return_val_if_fail (encoder != NULL, 0);
  g_return_val_if_fail (output != NULL, 0);

  if (encoder->mode == SMTP_CLIENT_DATA_MODE_BINARY)
    return 0;

  if (encoder->pending_cr || !encoder->at_line_start)
    {
      *out++ = '\r';
      *out++ = '\n';
    }
  if (encoder->mode == SMTP_CLIENT_DATA_MODE_DATA)
    {
      *out++ = '.';
      *out++ = '\r';
      *out++ = '\n';
    }

  encoder->pending_cr = FALSE;
  encoder->at_line_start = TRUE;
  encoder->bytes_out += (guint64) (out - output);

  return (gsize) (out - output);
}

gboolean
smtp_client_data_has_8bit (const guint8 *data,
                           gsize         length)
{
  const guint64 high_bits = G_GUINT64_CONSTANT (0x8080808080808080);
  gsize i = 0;

  g_return_val_if_fail (data != NULL || length == 0, FALSE);

  /* Eight words at a time, OR-ed together: the compiler keeps this in
   * registers (or vectorises it), and the test runs once per 64 bytes. */
  while (length - i >= 64)
    {
      guint64 words[8];
      guint64 any = 0;
      guint k;

      memcpy (words, data + i, sizeof words);
      for (k = 0; k < G_N_ELEMENTS (words); k++)
        any |= words[k];
      if ((any & high_bits) != 0)
        return TRUE;
      i += 64;
    }

  for (; i < length; i++)
    {
      if ((data[i] & 0x80) != 0)
        return TRUE;
    }

  return FALSE;
}

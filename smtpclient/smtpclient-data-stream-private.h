/* smtpclient-data-stream-private.h: message content to the DATA wire form
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A pure, incremental encoder: bytes in, wire bytes out, no sockets and no
 * allocation.  For DATA it normalises bare LF and bare CR to CR LF,
 * dot-stuffs lines that start with '.', and on finish adds the final CR LF
 * when missing and the terminating ".\r\n".  For BDAT (RFC 3030) it only
 * normalises line ends (and adds the final CR LF); for BINARYMIME it copies
 * the bytes as they are.  Chunk boundaries may fall anywhere (between CR
 * and LF, right before a '.'), the output is the same as for one chunk.
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  SMTP_CLIENT_DATA_MODE_DATA,    /* CR LF, dot-stuffing, ".\r\n" */
  SMTP_CLIENT_DATA_MODE_BDAT,    /* CR LF only */
  SMTP_CLIENT_DATA_MODE_BINARY,  /* the bytes as they are */
} SmtpClientDataMode;

typedef struct
{
  /*< private >*/
  SmtpClientDataMode mode;
  gboolean at_line_start;   /* next byte starts a line (initially TRUE) */
  gboolean pending_cr;      /* last input byte was CR, not yet written */
  gboolean has_8bit;        /* some input byte was >= 0x80 */
  guint64  bytes_in;        /* input bytes consumed */
  guint64  bytes_out;       /* output bytes produced (including finish) */
} SmtpClientDataEncoder;

/* Worst-case output size for @length input bytes given to _encode */
#define SMTP_CLIENT_DATA_ENCODER_MAX_OUTPUT(length) (2 * (gsize) (length) + 2)
/* Worst-case output size of _finish */
#define SMTP_CLIENT_DATA_ENCODER_MAX_FINISH 5

/* For DATA */
void  smtp_client_data_encoder_init   (SmtpClientDataEncoder *encoder);
void  smtp_client_data_encoder_init_mode (SmtpClientDataEncoder *encoder,
                                          SmtpClientDataMode     mode);

/* Encode @length bytes of @input into @output, which must have room for
 * SMTP_CLIENT_DATA_ENCODER_MAX_OUTPUT (@length) bytes.  Returns the number
 * of bytes written to @output. */
gsize smtp_client_data_encoder_encode (SmtpClientDataEncoder *encoder,
                                       const guint8          *input,
                                       gsize                  length,
                                       guint8                *output);

/* Flush a pending CR, add CR LF if the content did not end with one (an
 * empty content gets none), then, for DATA, ".\r\n"; nothing for
 * BINARYMIME.  @output needs room for SMTP_CLIENT_DATA_ENCODER_MAX_FINISH
 * bytes.  Returns bytes written. */
gsize smtp_client_data_encoder_finish (SmtpClientDataEncoder *encoder,
                                       guint8                *output);

/* TRUE if any byte seen so far is >= 0x80 */
gboolean smtp_client_data_has_8bit    (const guint8 *data, gsize length);

G_END_DECLS

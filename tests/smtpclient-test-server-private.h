/* smtpclient-test-server-private.h: the insides of the scripted server,
 * shared by smtpclient-test-server.c (the script, the connections) and
 * smtpclient-test-serve.c (SERVE)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

#include "smtpclient-test-server.h"

G_BEGIN_DECLS

typedef struct
{
  guint       index;
  GByteArray *received;
  GPtrArray  *commands;    /* of char* */
  gboolean    done;
  GSocket    *socket;      /* while playing, to stop it */
} Record;

struct _SmtpTestScriptServer
{
  GPtrArray       *parts;      /* of GPtrArray of Directive */
  GThread         *thread;
  GMainContext    *context;
  GMainLoop       *loop;
  GSocketService  *service;
  guint            port;

  GMutex           mutex;
  GCond            cond;
  GPtrArray       *records;    /* of Record*, in the order of accept */
  GPtrArray       *messages;   /* of GBytes */
  GArray          *mail_times; /* of gint64: MAIL commands SERVE got */
  guint            served;     /* messages SERVE accepted, all connections */
  gint64           throttle_until;  /* SERVE THROTTLE: monotonic, 0 not yet */
  char            *failure;
  guint            active;     /* connections being played */
  gboolean         stopping;
  gboolean         listening;
};

typedef struct
{
  SmtpTestScriptServer *server;
  Record               *record;
  GSocket              *socket;
  GIOStream            *stream;     /* the connection, or TLS on it */
  GIOStream            *base;
  GByteArray           *buffer;     /* read, not taken yet from "taken" on */
  gsize                 taken;
  gboolean              eof;        /* the client closed (or reset) */
  gboolean              timed_out;  /* it said nothing for too long */
  gboolean              closed;     /* we closed */
  gboolean              is_tls;
} Peer;

/* The connection's helpers (smtpclient-test-server.c): every wait
 * bounded; FALSE or NULL at the end, on an error or a time-out */
void     peer_fail          (Peer         *peer,
                             guint         line,
                             const char   *format,
                             ...) G_GNUC_PRINTF (3, 4);
gboolean peer_receive       (Peer         *peer);
char    *peer_read_line     (Peer         *peer);
void     peer_note_command  (Peer         *peer,
                             const char   *line);
gboolean peer_send          (Peer         *peer,
                             const guint8 *data,
                             gsize         length);
gboolean peer_send_line     (Peer         *peer,
                             const char   *line);
void     peer_close         (Peer         *peer,
                             gboolean      reset);
GBytes  *peer_read_content  (Peer         *peer);
GBytes  *peer_read_bytes    (Peer         *peer,
                             gsize         length);
void     peer_keep_message  (Peer         *peer,
                             GBytes       *content);
gboolean peer_start_tls     (Peer         *peer,
                             guint         line);

/* smtpclient-test-serve.c */
void     serve              (Peer         *peer,
                             const char   *flags);

/* smtpclient-test-scram.c */
gboolean scram_serve        (Peer         *peer,
                             const char   *arguments,
                             guint         line);

G_END_DECLS

/* test-fault-matrix.c: every stage of a delivery × every fault a server
 * can throw at it, one-shot and through a session, with and without
 * PIPELINING, against the in-process scripted server; the transaction's
 * stages (MAIL to QUIT, pipelined) once more over implicit TLS, where the
 * faults come to the client through GnuTLS
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Stages: connect, greeting, EHLO, HELO, STARTTLS, the TLS handshake, the
 * three AUTH LOGIN steps, MAIL, RCPT, DATA, the content, the end of data,
 * RSET, QUIT.  Faults: close, reset (RST), 421, 4yz, 5yz, 1yz, a wrong
 * 2yz/3yz, a garbage line, an over-long line, an unsolicited extra line,
 * silence, a reply dripped one byte at a time (and, to connect, nobody
 * listening).
 *
 * For every cell: exactly one signal; the error kind SPEC gives;
 * get_reply_code() is the deciding reply; delivery-state; after a 421 or
 * an unasked 221 nothing but QUIT, after a protocol error nothing at all;
 * no content after a failure reply; an outcome well before the timeout
 * unless the fault is silence.  Through a session with five tasks: every
 * task ends exactly once, the ones the fault did not touch are delivered
 * exactly once, and no message reported not sent is in the server's
 * store.
 */

#include "config.h"

#include <string.h>

#include "smtpclient-test-server.h"
#include "smtpclient-test-utils.h"

typedef enum
{
  STAGE_CONNECT,
  STAGE_GREETING,
  STAGE_EHLO,
  STAGE_HELO,
  STAGE_STARTTLS,
  STAGE_HANDSHAKE,
  STAGE_AUTH_1,
  STAGE_AUTH_2,
  STAGE_AUTH_3,
  STAGE_MAIL,
  STAGE_RCPT,
  STAGE_DATA,
  STAGE_CONTENT,
  STAGE_END,
  STAGE_RSET,
  STAGE_QUIT,
  N_STAGES
} Stage;

static const char * const stage_names[N_STAGES] = {
  "connect", "greeting", "ehlo", "helo", "starttls", "handshake", "auth-1",
  "auth-2", "auth-3", "mail", "rcpt", "data", "content", "end", "rset",
  "quit",
};

typedef enum
{
  FAULT_CLOSE,
  FAULT_RESET,
  FAULT_421,
  FAULT_4YZ,
  FAULT_5YZ,
  FAULT_1YZ,
  FAULT_WRONG,
  FAULT_GARBAGE,
  FAULT_LONG,
  FAULT_EXTRA,
  FAULT_SILENCE,
  FAULT_DRIP,
  FAULT_REFUSED,
  N_FAULTS
} Fault;

static const char * const fault_names[N_FAULTS] = {
  "close", "reset", "421", "4yz", "5yz", "1yz", "wrong", "garbage",
  "long", "extra", "silence", "drip", "refused",
};

typedef struct
{
  Stage    stage;
  Fault    fault;
  gboolean pipelining;
  gboolean session;
  gboolean tls;         /* implicit TLS: the faults come through GnuTLS */
} Cell;

/* What the first task's outcome must be */
typedef enum
{
  AFTER_ANY,      /* the conversation goes on */
  AFTER_NOTHING,  /* the client sends nothing more */
  AFTER_QUIT,     /* nothing but QUIT */
} After;

typedef struct
{
  gboolean                success;
  GQuark                  domain;      /* 0: a network or TLS error */
  int                     code;
  gboolean                check_reply;
  guint                   reply_code;
  SmtpClientDeliveryState state;
  After                   after;
  gboolean                no_content;  /* its content never went out */
} Expected;

/* The task's timeout, and the bound on how long a cell whose fault is not
 * silence may take (on a fast machine, milliseconds); times
 * SMTPCLIENT_TEST_SLOWDOWN when that is set (the valgrind setup sets 3:
 * a TLS handshake alone takes seconds there) */
#define TIMEOUT_SECONDS         5
#define SILENCE_TIMEOUT_SECONDS 1
#define N_SESSION_TASKS         5
#define BIG_CONTENT             (16 * 1024 * 1024)

/* The client's timeout in a cell: short where the fault is silence (then
 * longer under valgrind, where a later connection's TLS handshake alone
 * takes more than a second); otherwise well under the scripted server's
 * own bound on its waits (SMTP_TEST_SERVER_WAIT), since some cells end
 * by it (a reply taken for another leaves the client waiting) */
static guint
cell_timeout (const Cell *cell)
{
  return cell->fault == FAULT_SILENCE
         ? SILENCE_TIMEOUT_SECONDS * smtp_test_slowdown ()
         : TIMEOUT_SECONDS;
}

/* ---------------------------------------------------------------------- */
/* Replies */

static const char *
refusal (Stage stage,
         Fault fault)
{
  static const char * const transient[N_STAGES] = {
    NULL, "454 4.3.0 busy", "451 4.3.0 busy", "451 4.3.0 busy",
    "454 4.7.0 no TLS now", "454 4.7.0 try later", "454 4.7.0 try later",
    "454 4.7.0 try later", "454 4.7.0 try later", "451 4.3.0 busy",
    "450 4.2.0 mailbox busy", "451 4.3.0 busy", "451 4.3.0 stop",
    "451 4.3.0 try later", "451 4.3.0 busy", "451 4.3.0 busy",
  };
  static const char * const permanent[N_STAGES] = {
    NULL, "554 5.3.2 no service", "554 5.5.1 no", "554 5.5.1 no",
    "554 5.7.0 no TLS", "554 5.7.0 no", "535 5.7.8 bad credentials",
    "535 5.7.8 bad credentials", "535 5.7.8 bad credentials",
    "553 5.1.8 bad sender", "550 5.1.1 no such user", "554 5.5.1 no data",
    "552 5.3.4 too big", "554 5.6.0 rejected", "502 5.5.1 no",
    "502 5.5.1 no",
  };

  return fault == FAULT_4YZ ? transient[stage] : permanent[stage];
}

/* A 2yz or 3yz (or 1yz) that is not what the command expects */
static const char *
wrong_reply (Stage stage)
{
  static const char * const wrong[N_STAGES] = {
    NULL, "250 hello?", "220 hello?", "221 bye?", "250 ok?", NULL,
    "250 ok?", "250 ok?", "250 ok?", "354 go?", "220 what?", "250 ok?",
    "250 ok?", "354 more?", "354 what?", "250 ok?",
  };

  return wrong[stage];
}

static guint
code_of (const char *reply)
{
  return (guint) g_ascii_strtoull (reply, NULL, 10);
}

static gboolean
cell_applies (const Cell *cell)
{
  Stage stage = cell->stage;
  Fault fault = cell->fault;

  /* Over TLS too: a close or reset before the handshake, nobody there */
  if (stage == STAGE_CONNECT)
    return (fault == FAULT_CLOSE || fault == FAULT_RESET ||
            fault == FAULT_REFUSED) &&
           !(fault == FAULT_REFUSED && cell->session);
  if (fault == FAULT_REFUSED)
    return FALSE;

  /* Over TLS, then, the transaction's stages, pipelined as real servers
   * offer it: the set-up's own faults are the plain cells' */
  if (cell->tls && (stage < STAGE_MAIL || !cell->pipelining))
    return FALSE;

  /* The set-up knows no PIPELINING: one variant is enough */
  if (stage < STAGE_MAIL && cell->pipelining)
    return FALSE;

  if (stage == STAGE_HANDSHAKE)
    return fault == FAULT_CLOSE || fault == FAULT_RESET ||
           fault == FAULT_GARBAGE || fault == FAULT_SILENCE;

  /* Mid-content a reply is an early one; nothing to drip into */
  if (stage == STAGE_CONTENT)
    return fault != FAULT_EXTRA && fault != FAULT_DRIP;

  /* Only a session resets a connection after a failed transaction */
  if (stage == STAGE_RSET)
    return cell->session;

  return TRUE;
}

/* ---------------------------------------------------------------------- */
/* Scripts */

typedef struct
{
  GString    *script;
  const Cell *cell;
  guint       commands;   /* sent by the client before the fault */
  gboolean    faulted;
} Builder;

static void
add (Builder    *b,
     const char *format,
     ...) G_GNUC_PRINTF (2, 3);

static void
add (Builder    *b,
     const char *format,
     ...)
{
  va_list args;

  va_start (args, format);
  g_string_append_vprintf (b->script, format, args);
  va_end (args);
  g_string_append_c (b->script, '\n');
}

/* The client's command */
static void
expect (Builder    *b,
        const char *glob)
{
  add (b, "C %s", glob);
  b->commands++;
}

static const char *
serve (const Cell *cell)
{
  /* What the settings of the cell need of a server */
  if (cell->stage == STAGE_STARTTLS || cell->stage == STAGE_HANDSHAKE)
    return "SERVE STARTTLS";
  if (cell->stage >= STAGE_AUTH_1 && cell->stage <= STAGE_AUTH_3)
    return "SERVE AUTH";
  return cell->pipelining ? "SERVE PIPELINING" : "SERVE";
}

/* After a refusal the client carries on (QUIT, RSET, the next task) */
static void
carry_on (Builder *b,
          Stage    stage)
{
  const Cell *cell = b->cell;

  if (stage == STAGE_CONTENT || stage == STAGE_QUIT)
    {
      add (b, "EXPECT-CLOSE");
      return;
    }

  /* The replies still due in the pipelined group */
  if (cell->pipelining && stage == STAGE_MAIL)
    {
      add (b, "S 503 5.5.1 need MAIL");
      add (b, "S 503 5.5.1 need RCPT");
    }
  else if (cell->pipelining && stage == STAGE_RCPT)
    add (b, "S 554 5.5.1 no valid recipients");

  add (b, "%s", serve (cell));
}

/* The replies the client would take for those still due after an extra
 * line (they shift by one) */
static void
after_extra (Builder *b,
             Stage    stage)
{
  if (b->cell->pipelining && stage == STAGE_MAIL)
    {
      add (b, "S 250 2.1.5 ok");
      add (b, "S 354 go ahead");
    }
  add (b, "EXPECT-CLOSE");
}

/* At @stage the server owes @lines (the normal reply); if the cell's
 * fault is there, throw it instead and end the part: TRUE */
static gboolean
reply (Builder            *b,
       Stage               stage,
       const char * const *lines)
{
  const Cell *cell = b->cell;

  if (cell->stage != stage || b->faulted)
    {
      for (guint i = 0; lines[i] != NULL; i++)
        add (b, "S %s", lines[i]);
      return FALSE;
    }

  switch (cell->fault)
    {
    case FAULT_DRIP:
      for (guint i = 0; lines[i] != NULL; i++)
        add (b, "SBYTES %s", lines[i]);
      return FALSE;

    case FAULT_CLOSE:
      add (b, "CLOSE");
      break;

    case FAULT_RESET:
      add (b, "RESET");
      break;

    case FAULT_SILENCE:
      if (stage == STAGE_CONTENT)
        {
          /* Reading nothing more: the client's writes stall */
          add (b, "SLEEP %u", (cell_timeout (b->cell) + 2) * 1000);
          add (b, "CLOSE");
        }
      else
        add (b, "EXPECT-CLOSE");
      break;

    case FAULT_421:
      add (b, "S 421 4.3.2 matrix shutting down");
      add (b, "EXPECT-CLOSE");
      break;

    case FAULT_4YZ:
    case FAULT_5YZ:
      add (b, "S %s", refusal (stage, cell->fault));
      carry_on (b, stage);
      break;

    case FAULT_1YZ:
      add (b, "S 150 what?");
      add (b, "EXPECT-CLOSE");
      break;

    case FAULT_WRONG:
      add (b, "S %s", wrong_reply (stage));
      add (b, "EXPECT-CLOSE");
      break;

    case FAULT_GARBAGE:
      add (b, "S garbage here");
      add (b, "EXPECT-CLOSE");
      break;

    case FAULT_LONG:
      add (b, "SLONG 5000 250-");
      add (b, "EXPECT-CLOSE");
      break;

    case FAULT_EXTRA:
      {
        /* In the same write as the reply: it has come before the client
         * could send anything it might answer */
        GString *raw = g_string_new ("SRAW ");

        for (guint i = 0; lines[i] != NULL; i++)
          g_string_append_printf (raw, "%s\\r\\n", lines[i]);
        g_string_append (raw, "250 extra\\r\\n");
        add (b, "%s", raw->str);
        g_string_free (raw, TRUE);
        after_extra (b, stage);
      }
      break;

    case FAULT_REFUSED:
    case N_FAULTS:
    default:
      g_assert_not_reached ();
    }

  b->faulted = TRUE;
  return TRUE;
}

#define LINES(...) ((const char * const[]) { __VA_ARGS__, NULL })

/* The first task's conversation up to the fault */
static void
build_first_part (Builder *b)
{
  const Cell *cell = b->cell;
  Stage stage = cell->stage;

  if (stage == STAGE_CONNECT)
    {
      add (b, cell->fault == FAULT_RESET ? "RESET" : "CLOSE");
      b->faulted = TRUE;
      return;
    }

  if (cell->tls)
    add (b, "TLS");
  if (reply (b, STAGE_GREETING, LINES ("220 matrix ESMTP")))
    return;
  expect (b, "EHLO *");

  if (stage == STAGE_HELO)
    {
      add (b, "S 502 5.5.2 no EHLO");
      expect (b, "HELO *");
      if (reply (b, STAGE_HELO, LINES ("250 matrix")))
        return;
    }
  else if (stage == STAGE_STARTTLS || stage == STAGE_HANDSHAKE)
    {
      if (reply (b, STAGE_EHLO, LINES ("250-matrix", "250 STARTTLS")))
        return;
      expect (b, "STARTTLS");
      if (reply (b, STAGE_STARTTLS, LINES ("220 2.0.0 ready")))
        return;
      if (stage == STAGE_HANDSHAKE)
        {
          /* Instead of a ServerHello: once the ClientHello is in (sent
           * with the 220, the fault would be an injection instead) */
          add (b, "CANY");
          reply (b, STAGE_HANDSHAKE, LINES ("unused"));
          return;
        }
      add (b, "STARTTLS");
      add (b, "%s", serve (cell));
      return;
    }
  else if (stage >= STAGE_AUTH_1 && stage <= STAGE_AUTH_3)
    {
      if (reply (b, STAGE_EHLO, LINES ("250-matrix", "250 AUTH LOGIN")))
        return;
      expect (b, "AUTH LOGIN");
      if (reply (b, STAGE_AUTH_1, LINES ("334 VXNlcm5hbWU6")))
        return;
      expect (b, "bWF0cml4");
      if (reply (b, STAGE_AUTH_2, LINES ("334 UGFzc3dvcmQ6")))
        return;
      expect (b, "c2VjcmV0");
      if (reply (b, STAGE_AUTH_3, LINES ("235 2.7.0 ok")))
        return;
      add (b, "%s", serve (cell));
      return;
    }
  else if (cell->pipelining)
    {
      if (reply (b, STAGE_EHLO, LINES ("250-matrix", "250 PIPELINING")))
        return;
    }
  else if (reply (b, STAGE_EHLO, LINES ("250 matrix")))
    return;

  /* The envelope: one command at a time, or all at once */
  if (stage == STAGE_RSET)
    {
      /* A refused recipient fails the first task; the session resets */
      expect (b, "MAIL FROM:<*>*");
      if (cell->pipelining)
        {
          expect (b, "RCPT TO:<*>*");
          expect (b, "DATA");
          add (b, "S 250 2.1.0 ok");
          add (b, "S 550 5.1.1 no such user");
          add (b, "S 554 5.5.1 no valid recipients");
        }
      else
        {
          add (b, "S 250 2.1.0 ok");
          expect (b, "RCPT TO:<*>*");
          add (b, "S 550 5.1.1 no such user");
        }
      expect (b, "RSET");
      if (reply (b, STAGE_RSET, LINES ("250 2.0.0 ok")))
        return;
      add (b, "%s", serve (cell));
      return;
    }

  if (stage == STAGE_QUIT)
    {
      /* Every task delivered; the goodbye fails */
      add (b, "%s NOQUIT", serve (cell));
      b->commands = 0;
      reply (b, STAGE_QUIT, LINES ("221 2.0.0 bye"));
      if (!b->faulted)
        add (b, "EXPECT-CLOSE");
      return;
    }

  expect (b, "MAIL FROM:<*>*");
  if (cell->pipelining)
    {
      expect (b, "RCPT TO:<*>*");
      expect (b, "DATA");
      if (reply (b, STAGE_MAIL, LINES ("250 2.1.0 ok")) ||
          reply (b, STAGE_RCPT, LINES ("250 2.1.5 ok")) ||
          reply (b, STAGE_DATA, LINES ("354 go ahead")))
        return;
    }
  else
    {
      if (reply (b, STAGE_MAIL, LINES ("250 2.1.0 ok")))
        return;
      expect (b, "RCPT TO:<*>*");
      if (reply (b, STAGE_RCPT, LINES ("250 2.1.5 ok")))
        return;
      expect (b, "DATA");
      if (reply (b, STAGE_DATA, LINES ("354 go ahead")))
        return;
    }

  if (stage == STAGE_CONTENT)
    {
      add (b, "CPART");
      reply (b, STAGE_CONTENT, LINES ("unused"));
      return;
    }

  add (b, "CDATA");
  if (reply (b, STAGE_END, LINES ("250 2.0.0 queued as MATRIX")))
    return;

  /* The first task is done: a well-behaved server for the rest (and
   * QUIT) */
  add (b, "%s", serve (cell));
}

static char *
build_script (const Cell *cell,
              guint      *commands_before)
{
  Builder b = { g_string_new (NULL), cell, 0, FALSE };

  build_first_part (&b);
  *commands_before = b.commands;

  /* Later connections (a session's, after the faulty one) */
  add (&b, "===");
  if (cell->tls)
    add (&b, "TLS");
  add (&b, "S 220 serve ESMTP");
  add (&b, "%s", serve (cell));

  return g_string_free (b.script, FALSE);
}

/* ---------------------------------------------------------------------- */
/* Expectations */

static Expected
expected_outcome (const Cell *cell)
{
  Stage stage = cell->stage;
  Fault fault = cell->fault;
  Expected e = { FALSE, 0, 0, TRUE, 0, SMTP_CLIENT_DELIVERY_STATE_NOT_SENT,
                 AFTER_ANY, FALSE };
  gboolean before_content = stage < STAGE_CONTENT;

  /* The first task failed on its refused recipient before the fault */
  if (stage == STAGE_RSET)
    {
      e.domain = SMTP_CLIENT_ERROR;
      e.code = SMTP_CLIENT_ERROR_SERVER;
      e.reply_code = 550;
      e.state = SMTP_CLIENT_DELIVERY_STATE_REFUSED;
      e.no_content = TRUE;
      return e;
    }

  /* What the fault cannot touch: the first task was done before it */
  if (stage == STAGE_QUIT || fault == FAULT_DRIP ||
      (fault == FAULT_EXTRA && stage == STAGE_END))
    {
      e.success = TRUE;
      e.check_reply = TRUE;
      e.reply_code = 250;
      e.state = SMTP_CLIENT_DELIVERY_STATE_ACCEPTED;
      return e;
    }

  e.no_content = before_content;

  switch (fault)
    {
    case FAULT_CLOSE:
    case FAULT_RESET:
    case FAULT_REFUSED:
      e.domain = 0;
      e.reply_code = 0;
      e.after = AFTER_NOTHING;
      break;

    case FAULT_SILENCE:
      e.domain = SMTP_CLIENT_ERROR;
      e.code = SMTP_CLIENT_ERROR_TIMEOUT;
      e.reply_code = 0;
      e.after = AFTER_NOTHING;
      break;

    case FAULT_421:
      e.domain = SMTP_CLIENT_ERROR;
      e.code = SMTP_CLIENT_ERROR_SERVER;
      e.reply_code = 421;
      /* Mid-content it cannot even say QUIT */
      e.after = stage == STAGE_CONTENT ? AFTER_NOTHING : AFTER_QUIT;
      break;

    case FAULT_4YZ:
    case FAULT_5YZ:
      e.domain = SMTP_CLIENT_ERROR;
      e.code = stage == STAGE_STARTTLS ? SMTP_CLIENT_ERROR_TLS_UNAVAILABLE
               : (stage >= STAGE_AUTH_1 && stage <= STAGE_AUTH_3)
               ? SMTP_CLIENT_ERROR_AUTH_FAILED : SMTP_CLIENT_ERROR_SERVER;
      e.reply_code = code_of (refusal (stage, fault));
      e.after = stage == STAGE_CONTENT ? AFTER_NOTHING
                : cell->session && stage >= STAGE_MAIL ? AFTER_ANY
                : AFTER_QUIT;
      break;

    case FAULT_1YZ:
    case FAULT_WRONG:
      e.domain = SMTP_CLIENT_ERROR;
      e.code = SMTP_CLIENT_ERROR_PROTOCOL;
      e.reply_code = fault == FAULT_1YZ ? 150 : code_of (wrong_reply (stage));
      /* An unasked 221: nothing but QUIT; anything else: nothing */
      e.after = e.reply_code == 221 ? AFTER_QUIT : AFTER_NOTHING;
      break;

    case FAULT_GARBAGE:
    case FAULT_LONG:
      e.domain = stage == STAGE_HANDSHAKE ? 0 : SMTP_CLIENT_ERROR;
      e.code = SMTP_CLIENT_ERROR_PROTOCOL;
      e.reply_code = 0;
      e.after = AFTER_NOTHING;
      break;

    case FAULT_EXTRA:
      /* Which reply it is taken for depends on the pipeline */
      e.domain = SMTP_CLIENT_ERROR;
      e.code = SMTP_CLIENT_ERROR_PROTOCOL;
      e.check_reply = FALSE;
      e.after = AFTER_NOTHING;
      break;

    case FAULT_DRIP:
    case N_FAULTS:
    default:
      g_assert_not_reached ();
    }

  /* The TLS handshake's own bytes and the content already on its way are
   * not commands: what matters there is that the message never ends
   * (checked below) */
  if (stage == STAGE_HANDSHAKE || stage == STAGE_CONTENT)
    e.after = AFTER_ANY;

  /* The next task's envelope goes out with the end of data (RFC 2920
   * §3.1), before any reply to it */
  if (cell->session && cell->pipelining && stage == STAGE_END)
    e.after = AFTER_ANY;

  /* Delivery state: what reached the server */
  if (stage == STAGE_END)
    e.state = (fault == FAULT_421 || fault == FAULT_4YZ || fault == FAULT_5YZ)
              ? SMTP_CLIENT_DELIVERY_STATE_REFUSED
              : SMTP_CLIENT_DELIVERY_STATE_UNCERTAIN;
  else if (stage == STAGE_CONTENT)
    e.state = (fault == FAULT_421 || fault == FAULT_4YZ || fault == FAULT_5YZ)
              ? SMTP_CLIENT_DELIVERY_STATE_REFUSED
              : SMTP_CLIENT_DELIVERY_STATE_NOT_SENT;
  else if (fault == FAULT_5YZ &&
           (stage == STAGE_MAIL || stage == STAGE_RCPT || stage == STAGE_DATA))
    e.state = SMTP_CLIENT_DELIVERY_STATE_REFUSED;
  else
    e.state = SMTP_CLIENT_DELIVERY_STATE_NOT_SENT;

  return e;
}

/* ---------------------------------------------------------------------- */
/* Running a cell */

static gboolean
accept_any_certificate (SmtpClientTask       *task,
                        GTlsCertificate      *certificate,
                        GTlsCertificateFlags  errors,
                        gpointer              user_data)
{
  return TRUE;
}

static char *
token_header (guint n)
{
  return g_strdup_printf ("X-Matrix-Token: %u\r\n", n);
}

static SmtpClientTask *
new_task (const Cell *cell,
          guint       port,
          guint       n)
{
  g_autofree char *token = token_header (n);
  g_autoptr(GString) body = g_string_new (token);
  SmtpClientTask *task;

  g_string_append (body, "Subject: matrix\r\n\r\nHello.\r\n");
  if (cell->stage == STAGE_CONTENT && n == 1)
    {
      /* Big enough that the client is still uploading when the server
       * acts: more than the socket buffers hold */
      while (body->len < BIG_CONTENT)
        g_string_append (body, "0123456789abcdefghijklmnopqrstuvwxyz"
                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\r\n");
    }

  task = smtp_test_task_new (port, body->str);
  g_object_set (task,
                "timeout", cell_timeout (cell),
                "transaction-log", TRUE,
                NULL);

  if (cell->stage == STAGE_STARTTLS || cell->stage == STAGE_HANDSHAKE)
    g_object_set (task, "security", SMTP_CLIENT_SECURITY_STARTTLS, NULL);
  if (cell->tls)
    g_object_set (task, "security", SMTP_CLIENT_SECURITY_TLS, NULL);
  if (cell->stage >= STAGE_AUTH_1 && cell->stage <= STAGE_AUTH_3)
    g_object_set (task, "auth-user", "matrix", "auth-password", "secret",
                  "auth-mechanism", "LOGIN", "allow-insecure-auth", TRUE,
                  NULL);
  g_signal_connect (task, "accept-certificate",
                    G_CALLBACK (accept_any_certificate), NULL);

  return task;
}

/* How often the token of task @n is among the server's messages */
static guint
count_token (SmtpTestScriptServer *server,
             guint                 n)
{
  g_autoptr(GPtrArray) messages = smtp_test_script_server_get_messages (server);
  g_autofree char *token = token_header (n);
  guint count = 0;

  for (guint i = 0; i < messages->len; i++)
    {
      gsize length = 0;
      const char *data = g_bytes_get_data (g_ptr_array_index (messages, i),
                                           &length);

      if (length >= strlen (token) &&
          memcmp (data, token, strlen (token)) == 0)
        count++;
    }

  return count;
}

static gboolean
bytes_contain (GBytes     *bytes,
               const char *needle)
{
  gsize length = 0;
  const char *data = g_bytes_get_data (bytes, &length);

  return length > 0 && g_strstr_len (data, length, needle) != NULL;
}

static void
check_first_task (const Cell       *cell,
                  const Expected   *e,
                  SmtpTestDelivery *run)
{
  SmtpClientTask *task = run->task;
  const char *log = smtp_client_task_get_transaction_log (task);

  if (e->success)
    {
      if (run->error != NULL)
        g_error ("expected success, got %s\n%s", run->error->message, log);
      g_assert_cmpuint (run->succeeded, ==, 1);
      g_assert_cmpuint (run->failed, ==, 0);
    }
  else
    {
      if (run->error == NULL)
        g_error ("expected a failure, got success\n%s", log);
      g_assert_cmpuint (run->succeeded, ==, 0);
      g_assert_cmpuint (run->failed, ==, 1);
      if (e->domain == 0)
        {
          /* A network or TLS error, as GIO reports it */
          if (!(run->error->domain == G_IO_ERROR ||
                run->error->domain == G_TLS_ERROR) ||
              g_error_matches (run->error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            g_error ("expected a GIO error, got %s (%s %d)\n%s",
                     run->error->message,
                     g_quark_to_string (run->error->domain),
                     run->error->code, log);
        }
      else if (!g_error_matches (run->error, e->domain, e->code))
        g_error ("expected %s %d, got %s (%s %d)\n%s",
                 g_quark_to_string (e->domain), e->code, run->error->message,
                 g_quark_to_string (run->error->domain), run->error->code,
                 log);
    }

  if (e->check_reply)
    g_assert_cmpuint (smtp_client_task_get_reply_code (task), ==,
                      e->reply_code);
  if (smtp_client_task_get_delivery_state (task) != e->state)
    g_error ("expected delivery state %d, got %d\n%s", e->state,
             smtp_client_task_get_delivery_state (task), log);

  /* Well before the timeout, unless the server is silent */
  if (cell->fault != FAULT_SILENCE && !cell->session)
    g_assert_cmpint (run->ended - run->started, <,
                     TIMEOUT_SECONDS * G_TIME_SPAN_SECOND *
                     (gint64) smtp_test_slowdown ());
}

/* What the client sent on the faulty connection after the fault */
static void
check_after (SmtpTestScriptServer *server,
             const Expected       *e,
             guint                 before)
{
  g_auto(GStrv) commands = NULL;

  if (e->after == AFTER_ANY ||
      smtp_test_script_server_get_n_connections (server) == 0)
    return;

  commands = smtp_test_script_server_get_commands (server, 0);
  for (guint i = before; commands[i] != NULL; i++)
    {
      if (e->after == AFTER_QUIT && g_str_equal (commands[i], "QUIT"))
        continue;
      g_error ("after the fault the client sent “%s” (command %u)",
               commands[i], i);
    }
}

static void
test_cell (gconstpointer data)
{
  const Cell *cell = data;
  Expected e = expected_outcome (cell);
  guint before = 0;
  g_autofree char *script = build_script (cell, &before);
  g_autoptr(SmtpTestScriptServer) server = smtp_test_script_server_new (script);
  guint port = smtp_test_script_server_get_port (server);
  g_autoptr(SmtpClientSession) session = NULL;
  SmtpTestDelivery *runs[N_SESSION_TASKS] = { NULL };
  guint n_tasks = cell->session ? N_SESSION_TASKS : 1;
  g_autofree char *token = token_header (1);

  g_test_summary ("One cell of the fault matrix: the outcome SPEC gives, "
                  "one signal per task, nothing sent that should not be");

  if (cell->fault == FAULT_REFUSED)
    {
      /* Nobody listens there any more */
      g_clear_pointer (&server, smtp_test_script_server_free);
    }

  if (cell->session)
    {
      session = g_object_new (SMTP_CLIENT_TYPE_SESSION,
                              "server", "127.0.0.1", "port", port,
                              "timeout", cell_timeout (cell),
                              "max-retries", 0, NULL);
      if (cell->stage >= STAGE_AUTH_1 && cell->stage <= STAGE_AUTH_3)
        g_object_set (session, "auth-user", "matrix", "auth-password",
                      "secret", "auth-mechanism", "LOGIN",
                      "allow-insecure-auth", TRUE, NULL);
      if (cell->stage == STAGE_STARTTLS || cell->stage == STAGE_HANDSHAKE)
        g_object_set (session, "security", SMTP_CLIENT_SECURITY_STARTTLS,
                      NULL);
      if (cell->tls)
        g_object_set (session, "security", SMTP_CLIENT_SECURITY_TLS, NULL);
    }

  for (guint i = 0; i < n_tasks; i++)
    {
      g_autoptr(SmtpClientTask) task = new_task (cell, port, i + 1);

      if (session != NULL)
        g_object_set (task, "session", session, NULL);
      runs[i] = smtp_test_delivery_start (task, NULL);
    }
  smtp_test_delivery_wait (runs, n_tasks);

  if (session != NULL)
    smtp_test_close_session (session);

  /* Every signal that was going to come has come */
  if (server != NULL)
    smtp_test_script_server_wait (server,
                                  smtp_test_script_server_get_n_connections (server));

  check_first_task (cell, &e, runs[0]);

  if (server != NULL)
    {
      const char *failure = smtp_test_script_server_get_failure (server);

      if (failure != NULL)
        g_error ("the client did not follow the script: %s\n%s", failure,
                 smtp_client_task_get_transaction_log (runs[0]->task));

      check_after (server, &e, before);

      /* An upload stopped by the fault never reaches its end */
      if (cell->stage == STAGE_CONTENT &&
          smtp_test_script_server_get_n_connections (server) > 0)
        {
          g_autoptr(GBytes) received = smtp_test_script_server_get_received (server, 0);

          g_assert_false (bytes_contain (received, "\r\n.\r\n"));
        }

      /* No content after a failure reply */
      if (e.no_content && smtp_test_script_server_get_n_connections (server) > 0)
        {
          g_autoptr(GBytes) received = smtp_test_script_server_get_received (server, 0);

          g_assert_false (bytes_contain (received, token));
        }

      /* The server has the first message (whole, to the final dot) once
       * when it was accepted, never when it was not sent */
      if (e.state == SMTP_CLIENT_DELIVERY_STATE_ACCEPTED)
        g_assert_cmpuint (count_token (server, 1), ==, 1);
      else if (e.state == SMTP_CLIENT_DELIVERY_STATE_NOT_SENT)
        g_assert_cmpuint (count_token (server, 1), ==, 0);

      /* The tasks the fault did not touch: each delivered once.  An extra
       * line after the reply to the end of data (or to RSET), with
       * PIPELINING, is taken for the reply to the next task's MAIL, sent
       * in the same group: that one is touched (it may fail, but is never
       * delivered when it says it was not). */
      for (guint i = 1; i < n_tasks; i++)
        {
          SmtpTestDelivery *run = runs[i];

          g_assert_cmpuint (run->succeeded + run->failed, ==, 1);
          if (run->error != NULL && i == 1 && cell->fault == FAULT_EXTRA &&
              (cell->stage == STAGE_END || cell->stage == STAGE_RSET) &&
              cell->pipelining)
            {
              if (smtp_client_task_get_delivery_state (run->task) ==
                  SMTP_CLIENT_DELIVERY_STATE_NOT_SENT)
                g_assert_cmpuint (count_token (server, i + 1), ==, 0);
              continue;
            }
          if (run->error != NULL)
            g_error ("task %u: %s\n%s", i + 1, run->error->message,
                     smtp_client_task_get_transaction_log (run->task));
          g_assert_cmpuint (run->succeeded, ==, 1);
          g_assert_cmpuint (run->failed, ==, 0);
          g_assert_cmpuint (count_token (server, i + 1), ==, 1);
        }
    }

  for (guint i = 0; i < n_tasks; i++)
    smtp_test_delivery_free (runs[i]);
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GPtrArray) cells = g_ptr_array_new_with_free_func (g_free);

  g_test_init (&argc, &argv, NULL);

  /* Cells are numbered: tls, session, pipelining, stage, fault */
  for (guint n = 0; n < 2 * 2 * 2 * N_STAGES * N_FAULTS; n++)
    {
      Cell cell = {
        .fault = n % N_FAULTS,
        .stage = n / N_FAULTS % N_STAGES,
        .pipelining = n / (N_FAULTS * N_STAGES) % 2,
        .session = n / (N_FAULTS * N_STAGES * 2) % 2,
        .tls = n / (N_FAULTS * N_STAGES * 4),
      };
      g_autofree char *path = NULL;
      Cell *copy;

      if (!cell_applies (&cell))
        continue;

      copy = g_memdup2 (&cell, sizeof cell);
      g_ptr_array_add (cells, copy);
      path = g_strdup_printf ("/smtpclient/fault-matrix/%s%s/%s/%s/%s",
                              cell.tls ? "tls/" : "",
                              cell.session ? "session" : "one-shot",
                              cell.pipelining ? "pipelining" : "plain",
                              stage_names[cell.stage], fault_names[cell.fault]);
      g_test_add_data_func (path, copy, test_cell);
    }

  return g_test_run ();
}

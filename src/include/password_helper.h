/*-------------------------------------------------------------------------
 *
 * password_helper.h
 *	  The worker's password helper: a background worker of the worker's
 *	  own that sets tenant login roles' passwords for its steps.  The
 *	  worker's side (launching it, asking it through the slots, collecting
 *	  the answers) is exec/password_slots.c; the helper process is
 *	  worker/password_helper.c, which explains why it exists.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENANCY_PASSWORD_HELPER_H
#define TENANCY_PASSWORD_HELPER_H

#include "postgres.h"

#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/spin.h"

/* Requests the helper may have at once; more tasks wait for a free slot. */
#define HELPER_SLOTS 16

/* Longest SCRAM verifier sent: the server's own is about 135 bytes. */
#define HELPER_VERIFIER_SIZE 512

/* Bounds of the error texts an answer carries (longer ones are cut). */
#define HELPER_MESSAGE_SIZE 512

typedef enum SlotState
{
	SLOT_FREE,
	SLOT_ASKED,
	SLOT_ANSWERED
} SlotState;

/* The answer "the helper is gone": its task sets the password itself. */
#define ANSWER_GONE (-1)

typedef struct PasswordSlot
{
	pg_atomic_uint32 state;		/* SlotState */
	char		role[NAMEDATALEN];
	char		verifier[HELPER_VERIFIER_SIZE];
	int			sqlerrcode;		/* 0: set; ANSWER_GONE; else the error's */
	char		message[HELPER_MESSAGE_SIZE];
	char		detail[HELPER_MESSAGE_SIZE];
	char		hint[HELPER_MESSAGE_SIZE];
} PasswordSlot;

typedef struct HelperShared
{
	pid_t		worker_pid;		/* the worker that launched the helper */
	Latch	   *worker_latch;
	slock_t		mutex;			/* protects helper_latch */
	Latch	   *helper_latch;	/* NULL until the helper has attached */
	PasswordSlot slots[HELPER_SLOTS];
} HelperShared;

/* exec/password_slots.c: the worker's side */
extern void PasswordHelperLaunch(void);
extern bool PasswordHelperSet(const char *role, const char *verifier);
extern void PasswordHelperCollect(void);

/* worker/password_helper.c: the helper process */
extern PGDLLEXPORT void TenancyPasswordHelperMain(Datum main_arg);

#endif							/* TENANCY_PASSWORD_HELPER_H */

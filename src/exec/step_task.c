/*-------------------------------------------------------------------------
 *
 * step_task.c
 *	  Tasks: run a step's work on a stack of its own, so that it can wait
 *	  for a request without holding up the worker (see step_task.h).
 *
 * Why stacks and not hand-written state machines: a handler is a sequence
 * of requests with decisions in between (read the namespace, check its
 * owner, delete; log in, read Vault, write the Secret), written as plain
 * code with PG_TRY blocks that wipe secrets.  Cut into states, each handler
 * would grow a struct of everything live across a request and lose the
 * PG_TRY/PG_FINALLY that keep secrets from leaking on an error.  A task
 * keeps the code as it is: the stack is the state.
 *
 * What a switch saves besides the registers (swapcontext): the error
 * handling state of PostgreSQL, which is global (PG_exception_stack,
 * error_context_stack), the current memory context, and the stack base
 * that check_stack_depth() measures from.  Each side gets back its own at
 * every switch, so an ERROR raised in a task unwinds that task's stack
 * only, and one raised in the worker loop never jumps into a task.
 *
 * Stacks are mapped, not palloc'd: max_stack_depth plus a margin, of
 * which only the pages a handler touches are ever backed by memory, with
 * a guard page below.  A few are kept for reuse.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define TASK_TELL_VALGRIND 1
#endif
#endif

#include "access/xact.h"
#include "lib/ilist.h"
#include "miscadmin.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"

#include "step_task.h"

/* Room on a task's stack beyond max_stack_depth (the check's own slack). */
#define TASK_STACK_MARGIN (512 * 1024)

/* Stacks kept for reuse; more are unmapped, their touched pages freed. */
#define MAX_POOLED_STACKS 16

typedef struct TaskStack
{
	char	   *mapping;		/* guard page first, then the stack */
	size_t		size;			/* of the mapping */
	unsigned	valgrind_id;
} TaskStack;

struct StepTask
{
	dlist_node	node;			/* in live_tasks */
	ucontext_t	context;
	TaskStack	stack;
	StepTaskFunction function;
	void	   *arg;
	const void *waiting_for;	/* what it waits on; NULL when ready */
	bool		started;
	bool		ended;

	/* PostgreSQL's per-thread state, saved while the task is switched out */
	sigjmp_buf *exception_stack;
	ErrorContextCallback *context_stack;
	MemoryContext memory;
	pg_stack_base_t stack_base;
};

static dlist_head live_tasks = DLIST_STATIC_INIT(live_tasks);
static StepTask *current_task = NULL;
static ucontext_t loop_context; /* where a task gives control back to */
static TaskStack stack_pool[MAX_POOLED_STACKS];
static int	n_pooled = 0;

static size_t wanted_stack_size(void);
static TaskStack get_stack(void);
static void put_stack(TaskStack stack);
static void task_main(void);
static bool run_task(StepTask *task);

/*
 * wanted_stack_size
 *		max_stack_depth and a margin, in whole pages, plus the guard page.
 */
static size_t
wanted_stack_size(void)
{
	size_t		page = (size_t) sysconf(_SC_PAGESIZE);
	size_t		size = (size_t) max_stack_depth * 1024 + TASK_STACK_MARGIN;

	return (size + page - 1) / page * page + page;
}

/*
 * get_stack
 *		A stack from the pool, or a new mapping.
 */
static TaskStack
get_stack(void)
{
	size_t		size = wanted_stack_size();
	size_t		page = (size_t) sysconf(_SC_PAGESIZE);
	TaskStack	stack;

	while (n_pooled > 0)
	{
		stack = stack_pool[--n_pooled];
		if (stack.size == size)
			return stack;
		put_stack(stack);		/* max_stack_depth changed: unmapped */
	}

	stack.size = size;
	stack.mapping = mmap(NULL, size, PROT_READ | PROT_WRITE,
						 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
						 -1, 0);
	if (stack.mapping == MAP_FAILED)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not map a stack for a step: %m")));
	/* an overflow faults on the guard page instead of writing past it */
	if (mprotect(stack.mapping, page, PROT_NONE) != 0)
	{
		int			save_errno = errno;

		(void) munmap(stack.mapping, size);
		errno = save_errno;
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not protect the guard page of a step's stack: %m")));
	}
	stack.valgrind_id = 0;
#ifdef TASK_TELL_VALGRIND
	stack.valgrind_id = VALGRIND_STACK_REGISTER(stack.mapping + page,
												stack.mapping + size);
#endif
	return stack;
}

/*
 * put_stack
 *		Keep a stack for reuse, or unmap it.
 */
static void
put_stack(TaskStack stack)
{
	if (stack.size == wanted_stack_size() && n_pooled < MAX_POOLED_STACKS)
	{
		stack_pool[n_pooled++] = stack;
		return;
	}
#ifdef TASK_TELL_VALGRIND
	VALGRIND_STACK_DEREGISTER(stack.valgrind_id);
#endif
	(void) munmap(stack.mapping, stack.size);
}

/*
 * task_main
 *		First function on a task's stack: measure stack depth from here,
 *		run the task's function, and go back to the loop for good.
 *
 * The function is expected to catch its own errors (StepStart does); one
 * that escapes is logged here, since it cannot unwind into the loop's
 * stack.
 */
static void
task_main(void)
{
	StepTask   *task = current_task;

	(void) set_stack_base();
	task->stack_base = set_stack_base();
	restore_stack_base(task->stack_base);
	task->started = true;

	PG_TRY();
	{
		task->function(task->arg);
	}
	PG_CATCH();
	{
		EmitErrorReport();
		FlushErrorState();
	}
	PG_END_TRY();

	task->ended = true;
	setcontext(&loop_context);
	/* not reached */
	abort();
}

/*
 * run_task
 *		Switch to a task until it waits or ends; free it if it ended.
 *		Returns whether it ended.
 */
static bool
run_task(StepTask *task)
{
	pg_stack_base_t loop_base;
	sigjmp_buf *loop_exception_stack = PG_exception_stack;
	ErrorContextCallback *loop_context_stack = error_context_stack;
	MemoryContext loop_memory = CurrentMemoryContext;

	Assert(current_task == NULL);
	loop_base = set_stack_base();
	restore_stack_base(loop_base);

	PG_exception_stack = task->exception_stack;
	error_context_stack = task->context_stack;
	MemoryContextSwitchTo(task->memory);
	if (task->started)
		restore_stack_base(task->stack_base);
	task->waiting_for = NULL;
	current_task = task;

	if (swapcontext(&loop_context, &task->context) != 0)
		elog(PANIC, "could not switch to a step's stack: %m");

	current_task = NULL;
	restore_stack_base(loop_base);
	PG_exception_stack = loop_exception_stack;
	error_context_stack = loop_context_stack;
	MemoryContextSwitchTo(loop_memory);

	if (!task->ended)
		return false;
	dlist_delete(&task->node);
	put_stack(task->stack);
	pfree(task);
	return true;
}

/*
 * StepTaskStart
 *		Run function(arg) in a new task, in the current memory context,
 *		until it ends (NULL) or waits (the task).
 */
StepTask *
StepTaskStart(StepTaskFunction function, void *arg)
{
	StepTask   *task;
	size_t		page = (size_t) sysconf(_SC_PAGESIZE);

	if (current_task != NULL)
		elog(ERROR, "a step task cannot start another");

	task = MemoryContextAllocZero(TopMemoryContext, sizeof(StepTask));
	task->stack = get_stack();
	task->function = function;
	task->arg = arg;
	task->memory = CurrentMemoryContext;
	if (getcontext(&task->context) != 0)
		elog(ERROR, "getcontext failed: %m");
	task->context.uc_stack.ss_sp = task->stack.mapping + page;
	task->context.uc_stack.ss_size = task->stack.size - page;
	task->context.uc_link = NULL;
	makecontext(&task->context, task_main, 0);
	dlist_push_tail(&live_tasks, &task->node);

	return run_task(task) ? NULL : task;
}

/*
 * StepTaskResume
 *		Continue a task whose wait ended; true when it ended.
 */
bool
StepTaskResume(StepTask *task)
{
	Assert(task->waiting_for == NULL && !task->ended);
	return run_task(task);
}

/*
 * StepTaskNextReady
 *		A task that waits no more (StepTaskWake), and its arg.
 */
StepTask *
StepTaskNextReady(void **arg)
{
	dlist_iter	iter;

	dlist_foreach(iter, &live_tasks)
	{
		StepTask   *task = dlist_container(StepTask, node, iter.cur);

		if (task->waiting_for == NULL)
		{
			*arg = task->arg;
			return task;
		}
	}
	return NULL;
}

/*
 * StepTaskActive
 *		Is the caller running in a task?
 */
bool
StepTaskActive(void)
{
	return current_task != NULL;
}

/*
 * StepTaskWaitFor
 *		Give control back to the loop until StepTaskWake(key).
 *
 * Never with a transaction open: the loop runs transactions of its own
 * before it resumes us.
 */
void
StepTaskWaitFor(const void *key)
{
	StepTask   *task = current_task;

	if (task == NULL)
		elog(ERROR, "StepTaskWaitFor called outside a step task");
	if (IsTransactionOrTransactionBlock())
		elog(ERROR, "a step waited for a request with a transaction open");
	Assert(key != NULL);
	Assert(InterruptHoldoffCount == 0 && CritSectionCount == 0);

	task->waiting_for = key;
	task->exception_stack = PG_exception_stack;
	task->context_stack = error_context_stack;
	task->memory = CurrentMemoryContext;
	if (swapcontext(&task->context, &loop_context) != 0)
		elog(PANIC, "could not switch back from a step's stack: %m");
	/* resumed by run_task, which gave us back our state */
}

/*
 * StepTaskWake
 *		Make the tasks waiting on key ready; the loop resumes them.
 */
void
StepTaskWake(const void *key)
{
	dlist_iter	iter;

	dlist_foreach(iter, &live_tasks)
	{
		StepTask   *task = dlist_container(StepTask, node, iter.cur);

		if (task->waiting_for == key)
			task->waiting_for = NULL;
	}
}

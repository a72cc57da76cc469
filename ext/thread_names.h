/* thread_names.h - Python thread names the GIL-free sampler can read.
 *
 * Names live in `threading.Thread` objects, which the sidecar may not touch.
 * The Python side pushes (ident, name) here when a thread starts or is
 * renamed (with its OS thread id); the sidecar looks names up by ident under
 * a short mutex. The table
 * is bounded: a full table replaces the oldest entry. */
#ifndef SSP_THREAD_NAMES_H
#define SSP_THREAD_NAMES_H

#include <stddef.h>
#include <stdint.h>

void ssp_thread_names_set(unsigned long ident, const char *name, size_t len);
/* The thread's OS id, told by the Python side (threading's native_id).
 * CPython 3.9/3.10 thread states do not record it; the walker asks here
 * (ssp_thread_native_id, declared in cpython_layout_309.h), 0 if unknown. */
void ssp_thread_names_set_native(unsigned long ident, unsigned long native_id);
unsigned long ssp_thread_native_id(unsigned long ident);
/* The thread ended: its entry may be dropped when the table fills up. */
void ssp_thread_names_forget(unsigned long ident);
/* Interned string id of the name, 0 if unknown. */
uint32_t ssp_thread_names_get(unsigned long ident);
void ssp_thread_names_init_fork_safety(void);

#endif

/*
 * virlog.c: internal logging and debugging
 *
 * Logging goes to stderr when LIBVIRT_DEBUG is set to a priority
 * (1 = debug ... 4 = error); it is silent otherwise.
 *
 * Copyright (C) 2026 The demovirt authors.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <stdarg.h>

#include "internal.h"
#include "virlog.h"

static int virLogDefaultPriority = -1;


static int
virLogGetDefaultPriority(void)
{
    if (virLogDefaultPriority < 0) {
        const char *debugEnv = getenv("LIBVIRT_DEBUG");

        virLogDefaultPriority = 0;
        if (debugEnv && *debugEnv)
            virLogDefaultPriority = atoi(debugEnv);
    }

    return virLogDefaultPriority;
}


void
virLogMessage(virLogPriority priority,
              const char *filename,
              size_t linenr,
              const char *funcname,
              const char *fmt, ...)
{
    va_list args;
    int wanted = virLogGetDefaultPriority();

    if (wanted <= 0 || (int) priority < wanted)
        return;

    fprintf(stderr, "%d: %s:%zu : %s : ", (int) priority, filename,
            linenr, funcname);
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fputc('\n', stderr);
}

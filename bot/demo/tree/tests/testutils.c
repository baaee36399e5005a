/*
 * testutils.c: basic test utils
 *
 * Copyright (C) 2026 The demovirt authors.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <string.h>

#include "testutils.h"

static unsigned int testCounter;


/*
 * Runs test
 *
 * returns: -1 = error, 0 = success
 */
int
virTestRun(const char *title,
           int (*body)(const void *data),
           const void *data)
{
    int ret;

    testCounter++;
    ret = body(data);
    fprintf(stderr, "%3u) %-60s ... %s\n", testCounter, title,
            ret == 0 ? "OK" : "FAILED");
    return ret;
}


int
virTestMain(const char *name, int (*func)(void))
{
    const char *base = strrchr(name, '/');
    int ret;

    fprintf(stderr, "TEST: %s\n", base ? base + 1 : name);
    ret = func();
    return ret == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}


virConnectPtr
virTestOpenDefault(bool readonly)
{
    virConnectPtr conn;

    if (readonly)
        conn = virConnectOpenReadOnly("test:///default");
    else
        conn = virConnectOpen("test:///default");

    if (!conn)
        fprintf(stderr, "cannot open test:///default: %s\n",
                virGetLastErrorMessage());
    return conn;
}

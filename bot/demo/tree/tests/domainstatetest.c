/*
 * domainstatetest.c: domain state changes through the public API,
 *                    checked on the test driver
 *
 * Copyright (C) 2026 The demovirt authors.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "testutils.h"

/* Pass -1 as @reason to leave the reason unchecked. */
static int
checkState(virDomainPtr dom,
           int expectState,
           int expectReason)
{
    int state = -1;
    int reason = -1;

    if (virDomainGetState(dom, &state, &reason, 0) < 0) {
        fprintf(stderr, "cannot get state of '%s': %s\n",
                virDomainGetName(dom), virGetLastErrorMessage());
        return -1;
    }

    if (state != expectState ||
        (expectReason != -1 && reason != expectReason)) {
        fprintf(stderr, "domain '%s': expected state %d reason %d, "
                "got state %d reason %d\n", virDomainGetName(dom),
                expectState, expectReason, state, reason);
        return -1;
    }

    return 0;
}


static int
testInitialState(const void *data ATTRIBUTE_UNUSED)
{
    virConnectPtr conn = virTestOpenDefault(false);
    virDomainPtr test = NULL;
    virDomainPtr idle = NULL;
    int ret = -1;

    TEST_CHECK(conn);
    TEST_CHECK((test = virDomainLookupByName(conn, "test")));
    TEST_CHECK((idle = virDomainLookupByName(conn, "idle")));

    TEST_CHECK(checkState(test, VIR_DOMAIN_RUNNING,
                          VIR_DOMAIN_RUNNING_BOOTED) == 0);
    TEST_CHECK(checkState(idle, VIR_DOMAIN_SHUTOFF,
                          VIR_DOMAIN_SHUTOFF_SHUTDOWN) == 0);
    TEST_CHECK(virDomainIsActive(test) == 1);
    TEST_CHECK(virDomainIsActive(idle) == 0);
    TEST_CHECK(virConnectNumOfDomains(conn) == 1);

    ret = 0;
 cleanup:
    if (test)
        virDomainFree(test);
    if (idle)
        virDomainFree(idle);
    if (conn)
        virConnectClose(conn);
    return ret;
}


static int
testSuspendResume(const void *data ATTRIBUTE_UNUSED)
{
    virConnectPtr conn = virTestOpenDefault(false);
    virDomainPtr dom = NULL;
    int ret = -1;

    TEST_CHECK(conn);
    TEST_CHECK((dom = virDomainLookupByName(conn, "test")));

    TEST_CHECK(virDomainSuspend(dom) == 0);
    TEST_CHECK(checkState(dom, VIR_DOMAIN_PAUSED, -1) == 0);

    TEST_CHECK(virDomainSuspend(dom) == -1);
    TEST_CHECK_ERROR(VIR_ERR_OPERATION_INVALID);

    TEST_CHECK(virDomainResume(dom) == 0);
    TEST_CHECK(checkState(dom, VIR_DOMAIN_RUNNING, -1) == 0);

    TEST_CHECK(virDomainResume(dom) == -1);
    TEST_CHECK_ERROR(VIR_ERR_OPERATION_INVALID);

    ret = 0;
 cleanup:
    if (dom)
        virDomainFree(dom);
    if (conn)
        virConnectClose(conn);
    return ret;
}


static int
testShutdown(const void *data ATTRIBUTE_UNUSED)
{
    virConnectPtr conn = virTestOpenDefault(false);
    virDomainPtr dom = NULL;
    int ret = -1;

    TEST_CHECK(conn);
    TEST_CHECK((dom = virDomainLookupByName(conn, "test")));

    TEST_CHECK(virDomainShutdown(dom) == 0);
    TEST_CHECK(checkState(dom, VIR_DOMAIN_SHUTOFF,
                          VIR_DOMAIN_SHUTOFF_SHUTDOWN) == 0);
    TEST_CHECK(virDomainIsActive(dom) == 0);
    TEST_CHECK(virConnectNumOfDomains(conn) == 0);

    TEST_CHECK(virDomainSuspend(dom) == -1);
    TEST_CHECK_ERROR(VIR_ERR_OPERATION_INVALID);
    TEST_CHECK(virDomainShutdown(dom) == -1);
    TEST_CHECK_ERROR(VIR_ERR_OPERATION_INVALID);

    ret = 0;
 cleanup:
    if (dom)
        virDomainFree(dom);
    if (conn)
        virConnectClose(conn);
    return ret;
}


static int
testInvalidArgs(const void *data ATTRIBUTE_UNUSED)
{
    virConnectPtr conn = virTestOpenDefault(false);
    virDomainPtr dom = NULL;
    int state;
    int ret = -1;

    TEST_CHECK(conn);

    TEST_CHECK(!virDomainLookupByName(conn, "nosuchdomain"));
    TEST_CHECK_ERROR(VIR_ERR_NO_DOMAIN);

    TEST_CHECK(virDomainGetState(NULL, &state, NULL, 0) == -1);
    TEST_CHECK_ERROR(VIR_ERR_INVALID_DOMAIN);

    TEST_CHECK((dom = virDomainLookupByName(conn, "test")));
    TEST_CHECK(virDomainGetState(dom, NULL, NULL, 0) == -1);
    TEST_CHECK_ERROR(VIR_ERR_INVALID_ARG);
    TEST_CHECK(virDomainGetState(dom, &state, NULL, 1) == -1);
    TEST_CHECK_ERROR(VIR_ERR_INVALID_ARG);

    ret = 0;
 cleanup:
    if (dom)
        virDomainFree(dom);
    if (conn)
        virConnectClose(conn);
    return ret;
}


static int
mymain(void)
{
    int ret = 0;

    if (virTestRun("Initial state of the default domains",
                   testInitialState, NULL) < 0)
        ret = -1;
    if (virTestRun("Suspend and resume a running domain",
                   testSuspendResume, NULL) < 0)
        ret = -1;
    if (virTestRun("Shutdown a running domain",
                   testShutdown, NULL) < 0)
        ret = -1;
    if (virTestRun("Invalid arguments",
                   testInvalidArgs, NULL) < 0)
        ret = -1;

    return ret;
}

VIR_TEST_MAIN(mymain)

/*
 * connecttest.c: opening and closing connections, read-only
 *                connections and error reporting
 *
 * Copyright (C) 2026 The demovirt authors.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "testutils.h"


static int
testOpenClose(const void *data ATTRIBUTE_UNUSED)
{
    virConnectPtr conn = virTestOpenDefault(false);
    int ret = -1;

    TEST_CHECK(conn);
    TEST_CHECK(virConnectNumOfDomains(conn) == 1);
    TEST_CHECK(virGetLastError() == NULL);

    ret = 0;
 cleanup:
    if (conn && virConnectClose(conn) != 0)
        ret = -1;
    return ret;
}


static int
testOpenUnknown(const void *data ATTRIBUTE_UNUSED)
{
    virConnectPtr conn = NULL;
    int ret = -1;

    TEST_CHECK(!(conn = virConnectOpen("bogus:///system")));
    TEST_CHECK_ERROR(VIR_ERR_NO_CONNECT);

    TEST_CHECK(!(conn = virConnectOpen("test:///custom.xml")));
    TEST_CHECK_ERROR(VIR_ERR_INVALID_ARG);

    TEST_CHECK(virConnectNumOfDomains(NULL) == -1);
    TEST_CHECK_ERROR(VIR_ERR_INVALID_CONN);

    ret = 0;
 cleanup:
    if (conn)
        virConnectClose(conn);
    return ret;
}


static int
testReadOnly(const void *data ATTRIBUTE_UNUSED)
{
    virConnectPtr conn = virTestOpenDefault(true);
    virDomainPtr dom = NULL;
    int state = -1;
    int ret = -1;

    TEST_CHECK(conn);
    TEST_CHECK((dom = virDomainLookupByName(conn, "test")));

    TEST_CHECK(virDomainSuspend(dom) == -1);
    TEST_CHECK_ERROR(VIR_ERR_OPERATION_DENIED);
    TEST_CHECK(virDomainResume(dom) == -1);
    TEST_CHECK_ERROR(VIR_ERR_OPERATION_DENIED);
    TEST_CHECK(virDomainShutdown(dom) == -1);
    TEST_CHECK_ERROR(VIR_ERR_OPERATION_DENIED);

    /* Reading is allowed, and a successful call resets the last error */
    TEST_CHECK(virDomainGetState(dom, &state, NULL, 0) == 0);
    TEST_CHECK(state == VIR_DOMAIN_RUNNING);
    TEST_CHECK(virGetLastError() == NULL);

    ret = 0;
 cleanup:
    if (dom)
        virDomainFree(dom);
    if (conn)
        virConnectClose(conn);
    return ret;
}


static int
testDomainHoldsConnection(const void *data ATTRIBUTE_UNUSED)
{
    virConnectPtr conn = virTestOpenDefault(false);
    virDomainPtr dom = NULL;
    int state = -1;
    int ret = -1;

    TEST_CHECK(conn);
    TEST_CHECK((dom = virDomainLookupByName(conn, "test")));

    /* The domain keeps a reference, so the connection stays usable */
    TEST_CHECK(virConnectClose(conn) == 1);
    conn = NULL;
    TEST_CHECK(virDomainGetState(dom, &state, NULL, 0) == 0);
    TEST_CHECK(state == VIR_DOMAIN_RUNNING);

    ret = 0;
 cleanup:
    if (dom && virDomainFree(dom) != 0)
        ret = -1;
    if (conn)
        virConnectClose(conn);
    return ret;
}


static int
mymain(void)
{
    int ret = 0;

    if (virTestRun("Open and close the default connection",
                   testOpenClose, NULL) < 0)
        ret = -1;
    if (virTestRun("Open an unknown URI",
                   testOpenUnknown, NULL) < 0)
        ret = -1;
    if (virTestRun("Read-only connection refuses changes",
                   testReadOnly, NULL) < 0)
        ret = -1;
    if (virTestRun("Domain holds a reference on its connection",
                   testDomainHoldsConnection, NULL) < 0)
        ret = -1;

    return ret;
}

VIR_TEST_MAIN(mymain)

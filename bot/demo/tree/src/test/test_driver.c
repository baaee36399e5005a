/*
 * test_driver.c: A "mock" hypervisor for use by application unit tests
 *
 * The "test:///default" connection starts with two domains: "test",
 * which is running, and "idle", which is shut off.  All state is kept
 * in memory and is private to the connection.
 *
 * Copyright (C) 2026 The demovirt authors.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "internal.h"
#include "datatypes.h"
#include "driver.h"
#include "virerror.h"
#include "virlog.h"
#include "test/test_driver.h"

#define VIR_FROM_THIS VIR_FROM_TEST

#define TEST_MAX_DOMAINS 8
#define TEST_DOMAIN_NAME_MAX 64

typedef struct _testDomainObj testDomainObj;
struct _testDomainObj {
    char name[TEST_DOMAIN_NAME_MAX];
    int id;                 /* -1 while the domain is not running */
    int state;              /* one of virDomainState */
    int reason;             /* one of virDomain*Reason, for @state */
};

typedef struct _testDriver testDriver;
struct _testDriver {
    size_t ndomains;
    testDomainObj domains[TEST_MAX_DOMAINS];
};

static const testDomainObj testDefaultDomains[] = {
    { "test", 1, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_BOOTED },
    { "idle", -1, VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_SHUTDOWN },
};


static testDomainObj *
testDomainObjFindByName(testDriver *privconn,
                        const char *name)
{
    size_t i;

    for (i = 0; i < privconn->ndomains; i++) {
        if (STREQ(privconn->domains[i].name, name))
            return &privconn->domains[i];
    }

    return NULL;
}


static testDomainObj *
testDomObjFromDomain(virDomainPtr domain)
{
    testDriver *privconn = domain->conn->privateData;
    testDomainObj *vm;

    if (!(vm = testDomainObjFindByName(privconn, domain->name))) {
        virReportError(VIR_ERR_NO_DOMAIN,
                       _("no domain with matching name '%s'"),
                       domain->name);
        return NULL;
    }

    return vm;
}


static bool
testDomainObjIsActive(testDomainObj *obj)
{
    return obj->id != -1;
}


static virDrvOpenStatus
testConnectOpen(virConnectPtr conn,
                unsigned int flags)
{
    testDriver *privconn;

    virCheckFlags(VIR_CONNECT_RO, VIR_DRV_OPEN_ERROR);

    if (STRNEQ(conn->uri, "test:///default")) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("unknown test driver URI '%s', only "
                         "'test:///default' is supported"), conn->uri);
        return VIR_DRV_OPEN_ERROR;
    }

    if (!(privconn = calloc(1, sizeof(*privconn)))) {
        virReportOOMError();
        return VIR_DRV_OPEN_ERROR;
    }

    memcpy(privconn->domains, testDefaultDomains, sizeof(testDefaultDomains));
    privconn->ndomains = ARRAY_CARDINALITY(testDefaultDomains);

    conn->privateData = privconn;
    return VIR_DRV_OPEN_SUCCESS;
}


static int
testConnectClose(virConnectPtr conn)
{
    free(conn->privateData);
    conn->privateData = NULL;
    return 0;
}


static int
testConnectNumOfDomains(virConnectPtr conn)
{
    testDriver *privconn = conn->privateData;
    size_t i;
    int count = 0;

    for (i = 0; i < privconn->ndomains; i++) {
        if (testDomainObjIsActive(&privconn->domains[i]))
            count++;
    }

    return count;
}


static virDomainPtr
testDomainLookupByName(virConnectPtr conn,
                       const char *name)
{
    testDriver *privconn = conn->privateData;
    testDomainObj *dom;

    if (!(dom = testDomainObjFindByName(privconn, name))) {
        virReportError(VIR_ERR_NO_DOMAIN,
                       _("no domain with matching name '%s'"), name);
        return NULL;
    }

    return virGetDomain(conn, dom->name, dom->id);
}


static int
testDomainSuspend(virDomainPtr domain)
{
    testDomainObj *privdom;

    if (!(privdom = testDomObjFromDomain(domain)))
        return -1;

    if (!testDomainObjIsActive(privdom) ||
        privdom->state == VIR_DOMAIN_PAUSED) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("domain '%s' not running"), privdom->name);
        return -1;
    }

    privdom->state = VIR_DOMAIN_PAUSED;
    return 0;
}


static int
testDomainResume(virDomainPtr domain)
{
    testDomainObj *privdom;

    if (!(privdom = testDomObjFromDomain(domain)))
        return -1;

    if (privdom->state != VIR_DOMAIN_PAUSED) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("domain '%s' not paused"), privdom->name);
        return -1;
    }

    privdom->state = VIR_DOMAIN_RUNNING;
    return 0;
}


static int
testDomainShutdown(virDomainPtr domain)
{
    testDomainObj *privdom;

    if (!(privdom = testDomObjFromDomain(domain)))
        return -1;

    if (!testDomainObjIsActive(privdom)) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("domain '%s' not running"), privdom->name);
        return -1;
    }

    privdom->state = VIR_DOMAIN_SHUTOFF;
    privdom->reason = VIR_DOMAIN_SHUTOFF_SHUTDOWN;
    privdom->id = -1;
    return 0;
}


static int
testDomainGetState(virDomainPtr domain,
                   int *state,
                   int *reason,
                   unsigned int flags)
{
    testDomainObj *privdom;

    virCheckFlags(0, -1);

    if (!(privdom = testDomObjFromDomain(domain)))
        return -1;

    *state = privdom->state;
    if (reason)
        *reason = privdom->reason;

    return 0;
}


static int
testDomainIsActive(virDomainPtr dom)
{
    testDomainObj *obj;

    if (!(obj = testDomObjFromDomain(dom)))
        return -1;

    return testDomainObjIsActive(obj) ? 1 : 0;
}


static virHypervisorDriver testHypervisorDriver = {
    .name = "Test",
    .connectOpen = testConnectOpen, /* 0.1.1 */
    .connectClose = testConnectClose, /* 0.1.1 */
    .connectNumOfDomains = testConnectNumOfDomains, /* 0.1.1 */
    .domainLookupByName = testDomainLookupByName, /* 0.1.1 */
    .domainSuspend = testDomainSuspend, /* 0.1.1 */
    .domainResume = testDomainResume, /* 0.1.1 */
    .domainShutdown = testDomainShutdown, /* 0.1.1 */
    .domainGetState = testDomainGetState, /* 0.9.2 */
    .domainIsActive = testDomainIsActive, /* 0.7.3 */
};

static virConnectDriver testConnectDriver = {
    .remoteOnly = false,
    .uriSchemes = (const char *[]){ "test", NULL },
    .hypervisorDriver = &testHypervisorDriver,
};

/**
 * testRegister:
 *
 * Registers the test driver
 */
int
testRegister(void)
{
    return virRegisterConnectDriver(&testConnectDriver);
}

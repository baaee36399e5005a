/*
 * virsh-domain.c: Commands to manage domain
 *
 * Copyright (C) 2026 The demovirt authors.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "virsh-domain.h"

/*
 * "resume" command
 */
static const vshCmdInfo info_resume = {
    .help = N_("resume a domain"),
    .desc = N_("Resume a previously suspended domain."),
};

static const vshCmdOptDef opts_resume[] = {
    VIRSH_COMMON_OPT_DOMAIN_FULL,
    {.name = NULL}
};

static bool
cmdResume(vshControl *ctl, const vshCmd *cmd)
{
    virDomainPtr dom;
    bool ret = true;
    const char *name;

    if (!(dom = virshCommandOptDomain(ctl, cmd, &name)))
        return false;

    if (virDomainResume(dom) == 0) {
        vshPrint(ctl, _("Domain '%s' resumed\n"), name);
    } else {
        vshError(ctl, _("Failed to resume domain '%s'"), name);
        ret = false;
    }

    virDomainFree(dom);
    return ret;
}

/*
 * "shutdown" command
 */
static const vshCmdInfo info_shutdown = {
    .help = N_("gracefully shutdown a domain"),
    .desc = N_("Run shutdown in the target domain."),
};

static const vshCmdOptDef opts_shutdown[] = {
    VIRSH_COMMON_OPT_DOMAIN_FULL,
    {.name = NULL}
};

static bool
cmdShutdown(vshControl *ctl, const vshCmd *cmd)
{
    virDomainPtr dom;
    bool ret = true;
    const char *name;

    if (!(dom = virshCommandOptDomain(ctl, cmd, &name)))
        return false;

    if (virDomainShutdown(dom) == 0) {
        vshPrint(ctl, _("Domain '%s' is being shutdown\n"), name);
    } else {
        vshError(ctl, _("Failed to shutdown domain '%s'"), name);
        ret = false;
    }

    virDomainFree(dom);
    return ret;
}

/*
 * "suspend" command
 */
static const vshCmdInfo info_suspend = {
    .help = N_("suspend a domain"),
    .desc = N_("Suspend a running domain."),
};

static const vshCmdOptDef opts_suspend[] = {
    VIRSH_COMMON_OPT_DOMAIN_FULL,
    {.name = NULL}
};

static bool
cmdSuspend(vshControl *ctl, const vshCmd *cmd)
{
    virDomainPtr dom;
    bool ret = true;
    const char *name;

    if (!(dom = virshCommandOptDomain(ctl, cmd, &name)))
        return false;

    if (virDomainSuspend(dom) == 0) {
        vshPrint(ctl, _("Domain '%s' suspended\n"), name);
    } else {
        vshError(ctl, _("Failed to suspend domain '%s'"), name);
        ret = false;
    }

    virDomainFree(dom);
    return ret;
}

const vshCmdDef domManagementCmds[] = {
    {.name = "resume",
     .handler = cmdResume,
     .opts = opts_resume,
     .info = &info_resume,
     .flags = 0
    },
    {.name = "shutdown",
     .handler = cmdShutdown,
     .opts = opts_shutdown,
     .info = &info_shutdown,
     .flags = 0
    },
    {.name = "suspend",
     .handler = cmdSuspend,
     .opts = opts_suspend,
     .info = &info_suspend,
     .flags = 0
    },
    {.name = NULL}
};

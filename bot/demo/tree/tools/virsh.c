/*
 * virsh.c: a shell to exercise the demovirt API
 *
 * Usage: virsh [-c URI] [-r] COMMAND [ARGS...]
 *
 * Copyright (C) 2026 The demovirt authors.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <stdarg.h>

#include "virsh.h"
#include "virsh-domain.h"
#include "virsh-domain-monitor.h"

/* The libvirt error that made the command fail, saved before later
 * API calls (virDomainFree, virConnectClose) reset it. */
static char *virshLastError;

static const vshCmdGrp cmdGroups[] = {
    {"Domain Management", "domain", domManagementCmds},
    {"Domain Monitoring", "monitor", domMonitoringCmds},
    {NULL, NULL, NULL}
};


void
vshPrint(vshControl *ctl ATTRIBUTE_UNUSED, const char *format, ...)
{
    va_list ap;

    va_start(ap, format);
    vfprintf(stdout, format, ap);
    va_end(ap);
}


static void
vshSaveLibvirtError(void)
{
    if (virshLastError || !virGetLastError())
        return;
    virshLastError = strdup(virGetLastErrorMessage());
}


void
vshError(vshControl *ctl ATTRIBUTE_UNUSED, const char *format, ...)
{
    va_list ap;

    vshSaveLibvirtError();

    fputs("error: ", stderr);
    va_start(ap, format);
    vfprintf(stderr, format, ap);
    va_end(ap);
    fputc('\n', stderr);
}


static const vshCmdOpt *
vshCommandOpt(const vshCmd *cmd, const char *name)
{
    size_t i;

    for (i = 0; i < cmd->nopts; i++) {
        if (STREQ(cmd->opts[i].def->name, name))
            return &cmd->opts[i];
    }

    return NULL;
}


bool
vshCommandOptBool(const vshCmd *cmd, const char *name)
{
    return vshCommandOpt(cmd, name) != NULL;
}


int
vshCommandOptStringReq(vshControl *ctl,
                       const vshCmd *cmd,
                       const char *name,
                       const char **value)
{
    const vshCmdOpt *opt = vshCommandOpt(cmd, name);

    *value = NULL;
    if (!opt)
        return 0;

    if (!opt->data || !*opt->data) {
        vshError(ctl, _("Missing value for option '--%s'"), name);
        return -1;
    }

    *value = opt->data;
    return 1;
}


virDomainPtr
virshCommandOptDomain(vshControl *ctl,
                      const vshCmd *cmd,
                      const char **name)
{
    virDomainPtr dom;
    const char *n = NULL;

    if (vshCommandOptStringReq(ctl, cmd, "domain", &n) < 0 || !n)
        return NULL;

    if (!(dom = virDomainLookupByName(ctl->conn, n))) {
        vshError(ctl, _("failed to get domain '%s'"), n);
        return NULL;
    }

    if (name)
        *name = n;
    return dom;
}


static const vshCmdDef *
vshCmddefSearch(const char *cmdname)
{
    const vshCmdGrp *g;
    const vshCmdDef *c;

    for (g = cmdGroups; g->name; g++) {
        for (c = g->commands; c->name; c++) {
            if (STREQ(c->name, cmdname))
                return c;
        }
    }

    return NULL;
}


static const vshCmdOptDef *
vshCmddefGetOption(const vshCmdDef *def, const char *name)
{
    const vshCmdOptDef *opt;

    for (opt = def->opts; opt->name; opt++) {
        if (opt->type != VSH_OT_DATA && STREQ(opt->name, name))
            return opt;
    }

    return NULL;
}


static const vshCmdOptDef *
vshCmddefGetData(const vshCmdDef *def, size_t nth)
{
    const vshCmdOptDef *opt;

    for (opt = def->opts; opt->name; opt++) {
        if (opt->type == VSH_OT_DATA && nth-- == 0)
            return opt;
    }

    return NULL;
}


static bool
vshCommandParse(vshControl *ctl, vshCmd *cmd, const char *cmdname,
                int argc, char **argv)
{
    const vshCmdOptDef *opt;
    size_t ndata = 0;
    int i;

    if (!(cmd->def = vshCmddefSearch(cmdname))) {
        vshError(ctl, _("unknown command: '%s'"), cmdname);
        return false;
    }

    for (i = 0; i < argc; i++) {
        const char *data = NULL;

        if (STRPREFIX(argv[i], "--")) {
            if (!(opt = vshCmddefGetOption(cmd->def, argv[i] + 2))) {
                vshError(ctl, _("command '%s' doesn't support option %s"),
                         cmdname, argv[i]);
                return false;
            }
            if (opt->type == VSH_OT_STRING) {
                if (i + 1 >= argc) {
                    vshError(ctl, _("expected syntax: --%s <string>"),
                             opt->name);
                    return false;
                }
                data = argv[++i];
            }
        } else {
            if (!(opt = vshCmddefGetData(cmd->def, ndata++))) {
                vshError(ctl, _("unexpected data '%s'"), argv[i]);
                return false;
            }
            data = argv[i];
        }

        if (cmd->nopts >= VIRSH_MAX_ARGS) {
            vshError(ctl, "%s", _("too many arguments"));
            return false;
        }
        cmd->opts[cmd->nopts].def = opt;
        cmd->opts[cmd->nopts].data = data;
        cmd->nopts++;
    }

    for (opt = cmd->def->opts; opt->name; opt++) {
        if ((opt->flags & VSH_OFLAG_REQ) &&
            !vshCommandOptBool(cmd, opt->name)) {
            vshError(ctl, _("command '%s' requires <%s> option"),
                     cmdname, opt->name);
            return false;
        }
    }

    return true;
}


static void
vshUsage(FILE *out)
{
    const vshCmdGrp *grp;
    const vshCmdDef *cmd;

    fprintf(out, "%s",
            _("\nvirsh [options]... <command> [args...]\n\n"
              "  options:\n"
              "    -c | --connect=URI      hypervisor connection URI\n"
              "    -h | --help             this help\n"
              "    -r | --readonly         connect readonly\n\n"
              "  commands (non interactive mode):\n\n"));

    for (grp = cmdGroups; grp->name; grp++) {
        fprintf(out, _(" %s (help keyword '%s')\n"), grp->name, grp->keyword);
        for (cmd = grp->commands; cmd->name; cmd++)
            fprintf(out, "    %-30s %s\n", cmd->name, _(cmd->info->help));
        fputc('\n', out);
    }
}


int
main(int argc, char **argv)
{
    vshControl _ctl = { 0 };
    vshControl *ctl = &_ctl;
    vshCmd cmd = { 0 };
    bool ok = false;
    int i;

    ctl->connname = getenv("VIRSH_DEFAULT_CONNECT_URI");

    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        if ((STREQ(argv[i], "-c") || STREQ(argv[i], "--connect")) &&
            i + 1 < argc) {
            ctl->connname = argv[++i];
        } else if (STRPREFIX(argv[i], "--connect=")) {
            ctl->connname = argv[i] + strlen("--connect=");
        } else if (STREQ(argv[i], "-r") || STREQ(argv[i], "--readonly")) {
            ctl->readonly = true;
        } else if (STREQ(argv[i], "-h") || STREQ(argv[i], "--help")) {
            vshUsage(stdout);
            return EXIT_SUCCESS;
        } else {
            vshError(ctl, _("unsupported option '%s'. See --help."), argv[i]);
            return EXIT_FAILURE;
        }
    }

    if (i >= argc) {
        vshUsage(stderr);
        return EXIT_FAILURE;
    }

    if (!vshCommandParse(ctl, &cmd, argv[i], argc - i - 1, argv + i + 1))
        return EXIT_FAILURE;

    if (ctl->readonly)
        ctl->conn = virConnectOpenReadOnly(ctl->connname);
    else
        ctl->conn = virConnectOpen(ctl->connname);

    if (!ctl->conn) {
        vshError(ctl, "%s", _("failed to connect to the hypervisor"));
        if (virshLastError)
            vshError(ctl, "%s", virshLastError);
        free(virshLastError);
        return EXIT_FAILURE;
    }

    virResetLastError();
    ok = cmd.def->handler(ctl, &cmd);
    if (!ok) {
        vshSaveLibvirtError();
        if (virshLastError)
            vshError(ctl, "%s", virshLastError);
    }

    virConnectClose(ctl->conn);
    free(virshLastError);
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
